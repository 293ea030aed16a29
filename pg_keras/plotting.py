"""Figures people would rather see than read: learning curves from a compare report."""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pg_keras.training.curves import curve as run_curve  # noqa: E402
from pg_keras.training.curves import curve_metrics  # noqa: E402


def curves_title(report: dict) -> str:
    """What a comparison ran: problem, batch, the settings it changed from the paper's, seeds."""
    settings = [f"batch {report['batch']}"]
    if report.get("learning_rate"):
        settings.append(f"lr {report['learning_rate']:g}")
    if report.get("lr_schedule"):
        settings.append(f"{report['lr_schedule']} lr schedule")
    if report.get("optimizer"):
        settings.append(report["optimizer"])
    seeds = ", ".join(str(s) for s in report["seeds"])
    return f"{report['problem']}: {', '.join(settings)}, seeds {seeds} (thick: median)"


def plot_learning_curves(report: dict, path: str | pathlib.Path, title: str | None = None) -> None:
    """`y_loss`, `x_mae` and the problem's extra metrics against training step, log scale.

    One colour per scheme; thin lines are single seeds, the thick line is the
    median over seeds. A report with a "baseline" section (an iterative
    solver's errors on fresh events, paper Fig. 8) gets them as dashed
    horizontal lines.
    """
    extra = []
    for result in report["results"].values():
        for run in result["runs"]:
            extra += [n for n in curve_metrics(run) if n not in ("y_loss", "x_mae", *extra)]
    panels = [("y_loss", "y_loss  ½‖P(x) − y*‖²"), ("x_mae", "x_mae"), *((n, n) for n in extra)]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    axes = axes[0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, result) in enumerate(report["results"].items()):
        colour = colours[i % len(colours)]
        for axis, (metric, _) in zip(axes, panels, strict=True):
            curves = [_metric_curve(run, metric) for run in result["runs"]]
            curves = [c for c in curves if c is not None and len(c)]
            if not curves:
                continue
            for curve in curves:
                axis.plot(curve[:, 0], curve[:, 1], color=colour, alpha=0.3, lw=0.8)
            length = min(len(c) for c in curves)
            median = np.median(np.stack([c[:length, 1] for c in curves]), axis=0)
            axis.plot(curves[0][:length, 0], median, color=colour, lw=2, label=name)
    baseline = report.get("baseline")
    if baseline:
        for axis, (metric, _) in zip(axes, panels, strict=True):
            value = baseline["summary"].get(metric)
            if value is not None:
                axis.axhline(value, color="k", ls="--", lw=1.2, label=f"{baseline['solver']}")
    for axis, (_, label) in zip(axes, panels, strict=True):
        axis.set_yscale("log")
        axis.set_xlabel("training step")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
    axes[1].legend()
    fig.suptitle(title or curves_title(report))
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _metric_curve(run: dict, metric: str) -> np.ndarray | None:
    """`[points, 2]` of (step, value) for a metric of one run, None if it has none."""
    if metric not in curve_metrics(run):
        return None
    return np.asarray(run_curve(run, metric), dtype=float).reshape(-1, 2)
