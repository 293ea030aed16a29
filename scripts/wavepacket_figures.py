"""Paper Fig. 1 for the wave packet: noisy events, the per-event L-BFGS-B fit and the network's.

    python -m scripts.wavepacket_figures --logdir runs/compare-wavepacket --out fig1.png

Reads the trained network of one scheme from a `pg-keras compare wavepacket`
log directory (`LOGDIR/SCHEME/seedS/checkpoints`), draws fresh events, and
shows packets both near the centre and far from it, where L-BFGS-B started at
ξ0 = 128 fits noise instead. Prints each event's true and fitted (ξ0, A).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np
import tensorflow as tf

from pg_keras.problems import get_problem
from pg_keras.solving import solve
from pg_keras.training.checkpoints import restore_network


def pick_events(problem, count: int, seed: int) -> dict:
    """`count` events spread from near the centre to far from it, in that order."""
    pool = problem.generate(20 * count, tf.constant([seed, -2], tf.int64))
    offset = np.abs(pool["x_target"].numpy()[:, 0] - problem.spec.initial_xi0)
    order = np.argsort(offset)
    chosen = order[np.linspace(0, len(order) - 1, count).astype(int)]
    return {key: tf.gather(value, chosen) for key, value in pool.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", required=True, help="a `pg-keras compare wavepacket` logdir")
    parser.add_argument("--scheme", default="adjoint")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed")
    parser.add_argument("--events", type=int, default=4)
    parser.add_argument("--out", default="wavepacket_fig1.png")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problem = get_problem("wavepacket")
    try:
        network, _ = restore_network(
            problem, pathlib.Path(args.logdir) / args.scheme / f"seed{args.seed}"
        )
    except ValueError as error:
        print(f"wavepacket_figures: {error}", file=sys.stderr)
        return 2
    batch = pick_events(problem, args.events, args.seed)
    bfgs = solve(problem, "scipy-lbfgsb", batch, iterations=1000).x
    net = problem.infer(network, batch["y_target"].numpy()).numpy()
    truth = batch["x_target"].numpy()
    xi = np.arange(problem.spec.samples)
    fig, axes = plt.subplots(args.events, 1, figsize=(9, 2.2 * args.events), sharex=True)
    for i, axis in enumerate(np.atleast_1d(axes)):
        axis.plot(xi, batch["y_target"][i], color="0.6", lw=0.8, label="observed y*")
        for x, style, label in (
            (truth[i], "k:", "true packet"),
            (bfgs[i], "C3-", "L-BFGS-B fit"),
            (net[i], "C0-", f"network ({args.scheme})"),
        ):
            y = problem.simulate(tf.constant(x[None], tf.float32), {})[0]
            axis.plot(xi, y, style, lw=1.3, label=label)
        axis.set_ylabel(f"ξ0*={truth[i, 0]:.0f}")
        print(
            f"event {i}: true (ξ0, A) = ({truth[i, 0]:.1f}, {truth[i, 1]:.2f}), "
            f"L-BFGS-B ({bfgs[i, 0]:.1f}, {bfgs[i, 1]:.2f}), "
            f"network ({net[i, 0]:.1f}, {net[i, 1]:.2f})"
        )
    np.atleast_1d(axes)[0].legend(loc="upper right", fontsize=7, ncol=4)
    np.atleast_1d(axes)[-1].set_xlabel("ξ (sample)")
    fig.suptitle("Wave packet fit: L-BFGS-B from (128, 2) vs the trained network")
    fig.tight_layout()
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"Figure: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
