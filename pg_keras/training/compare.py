"""Train several gradient schemes from the same initial weights and data; report and plot.

The report has one shape for every problem and benchmark:

    {"problem": ..., "steps": ..., "batch": ..., "seeds": [...],
     "results": {rule: {"final": {"y_loss", "x_mae"},          # medians over seeds
                        "runs": [{"seed", "final", "inference": {"y_loss", "x_mae", extras},
                                  "curve_columns": ["step", "y_loss", "x_mae"],
                                  "curve": [[step, y_loss, x_mae], ...]}],
                        "step_time_ms": {"median": ...}}}}

A `spec`, a `learning_rate`, an `lr_schedule` and an `optimizer` other than the
paper's are recorded when given. Problems with `extra_metric_names` add per run
`"extra_curves": {name: [[step, v]]}` and per scheme `"extra_final"`; a baseline
adds a `"baseline"` section. Curves are read by name (`pg_keras.training.curves.curve`).
"""

from __future__ import annotations

import json
import pathlib
import statistics

from pg_keras.config import CompareConfig
from pg_keras.problems import Problem, get_problem
from pg_keras.solving import find_solver, solve_fresh
from pg_keras.training.checkpoints import evaluate_run
from pg_keras.training.curves import curve, curve_rows
from pg_keras.training.run import build_model, resolve, train

__all__ = ["baseline_section", "compare", "steps_to_match", "steps_to_reach", "write_report"]


def compare(
    config: CompareConfig, logdir: str | pathlib.Path, verbose: int = 1, train_run=train
) -> dict:
    """Runs every scheme for every seed and returns the report.

    For a given seed all schemes start from the same weights (built once,
    then copied) and see the same batches (the data seed is the run seed).
    Runs go to `logdir/<scheme>/seed<seed>/`, so TensorBoard shows one run per
    scheme and seed; an interrupted comparison resumes each run.

    `train_run` trains one run (`train`'s signature); `pg-keras reproduce` passes one
    that also prints its progress. With `config.baseline` the report gains a "baseline"
    section: that solver's errors on fresh events and the step at which each scheme
    overtakes it.
    """
    problem = get_problem(config.problem, config.spec)
    for name in config.gradients:
        problem.scheme(name)  # fails early, naming the allowed schemes
    if config.baseline is not None:
        find_solver(problem, config.baseline.solver)  # fails early, naming the solvers
    logdir = pathlib.Path(logdir)
    results: dict = {name: {"runs": [], "times": []} for name in config.gradients}
    resolved_batch = None
    for seed in config.seeds:
        initial_weights = None
        for name in config.gradients:
            run_config = resolve(config.run(name, seed), problem)
            resolved_batch = run_config.batch_size
            if initial_weights is None:
                initial_weights = build_model(problem, run_config).network.get_weights()
            if verbose:
                print(f"[{config.problem}] {name}, seed {seed}: {config.steps} steps")
            run = train_run(run_config, logdir / name / f"seed{seed}", verbose, initial_weights)
            results[name]["runs"].append(
                {
                    "seed": seed,
                    "final": run.final,
                    "inference": evaluate_run(run.run_dir),
                    **curve_rows(run.points),
                    **_extra_curves(problem, run.points),
                }
            )
            results[name]["times"].extend(run.step_times_ms or [run.median_step_time_ms])
    report = {
        "problem": config.problem,
        "steps": config.steps,
        "batch": resolved_batch,
        "seeds": list(config.seeds),
        **({"spec": dict(config.spec)} if config.spec else {}),
        **({"learning_rate": config.learning_rate} if config.learning_rate else {}),
        **({"lr_schedule": config.lr_schedule} if config.lr_schedule != "constant" else {}),
        **({"optimizer": config.optimizer} if config.optimizer else {}),
        "results": {name: _summary(entry) for name, entry in results.items()},
    }
    report["steps_to_match"] = steps_to_match(report)
    if config.baseline is not None:
        report["baseline"] = baseline_section(problem, report, config, config.seeds[0])
    return report


