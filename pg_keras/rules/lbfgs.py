"""L-BFGS per example as the inverse solver (TFP's batched implementation)."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from pg_keras.rules.base import (
    BackwardContext,
    Objective,
    PhysicalGradientRule,
    objective_gradient,
    squared_residual,
)


class LBFGS(PhysicalGradientRule):
    """`x̃` = `iterations` L-BFGS iterations on `objective(P(x), y_target)`, from x.

    Each example is its own optimisation problem (TFP batches them: one
    position per row), so one hard example does not slow or stop the others.

    Args:
        iterations: maximum L-BFGS iterations per example (the paper's heat PG: 32).
        num_correction_pairs: L-BFGS memory.
        tolerance: gradient tolerance at which an example counts as converged.
    """

    def __init__(
        self,
        iterations: int = 32,
        num_correction_pairs: int = 10,
        tolerance: float = 1e-8,
        clip: float | None = None,
        objective: Objective = squared_residual,
    ):
        super().__init__(clip)
        if iterations < 1:
            raise ValueError(f"Expected `iterations` >= 1. Received: iterations={iterations}")
        self.iterations = iterations
        self.num_correction_pairs = num_correction_pairs
        self.tolerance = tolerance
        self.objective = objective

    def solve(self, context: BackwardContext) -> tf.Tensor:
        x = context.x
        shape = tf.shape(x)

        def value_and_gradients(flat):
            return objective_gradient(
                lambda z: context.simulate(tf.reshape(z, shape)),
                self.objective,
                flat,
                context.y_target,
            )

        result = tfp.optimizer.lbfgs_minimize(
            value_and_gradients,
            initial_position=tf.reshape(x, [shape[0], -1]),
            max_iterations=self.iterations,
            num_correction_pairs=self.num_correction_pairs,
            tolerance=self.tolerance,
        )
        # An example whose line search failed keeps the best point it reached;
        # TFP reports that point as `position`, so no special case is needed.
        return tf.reshape(result.position, shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "iterations": self.iterations,
            "num_correction_pairs": self.num_correction_pairs,
            "tolerance": self.tolerance,
        }
