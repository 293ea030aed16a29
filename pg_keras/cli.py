"""`pg-keras`: list problems and rules, train, compare.

Every user error (unknown problem or rule, a non-positive number, an unwritable
log directory) is one line on stderr naming what was received and what is
allowed, with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class UsageError(Exception):
    """Bad command-line input; reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number > 0, received {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, received {value}")
    return value


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
    _add_training_flags(compare)
    return parser


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
        spec=dict(args.spec),
    )
    _check_names(args.problem, [args.gradient], config.spec)
    run_dir = pathlib.Path(args.logdir or f"runs/{args.problem}/{args.gradient}-seed{args.seed}")
    result = train(config, run_dir, verbose=0 if args.quiet else 1)
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
    return 0


def _check_names(problem_name: str, gradients: Sequence[str], spec: dict) -> None:
    """Validates names before TensorFlow work starts, so mistakes fail in a second."""
    from pg_keras.problems import get_problem

    problem = get_problem(problem_name, spec)
    for name in gradients:
        problem.scheme(name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        handlers = {"list": lambda: _list(), "train": lambda: _train(args)}
        handlers["compare"] = lambda: _compare(args)
        return handlers[args.command]()
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"pg-keras: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
