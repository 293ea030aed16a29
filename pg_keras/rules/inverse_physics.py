"""A problem's own inverse solver (analytic inverse, inverse simulator, ...)."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from pg_keras.rules.base import BackwardContext, PhysicalGradientRule


class InversePhysics(PhysicalGradientRule):
    """`x̃ = solver(context)`, for a domain-specific inverse `P⁻¹(y_target | x)`.

    Args:
        solver: `BackwardContext -> x̃`, batched, same shape and dtype as `context.x`.
        name: what the solver is, for logs and configs.
    """

    def __init__(
        self,
        solver: Callable[[BackwardContext], tf.Tensor],
        name: str = "inverse-physics",
        clip: float | None = None,
    ):
        super().__init__(clip)
        if not callable(solver):
            raise TypeError(f"Expected `solver` to be callable. Received: solver={solver!r}")
        self.solver = solver
        self.name = name

    def solve(self, context: BackwardContext) -> tf.Tensor:
        return self.solver(context)

    def get_config(self) -> dict:
        return {**super().get_config(), "solver": self.name}