def _summary(entry: dict) -> dict:
    """A scheme's runs, their median finals over seeds and the median step time."""
    finals = [run["final"] for run in entry["runs"]]
    summary = {
        "final": {
            key: statistics.median(final[key] for final in finals) for key in ("y_loss", "x_mae")
        },
        "runs": entry["runs"],
        "step_time_ms": {"median": statistics.median(entry["times"])},
    }
    extra = [run["extra_curves"] for run in entry["runs"] if "extra_curves" in run]
    if extra:
        summary["extra_final"] = {
            key: statistics.median(curves[key][-1][1] for curves in extra) for key in extra[0]
        }
    return summary


def steps_to_match(report: dict, metric: str = "x_mae") -> dict:
    """`{scheme: {other: step}}`: the first logged step at which `scheme`'s
    median-over-seeds curve reaches `other`'s final (median) `metric`, None if never.

    The paper's "iterations to match": e.g. PG needs 55 iterations to reach
    the error Adam has after 20k (fluid, section 3.4).
    """
    out: dict = {}
    for name, entry in report["results"].items():
        runs = [curve(run, metric) for run in entry["runs"]]
        out[name] = {
            other: _crossing(runs, theirs["final"][metric] * (1 + 1e-12))["first"]
            for other, theirs in report["results"].items()
            if other != name
        }
    return out


def steps_to_reach(report: dict, level: float, metric: str = "x_mae") -> dict:
    """`{scheme: step}`: the first logged step at which each scheme's median-over-seeds
    curve is below `level` (None if never): how long a scheme needs for an error reached
    elsewhere, e.g. the paper's L-BFGS PG needing 628 iterations for Adam's 10k error."""
    return {
        name: _crossing([curve(run, metric) for run in entry["runs"]], level)["first"]
        for name, entry in report["results"].items()
    }


def _extra_curves(problem: Problem, points: list[dict]) -> dict:
    """The problem's extra metrics per logged point, `{"extra_curves": {name: [[step, v]]}}`."""
    names = [n for n in problem.extra_metric_names if points and n in points[0]]
    if not names:
        return {}
    return {"extra_curves": {n: [[p["step"], p[n]] for p in points] for n in names}}


def baseline_section(problem: Problem, report: dict, config: CompareConfig, seed: int) -> dict:
    """`config.baseline`'s solver on fresh events, and where each scheme overtakes it.

    The solver's summary (errors over events that did not fail, counts,
    per-group breakdown; see `pg_keras.solving`) becomes reference lines on
    the plot. `crossing_step[scheme][metric]` holds the first logged step at
    which the scheme's median-over-seeds curve is below the solver's error
    (`first`), and the step from which it stays below (`stays_below_from`).
    """
    baseline = config.baseline
    result = solve_fresh(problem, baseline.solver, baseline.events, baseline.iterations, seed)
    section = {"events_seed": seed, **result.report(per_event=False)}
    reference = section["summary"]
    metrics = ["x_mae", *problem.extra_metric_names]
    crossings: dict = {}
    for name, entry in report["results"].items():
        crossings[name] = {
            metric: _crossing([curve(run, metric) for run in entry["runs"]], reference[metric])
            for metric in metrics
            if reference.get(metric) is not None
            and all(metric in _metrics(run) for run in entry["runs"])
        }
    section["crossing_step"] = crossings
    return section


def _metrics(run: dict) -> set[str]:
    return {"y_loss", "x_mae", *run.get("extra_curves", {})}


def _crossing(runs: list[list], level: float) -> dict:
    length = min(len(run) for run in runs)
    steps = [runs[0][k][0] for k in range(length)]
    medians = [statistics.median(run[k][1] for run in runs) for k in range(length)]
    below = [value < level for value in medians]
    first = next((step for step, b in zip(steps, below, strict=True) if b), None)
    stays = None
    for k in range(length - 1, -1, -1):
        if not below[k]:
            break
        stays = steps[k]
    return {"first": first, "stays_below_from": stays}


def write_report(report: dict, path: str | pathlib.Path) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")
