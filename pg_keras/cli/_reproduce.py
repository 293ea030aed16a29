"""`pg-keras reproduce`: the comparisons, Table 1 and figures of a paper section."""

from __future__ import annotations

import json
import pathlib

from pg_keras.cli._args import int_list

__all__ = ["add_reproduce", "format_summary", "run_reproduce"]


def add_reproduce(commands) -> None:
    from pg_keras.reproduce.experiments import EXPERIMENTS, HORIZONS

    reproduce = commands.add_parser(
        "reproduce", help="one paper section: its comparisons, Table 1, figures and report"
    )
    reproduce.add_argument("experiment", choices=[*EXPERIMENTS, "all"])
    reproduce.add_argument(
        "--horizon",
        choices=HORIZONS,
        default="short",
        help="tiny: seconds, for tests; short: 1000 steps (fluid 300), 3 seeds; long: what "
        "fits 2 cores (hours); paper: the paper's batches and horizons (a GPU)",
    )
    reproduce.add_argument("--seeds", type=int_list, help="replace every comparison's seeds")
    reproduce.add_argument("--logdir", default="runs/reproduce", help="runs go to LOGDIR/EXP/H/")
    reproduce.add_argument("--out", help="report directory (default docs/reports; tiny: LOGDIR)")
    reproduce.add_argument(
        "--img", help="figure directory (default docs/img/paper_EXP_H; tiny: under LOGDIR)"
    )
    reproduce.add_argument(
        "--dry-run", action="store_true", help="print the runs and what is done; train nothing"
    )


def _directories(args, name: str) -> tuple[pathlib.Path, pathlib.Path]:
    logdir = pathlib.Path(args.logdir)
    tiny = args.horizon == "tiny"
    out = pathlib.Path(args.out or (logdir if tiny else "docs/reports"))
    img = pathlib.Path(args.img or (logdir / "img" if tiny else "docs/img"))
    return out, img / f"paper_{name}_{args.horizon}"


def format_summary(report: dict) -> list[str]:
    """The lines printed for a finished experiment: checkpoints, steps to reach, Table 1."""
    lines = []
    for name, comparison in report["comparisons"].items():
        points = comparison["paper_points"]
        lines.append(f"{report['experiment']}/{name}: x_mae, median [min, max] over seeds")
        for step, row in points["checkpoints"].items():
            cells = "; ".join(
                f"{scheme} {c['median']:.4g} [{c['min']:.4g}, {c['max']:.4g}]"
                + (f" ({c['reference_over_this']:.3g}x)" if c.get("reference_over_this") else "")
                for scheme, c in row.items()
            )
            lines.append(f"  step {step}: {cells}")
        reach = points.get("steps_to_reach_reference_final")
        if reach:
            cells = ", ".join(f"{k} {v}" for k, v in reach.items() if k != "level")
            lines.append(
                f"  steps to reach {points['reference']}'s final {reach['level']:.4g}: {cells}"
            )
        other = points.get("steps_to_reach_other")
        if other:
            cells = ", ".join(
                f"{k} {v}" for k, v in other.items() if k not in ("comparison", "scheme", "level")
            )
            lines.append(
                f"  steps to reach {other['comparison']}'s {other['scheme']} final "
                f"{other['level']:.4g}: {cells}"
            )
    table = report.get("solver_table")
    if table:
        network = table["network"]
        lines.append(
            f"Table 1 ({table['events']} events): network x_mae {network['x_mae']:.4g}, "
            f"{1e3 * network['batched_time_per_event_s']:.3g} ms/event batched, "
            f"{1e3 * network['single_time_per_event_s']:.3g} ms one at a time"
        )
        for name, row in table["solvers"].items():
            if row["iterations_to_reach"] is None:
                at_cap = row["batched_time_per_event_at_cap_s"]
                lines.append(
                    f"  {name}: not reached in {row['iterations_cap']} iterations "
                    f"(x_mae {row['x_mae_at_cap']:.4g}; > {at_cap:.3g} s/event batched)"
                )
                continue
            ratio = row["ratio_to_network"]
            lines.append(
                f"  {name}: {row['iterations_to_reach']} iterations, "
                f"{row['batched_time_per_event_s']:.3g} s/event batched "
                f"({ratio['batched']:.3g}x the network), {row['single_time_per_event_s']:.3g} "
                f"s one at a time ({ratio['single']:.3g}x)"
            )
    return lines


def run_reproduce(args) -> int:
    import tensorflow as tf

    from pg_keras.reproduce import EXPERIMENTS, plan, reproduce
    from pg_keras.reproduce.progress import Progress, steps_done

    # Per-event solvers trace a tf.function per call by design; TF's warning about
    # retracing would drown the progress lines.
    tf.get_logger().setLevel("ERROR")

    names = list(EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    chosen = [EXPERIMENTS[name] for name in names]
    logdir = pathlib.Path(args.logdir)
    runs = [run for e in chosen for run in plan(e, args.horizon, args.seeds, logdir)]
    if args.dry_run:
        for run in runs:
            print(f"{run.label}: {steps_done(run.run_dir)}/{run.steps} steps in {run.run_dir}")
        print(f"{len(runs)} runs; reports in {_directories(args, names[0])[0]}")
        return 0
    progress = Progress(runs)
    command = f"pg-keras reproduce {args.experiment} --horizon {args.horizon}"
    if args.seeds:
        command += f" --seeds {','.join(str(s) for s in args.seeds)}"
    for experiment in chosen:
        out, img = _directories(args, experiment.name)
        path = reproduce(experiment, args.horizon, args.seeds, logdir, out, img, progress, command)
        for line in format_summary(json.loads(path.read_text())):
            print(line)
        print(f"Report: {path}  Figures: {img}")
    return 0
