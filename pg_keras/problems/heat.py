"""Heat equation: the initial temperature `x*` from its diffused state `y*` (paper 3.3, B.4).

`y = P(x)` diffuses `x` on a periodic 64 × 64 grid of unit cells for `ν t = 8`,
exactly in Fourier space (`pg_keras.physics.heat`), in float64. The network
(the B.3 U-Net) sees `y*` and predicts `x`; diffusion keeps the mean, so its
output is shifted to `mean(x) = mean(y*)` (`postprocess`), as the authors do.
x* is a sum of 4–10 random boxes (`pg_keras.physics.heat.random_boxes`), each
wholly inside the domain, with the authors' soft edges (`box_edges`).

Schemes (Adam, lr 1e-3, batch 128 by default as in the authors' code):

* `adjoint`: backprop through P (`Jᵀ dy` is diffusion of the residual).
* `inverse-physics`: the PG from the authors' probabilistic inverse (`inverse`).
* `lbfgs`: the PG from 32 L-BFGS iterations per example (TFP, batched) on
  `½‖P(x) − y*‖²`, from the network's `x`.

Per-event solvers (`pg-keras solve heat --solver …`, paper Fig. 5b), all from
`x0 = y*`: `gd` (gradient descent with step 1, the inverse of the gradient's
Lipschitz constant `max e^{−2κ} = 1`), `scipy-lbfgsb` (SciPy's L-BFGS-B, per
event, with its iterates), `inverse-physics` (the probabilistic inverse iterated
`x ← P⁻¹(y* | x)`, with a noise floor), plus the generic ones.

Metric: `x_mae` is the per-example L1 norm `‖x − x*‖₁` (a sum over cells, the
paper's metric), not a mean.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from pg_keras.batch import X_TARGET, Y_TARGET, Batch, PhysicsInputs
from pg_keras.networks import unet_from_spec
from pg_keras.physics import heat as physics
from pg_keras.problems._images import field_strip
from pg_keras.problems.base import Problem, Scheme
from pg_keras.rules import LBFGS
from pg_keras.rules.base import BackwardContext
from pg_keras.solving import gradient_descent, inverse_iteration_solver
from pg_keras.specs import PhysicsPrecision, Spec, UNetSpec, check_choice


@dataclasses.dataclass(frozen=True)
class HeatPhysics(PhysicsPrecision):
    """The grid and the diffusion: `ν t` on `ny × nx` cells of size `dx`, in float64."""

    ny: int = 64
    nx: int = 64
    nu_t: float = 8.0
    dx: float = 1.0
    physics_dtype: str = "float64"
    physics_dtypes = ("float64",)
    physics_dtype_reason = "the inverse amplifies modes by up to e^88, beyond float32"


@dataclasses.dataclass(frozen=True)
class BoxData(Spec):
    """x*: `min_boxes`–`max_boxes` boxes of half-size below `max_half_size` cells.

    `box_edges` says how a box meets the cells it cuts (`physics.BOX_EDGES`: the
    authors' PhiFlow soft edges by default); `clip_boxes` moves each centre so the
    box lies wholly inside the domain, as the authors do.
    """

    min_boxes: int = 4
    max_boxes: int = 10
    max_half_size: float = 10.0
    box_edges: str = "authors"
    clip_boxes: bool = True

    def __post_init__(self):
        check_choice("box_edges", self.box_edges, physics.BOX_EDGES)
        if not 0 < self.min_boxes <= self.max_boxes:
            raise ValueError(
                "Expected 0 < min_boxes <= max_boxes. "
                f"Received: min_boxes={self.min_boxes}, max_boxes={self.max_boxes}"
            )
        super().__post_init__()


@dataclasses.dataclass(frozen=True)
class HeatSpec(UNetSpec, BoxData, HeatPhysics):
    """Physics, data and network of the heat problem, and the `lbfgs` scheme's iterations."""

    lbfgs_iterations: int = 32


def _l1(x: tf.Tensor, x_target: tf.Tensor) -> tf.Tensor:
    diff = tf.abs(tf.cast(x, tf.float64) - tf.cast(x_target, tf.float64))
    return tf.reduce_sum(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)


class HeatProblem(Problem):
    """Initial temperature from the state after diffusion for ν t = 8 (paper 3.3)."""

    name = "heat"
    spec_class = HeatSpec
    learning_rate = 1e-3
    batch_size = 128
    optimizer = "adam"
    x_error_description = "‖x − x*‖₁ per example (sum over the 64×64 cells)"
    inverse_name = "probabilistic inverse"
    inverse_description = "PG from the probabilistic inverse (B.4)"

    def simulate(self, x: tf.Tensor, context: Batch) -> tf.Tensor:
        del context
        return physics.simulate(x, self.spec.nu_t, self.spec.dx)

    def generate(self, batch_size: int, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        spec = self.spec
        x = physics.random_boxes(
            batch_size,
            seed,
            (spec.ny, spec.nx),
            (spec.min_boxes, spec.max_boxes),
            spec.max_half_size,
            edges=spec.box_edges,
            clip=spec.clip_boxes,
            dtype=tf.float64,
        )
        # Kept in float64: rounding y* to float32 would add noise the inverse must then reject.
        return {Y_TARGET: physics.simulate(x, spec.nu_t, spec.dx), X_TARGET: x}

    def build_network(self) -> keras.Model:
        return unet_from_spec(self.spec, "heat_unet")

    def postprocess(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        """Shifts each prediction to the mean of its `y*` (diffusion keeps the mean)."""
        target_mean = tf.reduce_mean(tf.cast(batch[Y_TARGET], x.dtype), axis=[1, 2], keepdims=True)
        return x - tf.reduce_mean(x, axis=[1, 2], keepdims=True) + target_mean

    def x_error(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        return _l1(x, batch[X_TARGET])

    def inverse(self, context: BackwardContext) -> tf.Tensor:
        """The authors' probabilistic inverse (B.4), per Fourier mode of `y* − y`."""
        return physics.probabilistic_inverse(
            context.x, context.y, context.y_target, self.spec.nu_t, self.spec.dx
        )

    def schemes(self):
        return {
            **super().schemes(),
            "lbfgs": lambda: Scheme(
                "lbfgs",
                LBFGS(iterations=self.spec.lbfgs_iterations),
                description=f"PG from {self.spec.lbfgs_iterations} L-BFGS iterations per example",
            ),
        }

    # Per-event solving -----------------------------------------------------------
    def solvers(self):
        return {
            **super().solvers(),
            "gd": gradient_descent(learning_rate=1.0),
            "inverse-physics": inverse_iteration_solver(self._floored_inverse),
        }

    def _floored_inverse(self, problem: Problem, inputs: PhysicsInputs):
        """`x ↦ P⁻¹(y* | x)` with the noise scale floored at `1e-6·‖y*‖`, for iterating.

        Iterated as in training, the inverse blows up once the residual nears
        round-off: its noise scale `1e-6·‖r‖` then falls below the round-off
        in `r̂`, which it takes for signal and amplifies by up to e^88. So the
        solver floors the noise scale at `1e-6·‖y*‖` (the paper's text models
        noise relative to the observation); `inverse_iteration_solver` rejects a
        step that does not lower the objective, and the event stops there (converged).
        """
        del problem
        y_target = inputs.y_target
        floor = 1e-6 * tf.norm(tf.reshape(y_target, [tf.shape(y_target)[0], -1]), axis=1)
        spec = self.spec

        def update(x):
            y = self.simulate(x, inputs.context)
            return physics.probabilistic_inverse(x, y, y_target, spec.nu_t, spec.dx, floor)

        return update

    def initial_guess(self, batch: Batch) -> tf.Tensor:
        """The observation itself: `y*` has the right mean and the coarse structure."""
        return tf.cast(batch[Y_TARGET], tf.float64)

    def observation_shape(self) -> tuple[int, ...]:
        return (self.spec.ny, self.spec.nx)

    def image_summary(self, batch: Batch, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """y*, predicted x, x*, P(x) side by side (TensorBoard)."""
        return field_strip([batch[Y_TARGET], x, batch[X_TARGET], y])
