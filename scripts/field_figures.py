"""Figures for the Poisson and heat experiments (paper Fig. 4 and 5) from a compare run.

    python scripts/field_figures.py heat --logdir runs/compare-heat --out docs/img
    python scripts/field_figures.py poisson --logdir runs/compare-poisson --out docs/img

Writes, for problem P:

* `P_curves.png`: the learning curves of `LOGDIR/report.json` (as `compare` plots them);
* `P_examples.png`: example grid like Fig. 4a / 5a — per row one fresh event:
  y*, then the prediction x of every trained scheme (its checkpoint in
  LOGDIR/<scheme>/seed0), then x*, all sources on one colour scale per row;
* with `--solvers gd,scipy-lbfgsb,inverse-physics`: `P_solvers.png`, the mean
  ‖x − x*‖₁ per solver iteration on `--events` fresh events (Fig. 5b), and
  `P_solvers.json`, the curves.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pg_keras.config import TrainingConfig  # noqa: E402
from pg_keras.plotting import plot_learning_curves  # noqa: E402
from pg_keras.problems import get_problem  # noqa: E402
from pg_keras.solving import solve  # noqa: E402
from pg_keras.training.run import build_model, make_checkpoint  # noqa: E402


def example_grid(problem_name: str, logdir: pathlib.Path, path: pathlib.Path, events: int) -> None:
    report = json.loads((logdir / "report.json").read_text())
    schemes = list(report["results"])
    spec = report.get("spec") or {}
    problem = get_problem(problem_name, spec)
    batch = problem.generate(events, tf.constant([report["seeds"][0], -3], tf.int64))
    predictions = {}
    for name in schemes:
        run_dir = logdir / name / f"seed{report['seeds'][0]}"
        config = TrainingConfig.read(run_dir / "config.json")
        model = build_model(problem, config)
        make_checkpoint(model).restore(tf.train.latest_checkpoint(str(run_dir / "checkpoints")))
        predictions[name] = model.predict_x(batch).numpy()
    columns = [("y*", batch["y_target"].numpy())]
    columns += [(f"x: {n}", x) for n, x in predictions.items()] + [
        ("x*", batch["x_target"].numpy())
    ]
    fig, axes = plt.subplots(events, len(columns), figsize=(2.2 * len(columns), 2.2 * events))
    axes = np.atleast_2d(axes)
    x_true = batch["x_target"].numpy()
    for row in range(events):
        low, high = x_true[row].min(), x_true[row].max()
        for col, (title, values) in enumerate(columns):
            axis = axes[row, col]
            scale = {} if col == 0 else {"vmin": low, "vmax": high}
            axis.imshow(values[row], cmap="viridis", **scale)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(title, fontsize=9)
        errors = [
            problem.x_error(
                tf.constant(p[row : row + 1]), {"x_target": batch["x_target"][row : row + 1]}
            ).numpy()[0]
            for _, p in columns[1:-1]
        ]
        axes[row, 0].set_ylabel("‖x−x*‖₁: " + ", ".join(f"{e:.0f}" for e in errors), fontsize=7)
    fig.suptitle(f"{problem_name}: y* (own scale), predictions and x* (x*'s scale)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def solver_curves(problem_name: str, solvers, events: int, iterations: int, path: pathlib.Path):
    problem = get_problem(problem_name)
    batch = problem.generate(events, tf.constant([0, -1], tf.int64))
    curves = {}
    for name in solvers:
        result = solve(problem, name, batch, iterations)
        curves[name] = {
            "x_error_mean": np.mean(result.curve, axis=1).tolist(),
            "wall_time_s_per_event": float(np.median(result.wall_time_s)),
        }
    fig, axis = plt.subplots(figsize=(5, 3.5))
    for name, curve in curves.items():
        axis.plot(curve["x_error_mean"], label=name)
    axis.set_xlabel("solver iteration")
    axis.set_ylabel("mean ‖x − x*‖₁")
    axis.set_yscale("log")
    axis.set_title(f"{problem_name}: per-event solvers from x0 = y*, {events} events")
    axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    path.with_suffix(".json").write_text(json.dumps(curves) + "\n")
    return curves


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", choices=["heat", "poisson"])
    parser.add_argument("--logdir", help="a `pg-keras compare` log directory")
    parser.add_argument("--out", default="docs/img")
    parser.add_argument("--events", type=int, default=3, help="rows of the example grid")
    parser.add_argument("--solvers", help="comma-separated per-event solvers for Fig. 5b")
    parser.add_argument("--solver-events", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.logdir:
        logdir = pathlib.Path(args.logdir)
        report = json.loads((logdir / "report.json").read_text())
        plot_learning_curves(report, out / f"{args.problem}_curves.png")
        example_grid(args.problem, logdir, out / f"{args.problem}_examples.png", args.events)
    if args.solvers:
        curves = solver_curves(
            args.problem,
            args.solvers.split(","),
            args.solver_events,
            args.iterations,
            out / f"{args.problem}_solvers.png",
        )
        for name, curve in curves.items():
            errors = curve["x_error_mean"]
            print(
                f"{name}: ‖x−x*‖₁ {errors[0]:.1f} -> {errors[-1]:.1f} after {len(errors) - 1} its"
            )
    print(f"Figures in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
