"""Poisson's equation: recover the source `x*` from the potential `y* = ∇⁻²x*` (paper 3.2, B.3).

`y = P(x)` solves `∇²y = x` on a 64 × 64 grid (dx = 1, zero boundary) by
conjugate gradients (`pg_keras.physics.poisson`). The network (the B.3 U-Net)
sees `y*` and predicts `x`. x* holds fluctuations of several frequencies
with random amplitudes (`pg_keras.physics.poisson.random_fluctuations`).

Every CG solve, forward and adjoint, must reach `cg_rtol` within
`cg_max_iterations`; one that does not stops the computation with an error that
names both settings (a potential that is not `∇⁻²x` would silently train on
wrong physics).

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
import math

import keras
import tensorflow as tf

from pg_keras.batch import X_TARGET, Y_TARGET, Batch
from pg_keras.networks import unet_from_spec
from pg_keras.physics import fields
from pg_keras.physics import poisson as physics
from pg_keras.problems._images import field_strip
from pg_keras.problems.base import Problem, Scheme
from pg_keras.rules import Adjoint
from pg_keras.rules.base import BackwardContext
from pg_keras.solving import gradient_descent
from pg_keras.specs import PhysicsPrecision, Spec, UNetSpec, check_at_least


@dataclasses.dataclass(frozen=True)
class PoissonPhysics(PhysicsPrecision):
    """The grid and the CG solve of `∇²y = x`: relative residual `cg_rtol`, at most
    `cg_max_iterations` iterations."""

    ny: int = 64
    nx: int = 64
    dx: float = 1.0
    cg_rtol: float = 1e-5
    cg_max_iterations: int = 2000

    def __post_init__(self):
        if not 0 < self.cg_rtol < 1:
            raise ValueError(f"Expected 0 < cg_rtol < 1. Received: cg_rtol={self.cg_rtol}")
        check_at_least(self, 1, "cg_max_iterations")
        super().__post_init__()


def stable_gd_step(spec: PoissonPhysics) -> float:
    """`1/L` for gradient descent on `½‖P(x) − y*‖²`, `L = 1/λ²` its largest curvature.

    `P = ∇⁻²` has the eigenvectors of the zero-boundary 5-point Laplacian; the one of
    least magnitude, `λ = (4/dx²)·(sin²(π/2(ny+1)) + sin²(π/2(nx+1)))`, is the smoothest
    mode's, which `P` amplifies most (by 214 on the default 64 × 64 grid, `L` ≈ 4.6e4).
    """
    half_angles = (math.pi / (2 * (n + 1)) for n in (spec.ny, spec.nx))
    smallest = 4 / spec.dx**2 * sum(math.sin(angle) ** 2 for angle in half_angles)
    return smallest**2


@dataclasses.dataclass(frozen=True)
class FluctuationData(Spec):
    """x*: sine modes grouped into frequency `bands`, one random amplitude per band."""

    bands: tuple[int, ...] = (1, 2, 4, 8, 16)


@dataclasses.dataclass(frozen=True)
class PoissonSpec(UNetSpec, FluctuationData, PoissonPhysics):
    """Physics, data and network of the Poisson problem, and the `sgd-momentum` rate."""

    sgd_learning_rate: float = 1e-9


class PoissonProblem(Problem):
    """Source `x*` of a potential `y*` with `∇²y* = x*` (paper 3.2)."""

    name = "poisson"
    spec_class = PoissonSpec
    learning_rate = 1e-3
    batch_size = 128
    optimizer = "adam"
    x_error_description = "‖x − x*‖₁ per example (sum over the 64×64 cells)"
    inverse_name = "analytic inverse x - laplacian(y - y*)"
    inverse_description = "PG from the analytic inverse (no implicit solve)"

    def solve_potential(self, x: tf.Tensor) -> tuple[tf.Tensor, fields.CGResult]:
        """`(y, CGResult)` of the forward solve; an unconverged solve raises (see above)."""
        spec = self.spec
        return physics.simulate(
            x,
            spec.dx,
            spec.cg_rtol,
            spec.cg_max_iterations,
            require_convergence=(
                f"Poisson's CG solve did not reach cg_rtol={spec.cg_rtol} within "
                f"cg_max_iterations={spec.cg_max_iterations}; expected it to converge "
                "(raise --spec cg_max_iterations=N or cg_rtol=R)"
            ),
        )

    def simulate(self, x: tf.Tensor, context: Batch) -> tf.Tensor:
        del context
        return self.solve_potential(x)[0]

    def generate(self, batch_size: int, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        spec = self.spec
        dtype = tf.as_dtype(spec.physics_dtype)
        x = physics.random_fluctuations(batch_size, seed, (spec.ny, spec.nx), spec.bands, dtype)
        return {Y_TARGET: self.simulate(x, {}), X_TARGET: x}

    def build_network(self) -> keras.Model:
        return unet_from_spec(self.spec, "poisson_unet")

    def inverse(self, context: BackwardContext) -> tf.Tensor:
        """The analytic inverse `x̃ = x − ∇²(y − y*)`: one Laplacian, no implicit solve."""
        return physics.analytic_inverse(context.x, context.y, context.y_target, self.spec.dx)

    def x_error(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        diff = tf.abs(tf.cast(x, tf.float64) - tf.cast(batch[X_TARGET], tf.float64))
        return tf.reduce_sum(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)

    def schemes(self):
        return {
            **super().schemes(),
            "sgd-momentum": lambda: Scheme(
                "sgd-momentum",
                Adjoint(),
                optimizer="sgd-momentum",
                learning_rate=self.spec.sgd_learning_rate,
                description="backprop through P with SGD + momentum 0.9 (paper: lr 1e-9)",
            ),
        }

    def initial_guess(self, batch: Batch) -> tf.Tensor:
        return tf.zeros_like(tf.cast(batch[Y_TARGET], tf.float64))

    def solvers(self):
        """The generic solvers, with `gd` at the largest step that shrinks every mode of
        the error (`stable_gd_step`): the generic step, 1e-2, diverges here."""
        return {**super().solvers(), "gd": gradient_descent(stable_gd_step(self.spec))}

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
