"""Single-parameter optimisation, `P_a(x) = sin(a/x)`, `y* = −1` (paper 3.1, B.2).

The network maps `a ~ U[0.1, 10.1)` to `x`; every `x_n = a/(3π/2 + 2πn)`
solves the problem, so `x_mae` is the distance to the nearest exact solution.

Schemes (paper Fig. 3 and 10), all with Adam, lr 0.002, batch 1000:

* `adjoint`: backprop through P, `dL/dx` clipped to [−1, 1] (it overflows as x → 0).
* `newton`: Newton's method on `P_a` itself, `x − P'/P''` (which the paper writes
  `x − x²cos(a/x) / (2x cos(a/x) − a sin(a/x))` up to direction), flipped to point
  downhill and clipped to [−1, 1]. Minimising `P_a` rather than `½(P_a + 1)²`
  is the paper's choice; both have the same minima since `min P_a = y* = −1`.
* `inverse-gradient`: `Δx = −h / P'(x)` with `h = P(x) − y*`, clipped to [−1, 1].
* `inverse-physics`: the analytic inverse, a jump to the minimum nearest the
  prediction (`pg_keras.physics.sin.analytic_inverse`), unclipped.
* `supervised`: labels from the analytic inverse started at a fixed guess
  (`SinSpec.supervised_guess`; the paper's Fig. 9 uses x0 = 1), which makes
  the labels jump between branches as `a` varies.

Clipping is per example on the update in sum-reduced units (see
`pg_keras.rules.base`), so it does not depend on the batch size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import keras
import tensorflow as tf

from pg_keras.batch import Y_TARGET, Batch
from pg_keras.networks import mlp
from pg_keras.physics import sin as physics
from pg_keras.problems.base import Problem, Scheme
from pg_keras.rules import Adjoint, InverseGradient, Newton
from pg_keras.rules.base import BackwardContext
from pg_keras.specs import PhysicsPrecision


@dataclasses.dataclass(frozen=True)
class SinSpec(PhysicsPrecision):
    """The data (`a` range, target), the network's hidden layers and the rules' clip.

    The paper's stack computes in float32 (`physics_dtype`); float64 shows what
    precision limits.
    """

    a_min: float = 0.1
    a_max: float = 10.1
    y_target: float = -1.0
    hidden: tuple[int, ...] = (10, 20, 10)
    clip: float = 1.0
    supervised_guess: float = 1.0

    def __post_init__(self):
        if not 0 < self.a_min < self.a_max:
            raise ValueError(
                f"Expected 0 < a_min < a_max. Received: a_min={self.a_min}, a_max={self.a_max}"
            )
        super().__post_init__()


def _minimise_simulated(y: tf.Tensor, y_target: tf.Tensor) -> tf.Tensor:
    """Newton's objective for sin: `P_a` itself (its minimum is the target −1)."""
    del y_target
    return tf.reduce_sum(y, axis=1)


class SinProblem(Problem):
    """Single parameter: find x with sin(a/x) = −1 for a ∈ [0.1, 10.1) (paper 3.1)."""

    name = "sin"
    spec_class = SinSpec
    learning_rate = 0.002
    batch_size = 1000
    optimizer = "adam"
    x_error_description = "|x − x_n|, x_n the exact solution nearest to x"
    inverse_name = "analytic inverse: nearest minimum"
    inverse_description = "PG from the analytic inverse"
    # The analytic inverse lands on a minimum in one jump; further jumps stay there.
    refine_iterations = 1

    def simulate(self, x: tf.Tensor, context: Batch) -> tf.Tensor:
        return physics.simulate(x, tf.cast(context["a"], x.dtype))

    def generate(self, batch_size: int, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        a = tf.random.stateless_uniform(
            [batch_size, 1], seed, self.spec.a_min, self.spec.a_max, dtype=tf.float32
        )
        return {Y_TARGET: tf.fill([batch_size, 1], self.spec.y_target), "a": a}

    def network_input(self, batch: Batch) -> tf.Tensor:
        return batch["a"]

    def build_network(self) -> keras.Model:
        return mlp(1, self.spec.hidden, 1, name="sin_mlp")

    def inverse(self, context: BackwardContext) -> tf.Tensor:
        """The analytic inverse: the minimum of `sin(a/x)` nearest to `x`."""
        return physics.analytic_inverse(context.x, tf.cast(context.extras["a"], context.x.dtype))

    def x_error(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        a = tf.cast(batch["a"], tf.float64)
        return physics.distance_to_solution(tf.cast(x, tf.float64), a)[:, 0]

    def supervised_labels(self, batch: Batch) -> tf.Tensor:
        guess = tf.fill(tf.shape(batch["a"]), self.spec.supervised_guess)
        return physics.analytic_inverse(guess, batch["a"])

    def serving_inputs(self) -> dict[str, tf.TensorSpec]:
        return {"a": tf.TensorSpec([None, 1], tf.float32, name="a")}

    def batch_from_serving(self, inputs: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        # y* is the spec's constant, not part of the observation.
        a = inputs["a"]
        return {Y_TARGET: tf.fill(tf.shape(a), tf.cast(self.spec.y_target, a.dtype)), "a": a}

    def schemes(self):
        clip = self.spec.clip
        return {
            **super().schemes(),
            "adjoint": lambda: Scheme(
                "adjoint", Adjoint(clip=clip), description="backprop through P, clipped"
            ),
            "newton": lambda: Scheme(
                "newton",
                Newton(downhill=True, clip=clip, objective=_minimise_simulated),
                description="PG from Newton on P, downhill, clipped",
            ),
            "inverse-gradient": lambda: Scheme(
                "inverse-gradient",
                InverseGradient(clip=clip),
                description="PG from −h/P'(x), clipped",
            ),
        }
