"""The figures of a reproduced experiment, drawn by the plotting code that already exists.

Kinds (`Experiment.figures`): `curves` (each comparison's learning curves,
`pg_keras.plotting`), `field_examples` (the Poisson and heat example grids of
`scripts/field_figures.py`), `wavepacket_fig1` (`scripts/wavepacket_figures.py`),
`fluid_sequences` (`scripts/fluid_figures.py`), and with a solver table,
`solvers` (its per-iteration error curves against the network's level, Fig. 5b).
"""

from __future__ import annotations

import contextlib
import io
import pathlib
from collections.abc import Mapping

from pg_keras.plotting import plot_learning_curves

__all__ = ["draw_figures", "plot_solver_curves"]


def plot_solver_curves(table: dict, title: str, path: pathlib.Path) -> None:
    """Mean `x_mae` per iteration of each solver in a solver table, and the network's."""
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(5.5, 3.8))
    for name, row in table["solvers"].items():
        if row["curve_x_mae"] is not None:
            axis.plot(row["curve_x_mae"], label=name)
    axis.axhline(table["network"]["x_mae"], color="k", ls="--", lw=1, label="network")
    axis.set_xlabel("solver iteration")
    axis.set_ylabel("mean x_mae over events")
    axis.set_yscale("log")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _quietly(main, argv: list[str]) -> None:
    """A figure script's `main`, its printout dropped (the figure is the output)."""
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    if code:
        raise RuntimeError(f"figure script {main.__module__} {argv} exited with {code}")


def _spec_args(spec: Mapping) -> list[str]:
    return [arg for key, value in spec.items() for arg in ("--spec", f"{key}={value}")]


def draw_figures(
    experiment, comparisons: Mapping[str, dict], logdirs: Mapping, img_dir
) -> tuple[list[pathlib.Path], list[str]]:
    """Draws `experiment`'s figures into `img_dir`; returns their paths, and the figures
    not drawn with the reason why.

    `comparisons` maps each comparison's name to its compare report, `logdirs` to its
    log directory; the first is the main comparison, whose networks the figures show.
    """
    img_dir = pathlib.Path(img_dir)
    img_dir.mkdir(parents=True, exist_ok=True)
    paths, skipped = [], []
    if "curves" in experiment.figures:
        for name, report in comparisons.items():
            paths.append(img_dir / f"{name}_curves.png")
            plot_learning_curves(report, paths[-1])
    main_name = next(iter(comparisons))
    main, logdir = comparisons[main_name], pathlib.Path(logdirs[main_name])
    if "field_examples" in experiment.figures:
        from scripts.field_figures import example_grid

        paths.append(img_dir / "examples.png")
        example_grid(experiment.problem, logdir, paths[-1], 3)
    if "wavepacket_fig1" in experiment.figures:
        from scripts import wavepacket_figures

        paths.append(img_dir / "fig1.png")
        argv = ["--logdir", str(logdir), "--seed", str(main["seeds"][0]), "--out", str(paths[-1])]
        _quietly(wavepacket_figures.main, argv)
    if "fluid_sequences" in experiment.figures and 0 not in main["seeds"]:
        skipped.append("fluid_sequences: the script shows the seed-0 networks; seed 0 not run")
    elif "fluid_sequences" in experiment.figures:
        from scripts import fluid_figures

        paths.append(img_dir / "sequences.png")
        argv = ["--compare", str(logdir), "--out", str(paths[-1]), "--examples", "3"]
        _quietly(fluid_figures.main, argv + _spec_args(main.get("spec", {})))
    return paths, skipped
