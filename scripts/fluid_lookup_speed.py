"""The fluid simulation with its bilinear lookup as one gather of 4-corner rows, against
the four single-value gathers it replaced (issue 18's speed work).

    python scripts/fluid_lookup_speed.py --batch 64 --repeats 6 \
        --out docs/reports/fluid_lookup_speed.json

Times `P` (the fluid's 8 steps, XLA-compiled as in training) on one batch of the fluid's
data with each lookup, in turns (`pg_keras.benchmarks.turns`), in one process; the
report holds medians and ranges, the load average before and after, and how far the two
simulations' final markers lie apart in float32 and float64 (the lookups return the same
values; XLA fuses the arithmetic around them differently, which MacCormack's clamp can
amplify in float32).
"""

from __future__ import annotations

import argparse
import os
import sys
from unittest import mock

import numpy as np
import tensorflow as tf

from pg_keras.batch import X_TARGET
from pg_keras.benchmarks.turns import time_in_turns
from pg_keras.cli._args import add_spec_flag
from pg_keras.physics import fluid as physics
from pg_keras.physics.fluid import advection
from pg_keras.problems import get_problem
from pg_keras.problems.fluid import MARKER0
from pg_keras.reproduce.paper_points import spread
from pg_keras.training.compare import write_report


def four_gathers(field: tf.Tensor, shift_x: tf.Tensor, shift_y: tf.Tensor):
    """The lookup before issue 18's speed work: the four corners gathered one value each."""
    ny, nx = tf.shape(field)[1], tf.shape(field)[2]
    jj = tf.cast(tf.range(ny), field.dtype)[None, :, None] + shift_y
    ii = tf.cast(tf.range(nx), field.dtype)[None, None, :] + shift_x
    fy, fx = jj - tf.floor(jj), ii - tf.floor(ii)
    j0 = tf.math.floormod(tf.cast(tf.floor(jj), tf.int32), ny)
    i0 = tf.math.floormod(tf.cast(tf.floor(ii), tf.int32), nx)
    j1, i1 = tf.math.floormod(j0 + 1, ny), tf.math.floormod(i0 + 1, nx)
    base = (tf.range(tf.shape(field)[0]) * ny * nx)[:, None, None]
    rows0, rows1 = base + j0 * nx, base + j1 * nx
    flat = tf.reshape(field, [-1])
    corners = tf.gather(flat, tf.stack([rows0 + i0, rows0 + i1, rows1 + i0, rows1 + i1], 0))
    v00, v01, v10, v11 = corners[0], corners[1], corners[2], corners[3]
    values = (1 - fy) * ((1 - fx) * v00 + fx * v01) + fy * ((1 - fx) * v10 + fx * v11)
    return values, tf.reduce_min(corners, 0), tf.reduce_max(corners, 0)


LOOKUPS = {"corner_rows": advection.sample_periodic, "four_gathers": four_gathers}


def compiled_simulation(spec, lookup):
    """`m_t = P(v0, m0)` XLA-compiled, advecting with `lookup`."""

    def run(velocity0, marker0):
        with mock.patch.object(advection, "sample_periodic", lookup):
            states = physics.simulate(
                velocity0, marker0, spec.dt, spec.dx, spec.steps, spec.solve_poisson()
            )
        return states[-1].marker

    return tf.function(run, jit_compile=True)


def measure(problem, batch_size: int, repeats: int) -> dict:
    batch = problem.generate(batch_size, tf.constant([0, 1], tf.int64))
    report = {"batch": batch_size, "repeats": repeats, "load_before": os.getloadavg()}
    simulations = {name: compiled_simulation(problem.spec, lk) for name, lk in LOOKUPS.items()}
    inputs = {
        dtype.name: [tf.cast(batch[k], dtype) for k in (X_TARGET, MARKER0)]
        for dtype in (tf.float64, tf.float32)
    }
    markers = {  # each simulation's first calls: traced and compiled here, before the timing
        dtype: {name: simulation(*args).numpy() for name, simulation in simulations.items()}
        for dtype, args in inputs.items()
    }
    report["max_marker_difference"] = {
        dtype: float(np.abs(m["corner_rows"] - m["four_gathers"]).max())
        for dtype, m in markers.items()
    }
    calls = {
        name: lambda simulation=simulation: simulation(*inputs["float32"]).numpy()
        for name, simulation in simulations.items()
    }
    seconds = time_in_turns(calls, repeats)
    report["simulation_ms"] = {name: spread([1e3 * t for t in s]) for name, s in seconds.items()}
    report["speedup"] = (
        report["simulation_ms"]["four_gathers"]["median"]
        / report["simulation_ms"]["corner_rows"]["median"]
    )
    report["load_after"] = os.getloadavg()
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=6)
    add_spec_flag(parser)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    spec = dict(args.spec)
    problem = get_problem("fluid", spec)
    report = {"spec": spec, **measure(problem, args.batch, args.repeats)}
    write_report(report, args.out)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
