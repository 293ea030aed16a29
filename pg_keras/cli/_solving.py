"""`pg-keras solve`: a per-event solver on fresh events or on events from a file."""

from __future__ import annotations

import pathlib

from pg_keras.cli._args import UsageError

__all__ = ["load_events", "run_solve"]


def load_events(path: str) -> dict:
    import numpy as np

    from pg_keras.batch import X_TARGET, Y_TARGET

    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UsageError(
            f"pg-keras solve: --input: cannot read {path!r} ({error}); "
            "expected a .npy array of events or a .npz with y_target"
        ) from None
    if isinstance(data, np.ndarray):
        return {Y_TARGET: data}
    if Y_TARGET not in data.files:
        raise UsageError(
            f"pg-keras solve: --input: {path!r} holds {sorted(data.files)}; expected y_target"
        )
    batch = {Y_TARGET: data[Y_TARGET]}
    if X_TARGET in data.files:
        batch[X_TARGET] = data[X_TARGET]
    return batch


def run_solve(args) -> int:
    import json

    from pg_keras.problems import get_problem
    from pg_keras.solving import find_solver, solve, solve_fresh

    problem = get_problem(args.problem, dict(args.spec))
    find_solver(problem, args.solver)  # fails now, naming the solvers there are
    if args.input:
        batch = load_events(args.input)
        result = solve(problem, args.solver, batch, args.iterations)
    else:
        result = solve_fresh(problem, args.solver, args.events, args.iterations, args.seed)
    report = {"seed": None if args.input else args.seed, **result.report()}
    summary = report["summary"]
    print(
        f"{args.problem}/{args.solver}: {summary['events']} events, status {summary['status']}, "
        f"{summary.get('farther_than_start', '?')} "
        f"ended farther from x* than they started"
    )
    for group, values in [("all", summary), *report["groups"].items()]:
        cells = ", ".join(
            f"{k} {values[k]:.4g}"
            for k in ("x_mae", *problem.extra_metric_names, "y_loss")
            if values.get(k) is not None
        )
        print(f"  {group:<5} ({values['events']} events): {cells}")
    print(
        f"  iterations (median) {summary['iterations_median']:g}, wall time "
        f"{summary['wall_time_s']['total']:.2f} s "
        f"({1000 * summary['wall_time_s']['per_event_median']:.2f} ms per event)"
    )
    if args.report:
        path = pathlib.Path(args.report)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1) + "\n")
        print(f"Report: {path}")
    return 0
