"""Poisson's equation: recover the source `x*` from the potential `y* = ∇⁻²x*` (paper 3.2, B.3).

`y = P(x)` solves `∇²y = x` on a 64 × 64 grid (dx = 1, zero boundary) by
conjugate gradients (`pg_keras.physics.poisson`). The network (the B.3 U-Net)
sees `y*` and predicts `x`. x* holds fluctuations of several frequencies
with random amplitudes (`pg_keras.physics.poisson.random_fluctuations`).

Schemes (batch 128 by default, the authors' code):

* `adjoint`: Adam (lr 1e-3) through P; each backward pass is one more CG
  solve (the adjoint of `∇⁻²` is `∇⁻²`).
* `sgd-momentum`: the same gradient with SGD, momentum 0.9, lr 1e-9 (the
  paper's: the adjoint gradient `∇⁻²(y − y*)` is ~10⁴–10⁵ times the residual
  on this grid, so larger rates oscillate and diverge).
* `inverse-physics`: Adam (lr 1e-3) with the PG from the analytic inverse
  `x̃ = x − ∇²(y − y*)`: one Laplacian, no implicit solve.

Metric: `x_mae` is the per-example L1 norm `‖x − x*‖₁` (a sum over cells, the
paper's metric), not a mean.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from pg_keras.networks import unet
from pg_keras.physics import poisson as physics
from pg_keras.problems._images import field_strip
from pg_keras.problems.base import X_TARGET, Y_TARGET, Batch, Problem, Scheme
from pg_keras.rules import Adjoint, InversePhysics


@dataclasses.dataclass(frozen=True)
class PoissonSpec:
    ny: int = 64
    nx: int = 64
    dx: float = 1.0
    cg_rtol: float = 1e-5
    cg_max_iterations: int = 2000
    bands: tuple[int, ...] = (1, 2, 4, 8, 16)
    levels: int = 4
    filters: int = 16
    sgd_learning_rate: float = 1e-9
    physics_dtype: str = "float32"

    def __post_init__(self):
        if self.physics_dtype not in ("float32", "float64"):
            raise ValueError(
                "Expected physics_dtype 'float32' or 'float64'. "
                f"Received: physics_dtype={self.physics_dtype!r}"
            )
        if not 0 < self.cg_rtol < 1:
            raise ValueError(f"Expected 0 < cg_rtol < 1. Received: cg_rtol={self.cg_rtol}")


class PoissonProblem(Problem):
    """Source `x*` of a potential `y*` with `∇²y* = x*` (paper 3.2)."""

    name = "poisson"
    spec_class = PoissonSpec
    learning_rate = 1e-3
    batch_size = 128
    optimizer = "adam"
    x_error_description = "‖x − x*‖₁ per example (sum over the 64×64 cells)"

    def solve(self, x: tf.Tensor):
        """`(y, CGResult)` of the forward solve."""
        spec = self.spec
        return physics.simulate(x, spec.dx, spec.cg_rtol, spec.cg_max_iterations)

    def simulate(self, x: tf.Tensor, extras: Batch) -> tf.Tensor:
        del extras
        return self.solve(x)[0]

    def generate(self, batch_size: int, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        spec = self.spec
        dtype = tf.as_dtype(spec.physics_dtype)
        x = physics.random_fluctuations(batch_size, seed, (spec.ny, spec.nx), spec.bands, dtype)
        return {Y_TARGET: self.simulate(x, {}), X_TARGET: x}

    def network_input(self, batch: Batch) -> tf.Tensor:
        return tf.cast(batch[Y_TARGET], tf.float32)

    def build_network(self) -> keras.Model:
        spec = self.spec
        return unet((spec.ny, spec.nx), spec.levels, spec.filters, "poisson_unet")

    def x_error(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        diff = tf.abs(tf.cast(x, tf.float64) - tf.cast(batch[X_TARGET], tf.float64))
        return tf.reduce_sum(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)

    def schemes(self):
        dx = self.spec.dx
        return {
            **super().schemes(),
            "sgd-momentum": lambda: Scheme(
                "sgd-momentum",
                Adjoint(),
                optimizer="sgd-momentum",
                learning_rate=self.spec.sgd_learning_rate,
                description="backprop through P with SGD + momentum 0.9 (paper: lr 1e-9)",
            ),
            "inverse-physics": lambda: Scheme(
                "inverse-physics",
                InversePhysics(
                    lambda c: physics.analytic_inverse(c.x, c.y, c.y_target, dx),
                    name="analytic inverse x - laplacian(y - y*)",
                ),
                description="PG from the analytic inverse (no implicit solve)",
            ),
        }

    def initial_guess(self, batch: Batch) -> tf.Tensor:
        return tf.zeros_like(tf.cast(batch[Y_TARGET], tf.float64))

    def observation_shape(self) -> tuple[int, ...]:
        return (self.spec.ny, self.spec.nx)

    def image_summary(self, batch: Batch, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """y* | predicted x, x* | P(x): the potentials and the sources on their own scales."""
        potentials = field_strip([batch[Y_TARGET], y])
        sources = field_strip([x, batch[X_TARGET]])
        separator = tf.ones_like(potentials[:, :, :1])
        return tf.concat(
            [
                potentials[:, :, : potentials.shape[2] // 2],
                separator,
                sources,
                separator,
                potentials[:, :, potentials.shape[2] // 2 + 1 :],
            ],
            axis=2,
        )
