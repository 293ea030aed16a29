"""The `pg-keras` command line: its subcommands and their flags."""

from __future__ import annotations

import argparse

from pg_keras.cli._args import (
    Parser,
    add_spec_flag,
    add_training_flags,
    int_list,
    name_list,
    non_negative_int,
    positive_int,
)
from pg_keras.cli._reproduce import add_reproduce
from pg_keras.config import BaselineConfig, CompareConfig, TrainingConfig, default

__all__ = ["build_parser"]

PROBLEM_HELP = "a registered problem (see `list`) or MODULE:CLASS importable from here"


def build_parser(description: str) -> argparse.ArgumentParser:
    parser = Parser(prog="pg-keras", description=description)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    listing = commands.add_parser("list", help="problems, their gradient schemes and hooks")
    listing.add_argument(
        "problems", nargs="*", metavar="problem", help="problems to list besides the registered"
    )
    _add_train(commands)
    _add_compare(commands)
    _add_solve(commands)
    _add_bench_train(commands)
    _add_export(commands)
    add_reproduce(commands)
    return parser


def _add_train(commands) -> None:
    train = commands.add_parser("train", help="train one network; rerun to resume")
    train.add_argument("problem", help=PROBLEM_HELP)
    train.add_argument("--gradient", required=True, help="gradient scheme (see `list`)")
    train.add_argument("--seed", type=int, default=default(TrainingConfig, "seed"))
    train.add_argument("--logdir", help="run directory (default runs/PROBLEM/GRADIENT-seedS)")
    train.add_argument(
        "--profile", action="store_true", help="write a TensorBoard profile of a few steps"
    )
    add_training_flags(train)


def _add_compare(commands) -> None:
    compare = commands.add_parser("compare", help="several schemes from the same start")
    compare.add_argument("problem", help=PROBLEM_HELP)
    compare.add_argument("--gradients", type=name_list, required=True)
    compare.add_argument("--seeds", type=int_list, default=list(default(CompareConfig, "seeds")))
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
        "--baseline-events",
        type=positive_int,
        default=default(BaselineConfig, "events"),
        help="events the baseline solves",
    )
    compare.add_argument(
        "--baseline-iterations",
        type=positive_int,
        default=default(BaselineConfig, "iterations"),
        help="baseline iteration cap",
    )
    add_training_flags(compare)


def _add_solve(commands) -> None:
    solve = commands.add_parser("solve", help="per-event iterative solver on fresh events")
    solve.add_argument("problem", help=PROBLEM_HELP)
    solve.add_argument("--solver", required=True, help="solver name (see the problem's solvers)")
    solve.add_argument("--events", type=positive_int, default=100, help="fresh events to solve")
    solve.add_argument("--iterations", type=positive_int, default=1000, help="cap per event")
    solve.add_argument("--seed", type=int, default=0, help="seed of the generated events")
    solve.add_argument(
        "--input", help="events to solve instead: .npy of y* [N, ...] or .npz with y_target"
    )
    solve.add_argument("--report", help="JSON report with per-event results")
    add_spec_flag(solve)


def _add_bench_train(commands) -> None:
    bench = commands.add_parser(
        "bench-train", help="ms per training step, with and without data, and its parts"
    )
    bench.add_argument("problem", help=PROBLEM_HELP)
    bench.add_argument(
        "--gradient",
        default="inverse-physics",
        help="rule, or comma-separated rules timed in one process with ratios to the last",
    )
    bench.add_argument("--batch", type=positive_int, help="batch size (default: the paper's)")
    bench.add_argument("--steps", type=positive_int, default=50, help="timed steps per part")
    bench.add_argument("--steps-per-call", type=positive_int, default=5)
    bench.add_argument("--xla", action="store_true", help="XLA-compile the step")
    add_spec_flag(bench)
    bench.add_argument("--report", help="JSON report (default: print only)")
    bench.add_argument("--profile", metavar="DIR", help="write a TensorBoard profile here")
    for kind, what in (("intra", "threads inside one op"), ("inter", "ops run at once")):
        bench.add_argument(
            f"--{kind}-op-threads",
            type=non_negative_int,
            default=0,
            help=f"{what} (default 0: TensorFlow's choice, one per core)",
        )


def _add_export(commands) -> None:
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
        "--batches",
        type=positive_int,
        default=default(TrainingConfig, "calibration_batches"),
        help="fresh batches to average over",
    )
