"""Figures people would rather see than read: learning curves from a compare report."""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_learning_curves(report: dict, path: str | pathlib.Path, title: str | None = None) -> None:
    """`y_loss` and `x_mae` against training step, log scale, one colour per scheme.

    Thin lines are single seeds; the thick line is the median over seeds.
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, result) in enumerate(report["results"].items()):
        colour = colours[i % len(colours)]
        curves = [np.asarray(run["curve"], dtype=float) for run in result["runs"]]
        for column, axis in ((1, axes[0]), (2, axes[1])):
            for curve in curves:
                axis.plot(curve[:, 0], curve[:, column], color=colour, alpha=0.3, lw=0.8)
            length = min(len(c) for c in curves)
            median = np.median(np.stack([c[:length, column] for c in curves]), axis=0)
            axis.plot(curves[0][:length, 0], median, color=colour, lw=2, label=name)
    for axis, label in zip(axes, ("y_loss  ½‖P(x) − y*‖²", "x_mae"), strict=True):
        axis.set_yscale("log")
        axis.set_xlabel("training step")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
    axes[1].legend()
    seeds = ", ".join(str(s) for s in report["seeds"])
    fig.suptitle(
        title or f"{report['problem']}: batch {report['batch']}, seeds {seeds} (thick: median)"
    )
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
