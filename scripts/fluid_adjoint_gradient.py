"""What the adjoint gradient tells the fluid network at initialisation (issue 18's diagnosis).

    python scripts/fluid_adjoint_gradient.py --out docs/reports/fluid_adjoint_gradient.json
    python scripts/fluid_adjoint_gradient.py --spec fraction_min=0.0096 \
        --spec fraction_max=0.0287 --out ...   # markers of the size used before issue 18

On one batch, at the untrained network (Keras seed 0, batch norm in training
mode, as in the first training step), per example: the cosine between
`−∂L/∂x` (backprop through the simulator, L the frequency-weighted marker
loss) and `x* − x`; the share of each one's energy in the uniform mode (the
flow that moves the marker, most of `x*`) and in modes |k| <= 2 (cycles per
domain); the share of the gradient's energy on the cells either marker covers (m0 = 1
or m_t > 0.1);
and the root mean square of the gradient of every kernel of the network, to
see whether it vanishes on its way through the simulator. Medians and ranges
over the examples. For scale, the error of two predictions made from B.5's prior
instead of a network, over the error of predicting zero (`prior_over_zero`): the
uniform flow alone (known from m0), and it plus the vortex at the domain centre
whose strength fits v0* best (least squares), both made divergence-free.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import keras
import numpy as np
import tensorflow as tf

from pg_keras.batch import X_TARGET, Y_TARGET
from pg_keras.cli._args import add_spec_flag
from pg_keras.physics.fluid import prior
from pg_keras.problems import get_problem
from pg_keras.problems.fluid import MARKER0
from pg_keras.reproduce.paper_points import spread
from pg_keras.training.compare import write_report


def spectral_share(field: np.ndarray, k_max: float) -> np.ndarray:
    """Per example, the share of `field`'s energy `[batch, n, n, 2]` in modes |k| <= k_max."""
    n = field.shape[1]
    k = np.fft.fftfreq(n) * n
    inside = np.hypot(k[:, None], k[None, :]) <= k_max
    power = np.abs(np.fft.fft2(field, axes=(1, 2))) ** 2
    return (power * inside[None, :, :, None]).sum((1, 2, 3)) / power.sum((1, 2, 3))


def prior_over_zero(problem, batch) -> dict:
    """x_mae of the prior's uniform flow, and of it plus the best-fitting centred vortex,
    each over the x_mae of predicting zero (the whole batch)."""
    spec, target = problem.spec, batch[X_TARGET]
    n = int(target.shape[1])
    uniform = prior.uniform_velocity(batch[MARKER0], spec.dx, spec.duration)
    flow = tf.broadcast_to(uniform[:, None, None, :], target.shape)
    middle = prior.domain_center(n, n, spec.dx, target.dtype)
    centres = tf.broadcast_to(middle[None, :], [int(target.shape[0]), 2])
    profile = prior.vortex_profile(n, n, spec.dx, centres, spec.vortex_width, target.dtype)
    strength = prior.project_strength(target, uniform, profile)
    zero = float(tf.reduce_mean(tf.abs(target)))

    def relative(prediction):
        return float(tf.reduce_mean(tf.abs(problem.project(prediction) - target))) / zero

    return {
        "uniform": relative(flow),
        "uniform_and_vortex": relative(flow + strength[:, None, None, None] * profile),
    }


def diagnose(problem, batch_size: int, seed: int) -> dict:
    batch = problem.generate(batch_size, tf.constant([seed, -2], tf.int64))
    keras.utils.set_random_seed(seed)
    network = problem.build_network()
    with tf.GradientTape(persistent=True) as tape:
        x = problem.predict_x(network, batch, training=True)
        marker = problem.simulate(tf.cast(x, problem.physics_dtype), batch)
        per_example = problem.objective(marker, tf.cast(batch[Y_TARGET], marker.dtype))
        loss = tf.reduce_mean(per_example)
        total = tf.reduce_sum(per_example)  # its gradient in x is per example
    gradient = tape.gradient(total, x).numpy()
    kernels = [w for w in network.trainable_variables if "kernel" in w.path]
    kernel_grads = tape.gradient(loss, kernels)
    descent, error = -gradient, (batch[X_TARGET] - x).numpy()
    flat_d, flat_e = descent.reshape(batch_size, -1), error.reshape(batch_size, -1)
    norms = np.linalg.norm(flat_d, axis=1) * np.linalg.norm(flat_e, axis=1)
    cosine = (flat_d * flat_e).sum(1) / norms
    covered = (np.asarray(batch[MARKER0]) > 0) | (np.asarray(batch[Y_TARGET]) > 0.1)
    on_markers = (gradient**2 * covered[..., None]).sum((1, 2, 3)) / (gradient**2).sum((1, 2, 3))
    return {
        "batch": batch_size,
        "seed": seed,
        "marker0_cells": spread(np.asarray(batch[MARKER0]).sum((1, 2))),
        "zero_mae": float(np.abs(batch[X_TARGET]).mean()),
        "network_x_mae": float(np.abs(error).mean()),
        "cosine_descent_vs_error": spread(cosine),
        "uniform_share": {
            "descent": spread(spectral_share(descent, 0)),
            "error": spread(spectral_share(error, 0)),
        },
        "modes_k_le_2_share": {
            "descent": spread(spectral_share(descent, 2)),
            "error": spread(spectral_share(error, 2)),
        },
        "descent_share_on_marker_cells": spread(on_markers),
        "marker_cell_fraction": float(covered.mean()),
        "kernel_gradient_rms": spread(np.sqrt(np.mean(np.square(g))) for g in kernel_grads),
        "prior_over_zero": prior_over_zero(problem, batch),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    add_spec_flag(parser)
    parser.add_argument("--out", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    spec = dict(args.spec)
    report = {"spec": spec, **diagnose(get_problem("fluid", spec), args.batch, args.seed)}
    print(json.dumps(report, indent=1))
    if args.out:
        write_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
