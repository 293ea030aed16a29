"""Paper Fig. 6a / 13: marker sequences from the true v0 and from PG- and Adam-trained networks.

    python scripts/fluid_figures.py --compare runs/compare-fluid \
        --out docs/img/fluid_sequences.png --examples 3

For each example, three rows (ground truth, Adam + PG, Adam): `|v0|` and the
marker at t = 0, 0.5, 1, 1.5, 2 (every other step of 8). The networks are the
last checkpoints of `--compare`'s `inverse-physics/seed0` and
`adjoint/seed0` runs.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pg_keras.batch import X_TARGET  # noqa: E402
from pg_keras.cli._args import add_spec_flag  # noqa: E402
from pg_keras.problems import get_problem  # noqa: E402
from pg_keras.training.checkpoints import restore_network  # noqa: E402

ROWS = (("GT", None), ("Adam + PG", "inverse-physics"), ("Adam", "adjoint"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", required=True, type=pathlib.Path)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("fluid_sequences.png"))
    parser.add_argument("--examples", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    add_spec_flag(parser)
    args = parser.parse_args(argv)
    problem = get_problem("fluid", dict(args.spec))
    batch = problem.generate(args.examples, tf.constant([args.seed, -1], tf.int64))
    velocities = {"GT": batch[X_TARGET]}
    for label, scheme in ROWS[1:]:
        network, _ = restore_network(problem, args.compare / scheme / "seed0")
        velocities[label] = problem.predict_x(network, batch)
    steps = problem.spec.steps
    frames = list(range(0, steps + 1, max(1, steps // 4)))
    fig, axes = plt.subplots(
        3 * args.examples,
        1 + len(frames),
        figsize=(1.3 * (1 + len(frames)), 1.3 * 3 * args.examples),
    )
    axes = np.asarray(axes).reshape(3 * args.examples, 1 + len(frames))
    for example in range(args.examples):
        for r, (label, _) in enumerate(ROWS):
            row = axes[3 * example + r]
            v = velocities[label][example : example + 1]
            sequence = problem.sequence(
                tf.cast(v, tf.float32), batch["marker0"][example : example + 1]
            )
            speed = np.linalg.norm(np.asarray(v[0]), axis=-1)
            error = float(
                np.abs(np.asarray(v) - np.asarray(batch[X_TARGET][example : example + 1])).mean()
            )
            row[0].imshow(speed, origin="lower", cmap="viridis")
            row[0].set_ylabel(label if r == 0 else f"{label}\n|Δv| {error:.2f}", fontsize=6)
            for c, k in enumerate(frames):
                row[c + 1].imshow(
                    np.asarray(sequence[k, 0]), origin="lower", cmap="magma", vmin=0, vmax=1
                )
                if example == 0 and r == 0:
                    row[c + 1].set_title(f"t={k * problem.spec.dt:g}", fontsize=7)
            if example == 0 and r == 0:
                row[0].set_title("|v0|", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(pad=0.2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"Figure: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
