"""`pg-keras list`, `train` and `compare`."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

from pg_keras.cli._args import UsageError, path_name
from pg_keras.config import BaselineConfig, CompareConfig, TrainingConfig, default

__all__ = ["check_names", "list_problems", "run_compare", "run_train"]


def check_names(problem_name: str, gradients: Sequence[str], spec: dict):
    """The problem, once its name, spec and schemes are valid: mistakes fail in a second,
    before TensorFlow work starts."""
    from pg_keras.problems import get_problem

    problem = get_problem(problem_name, spec)
    for name in gradients:
        problem.scheme(name)
    return problem


def list_problems(args) -> int:
    """Each problem's first doc line, its schemes, and the optional hooks it has: the
    built-in and entry-point problems, and those named on the command line."""
    from pg_keras.problems import OPTIONAL_HOOKS, get_problem, registered_names

    registered = sorted(registered_names())
    names = [*registered, *(p for p in args.problems if p not in registered)]
    for name in names:
        try:
            problem = get_problem(name)
        except ValueError as error:  # an entry point that does not load: say so, go on
            print(f"{name}: {error}")
            continue
        print(f"{name}: {(type(problem).__doc__ or '').strip().splitlines()[0]}")
        for scheme_name, make in sorted(problem.schemes().items()):
            print(f"  --gradient {scheme_name:<18} {make().description}")
        solvers = ", ".join(sorted(problem.solvers())) or "none (no initial_guess)"
        print(f"  solvers: {solvers}")
        hooks = [hook for hook in OPTIONAL_HOOKS if problem.has(hook)]
        print(f"  optional hooks: {', '.join(hooks) or 'none'}")
    return 0


def run_train(args) -> int:
    from pg_keras.training.run import train

    config = TrainingConfig(
        problem=args.problem,
        gradient=args.gradient,
        steps=args.steps,
        batch_size=args.batch,
        learning_rate=args.lr,
        lr_schedule=args.lr_schedule,
        optimizer=args.optimizer,
        seed=args.seed,
        log_every=args.log_every or default(TrainingConfig, "log_every"),
        checkpoint_every=args.checkpoint_every,
        spec=dict(args.spec),
        strategy=args.strategy,
        max_skipped_steps=args.max_skipped_steps,
        calibration_batches=args.calibration_batches,
    )
    check_names(args.problem, [args.gradient], config.spec)
    default_dir = f"runs/{path_name(args.problem)}/{args.gradient}-seed{args.seed}"
    run_dir = pathlib.Path(args.logdir or default_dir)
    result = train(config, run_dir, verbose=0 if args.quiet else 1, profile=args.profile)
    final = result.final
    print(
        f"{args.problem}/{args.gradient}: step {result.points[-1]['step']}, "
        f"y_loss {final['y_loss']:.3e}, x_mae {final['x_mae']:.3e}, "
        f"{result.median_step_time_ms:.2f} ms/step"
    )
    print(f"Logs and checkpoints: {run_dir}   (view: tensorboard --logdir {run_dir})")
    return 0


def run_compare(args) -> int:
    from pg_keras.plotting import plot_learning_curves
    from pg_keras.training.compare import compare, write_report

    if not args.seeds:
        raise UsageError("pg-keras compare: --seeds: expected at least one seed, received none")
    problem = check_names(args.problem, args.gradients, dict(args.spec))
    baseline = None
    if args.baseline:
        baseline = BaselineConfig(args.baseline, args.baseline_events, args.baseline_iterations)
    config = CompareConfig(
        problem=args.problem,
        gradients=args.gradients,
        steps=args.steps,
        seeds=args.seeds,
        batch_size=args.batch,
        learning_rate=args.lr,
        lr_schedule=args.lr_schedule,
        optimizer=args.optimizer,
        log_every=args.log_every,
        spec=dict(args.spec),
        strategy=args.strategy,
        max_skipped_steps=args.max_skipped_steps,
        calibration_batches=args.calibration_batches,
        baseline=baseline,
    )
    logdir = pathlib.Path(args.logdir or f"runs/compare-{path_name(args.problem)}")
    report = compare(config, logdir, verbose=0 if args.quiet else 1)
    report_path = pathlib.Path(args.report or logdir / "report.json")
    plot_path = pathlib.Path(args.plot or logdir / "curves.png")
    write_report(report, report_path)
    plot_learning_curves(report, plot_path)
    print(f"{'scheme':<18} {'y_loss':>11} {'x_mae':>11} {'ms/step':>8}   (medians over seeds)")
    for name, result in report["results"].items():
        final = result["final"]
        print(
            f"{name:<18} {final['y_loss']:>11.3e} {final['x_mae']:>11.3e} "
            f"{result['step_time_ms']['median']:>8.2f}"
        )
    print(f"Report: {report_path}  Curves: {plot_path}")
    print(f"TensorBoard: tensorboard --logdir {logdir}")
    if "baseline" in report:
        _print_baseline(report["baseline"], ["x_mae", *problem.extra_metric_names, "y_loss"])
    return 0


def _print_baseline(section: dict, metrics: list[str]) -> None:
    summary = section["summary"]
    metrics = [k for k in metrics if summary.get(k) is not None]
    cells = ", ".join(f"{k} {summary[k]:.3g}" for k in metrics)
    print(
        f"Baseline {section['solver']} on {summary['events']} events: {cells}; "
        f"status {summary['status']}"
    )
    for group, values in section.get("groups", {}).items():
        cells = ", ".join(f"{k} {values[k]:.3g}" for k in metrics if values.get(k) is not None)
        print(f"  {group} ({values['events']} events): {cells}")
    for scheme, crossings in section.get("crossing_step", {}).items():
        cells = ", ".join(
            f"{metric} below at step {c['first']} (stays from {c['stays_below_from']})"
            for metric, c in crossings.items()
        )
        print(f"  {scheme}: {cells}")
