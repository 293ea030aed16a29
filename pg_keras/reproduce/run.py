"""`reproduce(experiment, horizon)`: the comparisons, Table 1 and figures of one paper section.

Writes `OUT/paper_<experiment>_<horizon>.json`:

    {"experiment", "problem", "section", "horizon", "command", "machine", "paper",
     "comparisons": {name: {<the compare report>, "paper_points": {...}}},
     "solver_table": {...} (heat, Poisson, fluid), "figures": [...], "figures_skipped": [...]}

Each comparison is one `pg_keras.training.compare.compare` in `LOGDIR/<name>/` (its
report also at `LOGDIR/<name>/report.json`, where the figure scripts read it), so a
killed command resumes every run from its checkpoints when rerun.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import time

from pg_keras.reproduce.experiments import Experiment
from pg_keras.reproduce.figures import draw_figures, plot_solver_curves
from pg_keras.reproduce.paper_points import paper_points
from pg_keras.reproduce.progress import PlannedRun, Progress
from pg_keras.reproduce.solver_table import solver_table

__all__ = ["add_steps_to_reach", "comparison_dirs", "machine", "plan", "reproduce"]


def comparison_dirs(experiment: Experiment, horizon: str, logdir: pathlib.Path) -> dict:
    """`{comparison name: its log directory}` for the comparisons run at `horizon`."""
    root = pathlib.Path(logdir) / experiment.name / horizon
    return {c.name: root / c.name for c in experiment.runs(horizon)}


def plan(experiment: Experiment, horizon: str, seeds, logdir: pathlib.Path) -> list[PlannedRun]:
    """Every training run of `experiment` at `horizon`, in the order compare runs them."""
    dirs = comparison_dirs(experiment, horizon, logdir)
    runs = []
    for comparison in experiment.runs(horizon):
        config = comparison.config(experiment.problem, horizon, seeds, experiment.tiny_spec)
        for seed in config.seeds:
            for gradient in config.gradients:
                label = f"{experiment.name}/{comparison.name} {gradient} seed {seed}"
                run_dir = dirs[comparison.name] / gradient / f"seed{seed}"
                runs.append(PlannedRun(label, run_dir, config.steps))
    return runs


def machine() -> dict:
    """Where the numbers were measured: times depend on it and on the load."""
    import tensorflow as tf

    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "load_average_1min": os.getloadavg()[0],
    }


def _table(experiment, horizon, config, comparison_dir: pathlib.Path, img_dir: pathlib.Path):
    from pg_keras.problems import get_problem
    from pg_keras.training.checkpoints import restore_network

    spec = experiment.table.at(horizon)
    problem = get_problem(experiment.problem, config.spec)
    seed = config.seeds[0]
    run_dir = comparison_dir / spec.scheme / f"seed{seed}"
    network, checkpoint = restore_network(problem, run_dir)
    table = solver_table(problem, network, spec, seed, checkpoint)
    path = img_dir / "solvers.png"
    plot_solver_curves(table, f"{experiment.name}: per-event solvers, {spec.events} events", path)
    return table, path


def add_steps_to_reach(experiment: Experiment, horizon: str, comparisons: dict) -> None:
    """Adds `paper_points.steps_to_reach_other` to each comparison that `reaches` another:
    the steps its schemes need for the other's reference final error (median over seeds)."""
    from pg_keras.training.compare import steps_to_reach

    for comparison in experiment.runs(horizon):
        other = comparisons.get(comparison.reaches)
        if other is None or experiment.reference not in other["results"]:
            continue
        level = other["results"][experiment.reference]["final"]["x_mae"]
        comparisons[comparison.name]["paper_points"]["steps_to_reach_other"] = {
            "comparison": comparison.reaches,
            "scheme": experiment.reference,
            "level": level,
            **steps_to_reach(comparisons[comparison.name], level),
        }


def reproduce(
    experiment: Experiment,
    horizon: str,
    seeds,
    logdir: pathlib.Path,
    out_dir: pathlib.Path,
    img_dir: pathlib.Path,
    progress: Progress,
    command: str,
) -> pathlib.Path:
    """Runs `experiment` at `horizon` and writes its paper report; returns the report's path."""
    from pg_keras.training.compare import compare, write_report
    from pg_keras.training.run import train

    began, started = time.monotonic(), datetime.datetime.now(datetime.UTC)
    dirs = comparison_dirs(experiment, horizon, logdir)
    report: dict = {
        "experiment": experiment.name,
        "problem": experiment.problem,
        "section": experiment.section,
        "horizon": horizon,
        "command": command,
        "machine": machine(),
        "started_utc": started.isoformat(timespec="seconds"),
        "paper": dict(experiment.paper),
        "comparisons": {},
    }
    configs = {}
    for comparison in experiment.runs(horizon):
        config = comparison.config(experiment.problem, horizon, seeds, experiment.tiny_spec)
        configs[comparison.name] = config
        result = compare(config, dirs[comparison.name], 0, progress.wrap(train))
        write_report(result, dirs[comparison.name] / "report.json")
        points = paper_points(result, experiment.checkpoints, experiment.reference)
        report["comparisons"][comparison.name] = {**result, "paper_points": points}
    add_steps_to_reach(experiment, horizon, report["comparisons"])
    img_dir.mkdir(parents=True, exist_ok=True)
    figures, skipped = draw_figures(experiment, report["comparisons"], dirs, img_dir)
    if experiment.table is not None:
        name = experiment.runs(horizon)[0].name
        report["solver_table"], path = _table(
            experiment, horizon, configs[name], dirs[name], img_dir
        )
        figures.append(path)
    report["figures"] = [str(path) for path in figures]
    report["figures_skipped"] = skipped
    report["machine"]["load_average_1min_at_end"] = os.getloadavg()[0]
    report["wall_time_s"] = time.monotonic() - began
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"paper_{experiment.name}_{horizon}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    return path
