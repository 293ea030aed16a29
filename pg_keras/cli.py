"""`pg-keras`: list problems and rules, train, compare, solve per event.

Every user error (unknown problem or rule, a non-positive number, an unwritable
log directory) is one line on stderr naming what was received and what is
allowed, with exit code 2 and no traceback. `query` keeps the serving client's
codes: 1 when the server answers with an error, 2 for bad input.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pg_keras.training.run import NonFiniteTrainingError  # noqa: E402


class UsageError(Exception):
    """Bad command-line input; reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= {least}, received {text!r}"
        ) from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {least}, received {value}")
    return value


def _positive_int(text: str) -> int:
    return _whole_number(text, 1)


def _non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, received {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, received {value}")
    return value


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers, received {text!r}"
        ) from None


def _name_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, received {text!r}")
    return names


def _spec_item(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, received {text!r}")
    return key.strip(), value.strip()


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=_positive_int, default=1000, help="training steps")
    parser.add_argument("--batch", type=_positive_int, help="batch size (default: the paper's)")
    parser.add_argument("--lr", type=_positive_float, help="learning rate (default: the paper's)")
    parser.add_argument(
        "--log-every", type=_positive_int, help="steps per logged point and per compiled call"
    )
    parser.add_argument(
        "--spec",
        type=_spec_item,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field of the problem spec (repeatable), e.g. physics_dtype=float64",
    )
    parser.add_argument(
        "--strategy",
        choices=("default", "mirrored", "multi-worker"),
        default="default",
        help="tf.distribute strategy: one device, all local devices, or TF_CONFIG's hosts",
    )
    parser.add_argument(
        "--checkpoint-every", type=_positive_int, default=1000, help="steps between checkpoints"
    )
    parser.add_argument(
        "--max-skipped-steps",
        type=_positive_int,
        default=10,
        help="stop after this many non-finite (NaN/Inf) steps in a row",
    )
    parser.add_argument(
        "--calibration-batches",
        type=_non_negative_int,
        default=50,
        help="batches on which batch norm's inference statistics are recomputed after "
        "training (0: keep Keras's moving average)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pg-keras", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    commands.add_parser("list", help="problems and their gradient schemes")

    train = commands.add_parser("train", help="train one network; rerun to resume")
    train.add_argument("problem")
    train.add_argument("--gradient", required=True, help="gradient scheme (see `list`)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--logdir", help="run directory (default runs/PROBLEM/GRADIENT-seedS)")
    train.add_argument(
        "--profile", action="store_true", help="write a TensorBoard profile of a few steps"
    )
    _add_training_flags(train)

    compare = commands.add_parser("compare", help="several schemes from the same start")
    compare.add_argument("problem")
    compare.add_argument("--gradients", type=_name_list, required=True)
    compare.add_argument("--seeds", type=_int_list, default=[0])
    compare.add_argument("--logdir", help="default runs/compare-PROBLEM")
    compare.add_argument("--report", default=None, help="JSON report (default LOGDIR/report.json)")
    compare.add_argument(
        "--plot", default=None, help="PNG of the curves (default LOGDIR/curves.png)"
    )
    compare.add_argument(
        "--baseline",
        help="a per-event solver (see `solve`), e.g. scipy-lbfgsb: its error as reference lines",
    )
    compare.add_argument(
        "--baseline-events", type=_positive_int, default=1000, help="events the baseline solves"
    )
    compare.add_argument(
        "--baseline-iterations", type=_positive_int, default=1000, help="baseline iteration cap"
    )
    _add_training_flags(compare)

    solve = commands.add_parser("solve", help="per-event iterative solver on fresh events")
    solve.add_argument("problem")
    solve.add_argument("--solver", required=True, help="solver name (see the problem's solvers)")
    solve.add_argument("--events", type=_positive_int, default=100, help="fresh events to solve")
    solve.add_argument("--iterations", type=_positive_int, default=1000, help="cap per event")
    solve.add_argument("--seed", type=int, default=0, help="seed of the generated events")
    solve.add_argument(
        "--input", help="events to solve instead: .npy of y* [N, ...] or .npz with y_target"
    )
    solve.add_argument("--report", help="JSON report with per-event results")
    solve.add_argument("--spec", type=_spec_item, action="append", default=[], metavar="KEY=VALUE")

    # Listed for --help; its own flags are parsed by serving.bench (see `main`).
    commands.add_parser(
        "bench-serving",
        help="model-server latency (in process, gRPC, REST) and throughput; see its --help",
        add_help=False,
    )

    bench = commands.add_parser(
        "bench-train", help="ms per training step, with and without data, and its parts"
    )
    bench.add_argument("problem")
    bench.add_argument(
        "--gradient",
        default="inverse-physics",
        help="rule, or comma-separated rules timed in one process with ratios to the last",
    )
    bench.add_argument("--batch", type=_positive_int, help="batch size (default: the paper's)")
    bench.add_argument("--steps", type=_positive_int, default=50, help="timed steps per part")
    bench.add_argument("--steps-per-call", type=_positive_int, default=5)
    bench.add_argument("--xla", action="store_true", help="XLA-compile the step")
    bench.add_argument("--spec", type=_spec_item, action="append", default=[], metavar="KEY=VALUE")
    bench.add_argument("--report", help="JSON report (default: print only)")
    bench.add_argument("--profile", metavar="DIR", help="write a TensorBoard profile here")
    bench.add_argument(
        "--intra-op-threads",
        type=_non_negative_int,
        default=0,
        help="threads inside one op (default 0: TensorFlow's choice, one per core)",
    )
    bench.add_argument(
        "--inter-op-threads",
        type=_non_negative_int,
        default=0,
        help="ops run at once (default 0: TensorFlow's choice, one per core)",
    )

    export = commands.add_parser(
        "export", help="a run's latest checkpoint as the next TF Serving version"
    )
    export.add_argument("run_dir", help="run directory written by `train`")
    export.add_argument("--name", required=True, help="model name (letters, digits, _ . -)")
    export.add_argument(
        "--base-path", default="saved_models", help="model base paths live here (BASE/NAME/<v>)"
    )

    calibrate = commands.add_parser(
        "calibrate", help="recompute batch norm's inference statistics in a run's checkpoint"
    )
    calibrate.add_argument("run_dir", help="run directory written by `train`")
    calibrate.add_argument(
        "--batches", type=_positive_int, default=50, help="fresh batches to average over"
    )

    from serving.client import add_query_arguments

    query = commands.add_parser("query", help="send events to a TF Serving (compatible) server")
    add_query_arguments(query)
    return parser


def _export(args) -> int:
    from pg_keras.export import check_model_name, export_run

    check_model_name(args.name)
    run_dir = pathlib.Path(args.run_dir)
    if not run_dir.is_dir():
        raise UsageError(
            f"pg-keras export: run directory {args.run_dir!r} does not exist; "
            "expected a directory written by `pg-keras train`"
        )
    version_dir = export_run(run_dir, args.name, args.base_path)
    print(f"Exported {run_dir} as {args.name} version {version_dir.name}: {version_dir}")
    print(
        f"Serve: python -m serving --model_name={args.name} "
        f"--model_base_path={version_dir.parent.resolve()}"
    )
    return 0


def _calibrate(args) -> int:
    from pg_keras.training.run import calibrate_run, evaluate_run

    run_dir = pathlib.Path(args.run_dir)
    if not run_dir.is_dir():
        raise UsageError(
            f"pg-keras calibrate: run directory {args.run_dir!r} does not exist; "
            "expected a directory written by `pg-keras train`"
        )
    before = evaluate_run(run_dir)
    used = calibrate_run(run_dir, args.batches)
    if not used:
        print(f"{run_dir}: the network has no batch norm; checkpoint unchanged")
        return 0
    after = evaluate_run(run_dir)
    print(
        f"{run_dir}: batch-norm statistics recomputed on {used} batches; in inference mode "
        f"x_mae {before['x_mae']:.4g} -> {after['x_mae']:.4g}, "
        f"y_loss {before['y_loss']:.4g} -> {after['y_loss']:.4g}"
    )
    return 0


def _query(args) -> int:
    from serving.client import run_query_command

    return run_query_command(args)


def _bench_train(args) -> int:
    from pg_keras.benchmarks.train_speed import bench_rules, format_report, write

    spec = dict(args.spec)
    gradients = _name_list(args.gradient)
    _check_names(args.problem, gradients, spec)
    from serving import tf_runtime

    # Only before TensorFlow's runtime starts, which in a fresh `pg-keras` process no
    # command has done yet.
    try:
        tf_runtime.configure(intra_op=args.intra_op_threads, inter_op=args.inter_op_threads)
    except RuntimeError as error:
        raise UsageError(
            "--intra-op-threads/--inter-op-threads need a process where TensorFlow has not "
            f"run yet ({error})"
        ) from None
    reports = bench_rules(
        args.problem,
        gradients,
        batch_size=args.batch,
        steps=args.steps,
        steps_per_call=args.steps_per_call,
        spec=spec,
        jit_compile=args.xla,
        profile_dir=args.profile,
    )
    for report in reports:
        print(format_report(report) + "\n")
    for report in reports[:-1]:
        ratios = report["ratio_to"]
        print(
            f"{report['gradient']} step / {ratios['gradient']} step: "
            f"{ratios['with_data']:.2f}x with data, {ratios['without_data']:.2f}x without "
            "(timed in turns)"
        )
    if args.report:
        write(reports[0] if len(reports) == 1 else {"runs": reports}, args.report)
        print(f"Report: {args.report}")
    if args.profile:
        print(f"Profile: tensorboard --logdir {args.profile}  (Profile tab)")
    return 0


def _list() -> int:
    from pg_keras.problems import PROBLEMS

    for name, problem_class in sorted(PROBLEMS.items()):
        problem = problem_class()
        print(f"{name}: {(problem_class.__doc__ or '').strip().splitlines()[0]}")
        for scheme_name, make in sorted(problem.schemes().items()):
            print(f"  --gradient {scheme_name:<18} {make().description}")
    return 0


def _train(args) -> int:
    from pg_keras.config import TrainingConfig
    from pg_keras.training.run import train

    config = TrainingConfig(
        problem=args.problem,
        gradient=args.gradient,
        steps=args.steps,
        batch_size=args.batch,
        learning_rate=args.lr,
        seed=args.seed,
        log_every=args.log_every or 10,
        checkpoint_every=args.checkpoint_every,
        spec=dict(args.spec),
        strategy=args.strategy,
        max_skipped_steps=args.max_skipped_steps,
        calibration_batches=args.calibration_batches,
    )
    _check_names(args.problem, [args.gradient], config.spec)
    run_dir = pathlib.Path(args.logdir or f"runs/{args.problem}/{args.gradient}-seed{args.seed}")
    result = train(config, run_dir, verbose=0 if args.quiet else 1, profile=args.profile)
    final = result.final
    print(
        f"{args.problem}/{args.gradient}: step {result.points[-1]['step']}, "
        f"y_loss {final['y_loss']:.3e}, x_mae {final['x_mae']:.3e}, "
        f"{result.median_step_time_ms:.2f} ms/step"
    )
    print(f"Logs and checkpoints: {run_dir}   (view: tensorboard --logdir {run_dir})")
    return 0


def _compare(args) -> int:
    from pg_keras.plotting import plot_learning_curves
    from pg_keras.training.compare import compare, write_report

    spec = dict(args.spec)
    _check_names(args.problem, args.gradients, spec)
    if not args.seeds:
        raise UsageError("pg-keras compare: --seeds: expected at least one seed, received none")
    logdir = pathlib.Path(args.logdir or f"runs/compare-{args.problem}")
    report = compare(
        args.problem,
        args.gradients,
        args.steps,
        args.seeds,
        logdir,
        batch_size=args.batch,
        learning_rate=args.lr,
        log_every=args.log_every,
        verbose=0 if args.quiet else 1,
        spec=spec,
        strategy=args.strategy,
        max_skipped_steps=args.max_skipped_steps,
        calibration_batches=args.calibration_batches,
        baseline=args.baseline,
        baseline_events=args.baseline_events,
        baseline_iterations=args.baseline_iterations,
    )
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
        _print_baseline(report["baseline"])
    return 0


def _print_baseline(section: dict) -> None:
    summary = section["summary"]
    metrics = [k for k in ("x_mae", "xi0_mae", "amp_mae", "y_loss") if summary.get(k) is not None]
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


def _load_events(path: str) -> dict:
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


def _solve(args) -> int:
    import json

    from pg_keras.problems import get_problem
    from pg_keras.solving import find_solver, solve, solve_fresh

    problem = get_problem(args.problem, dict(args.spec))
    find_solver(problem, args.solver)  # fails now, naming the solvers there are
    if args.input:
        batch = _load_events(args.input)
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


def _check_names(problem_name: str, gradients: Sequence[str], spec: dict) -> None:
    """Validates names before TensorFlow work starts, so mistakes fail in a second."""
    from pg_keras.problems import get_problem

    problem = get_problem(problem_name, spec)
    for name in gradients:
        problem.scheme(name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench-serving"]:
        from serving.bench import main as bench_serving_main

        return bench_serving_main(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "list":
            return _list()
        handlers = {
            "train": _train,
            "compare": _compare,
            "bench-train": _bench_train,
            "solve": _solve,
            "export": _export,
            "calibrate": _calibrate,
            "query": _query,
        }
        return handlers[args.command](args)
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"pg-keras: error: {error}", file=sys.stderr)
        return 2
    except NonFiniteTrainingError as error:
        print(f"pg-keras: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
