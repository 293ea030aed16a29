"""The exported inverse solver: a `tf.Module` whose `tf.function`s become serving signatures.

Every signature takes the problem's serving inputs (float32, batch on axis 0, see
`pg_keras.export._serving`) and answers float32; the physics runs in the problem's
`physics_dtype` in between, as in training.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import keras
import tensorflow as tf

from pg_keras.batch import physics_inputs
from pg_keras.export._serving import refine_rule, serving_inputs
from pg_keras.physical_gradient import rule_update
from pg_keras.problems import Problem
from pg_keras.rules.base import GradientRule
from pg_keras.solving import iterate_inverse

#: Upper bound on `refine`'s `iterations`, so one request cannot hold a server thread for long.
MAX_REFINE_ITERATIONS = 10_000


class InverseSolverModule(tf.Module):
    """`serving_default`, `with_residual` and (where the problem has a PG rule) `refine`.

    Args:
        problem: the problem the network was trained on.
        network: the trained network (its variables are what the SavedModel stores).
    """

    def __init__(self, problem: Problem, network: keras.Model):
        super().__init__(name=f"{problem.name}_inverse_solver")
        self.network = network
        self._problem = problem
        self._rule = refine_rule(problem)
        specs = serving_inputs(problem)
        self._input_names = list(specs)
        signature = list(specs.values())
        self.serving_default = tf.function(self._flat(self._predict), input_signature=signature)
        self.with_residual = tf.function(self._flat(self._with_residual), input_signature=signature)
        if self._rule is not None:
            # One count per event ([batch]) or one for the whole request ([1]); batched so
            # that row-format REST and --enable_batching carry it like any other input.
            iterations = tf.TensorSpec([None], tf.int32, name="iterations")
            self.refine = tf.function(
                self._with_default(
                    self._flat(self._refine, extra=1),
                    "iterations",
                    tf.constant([problem.refine_iterations], tf.int32),
                ),
                input_signature=[*signature, iterations],
            )

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """The serving signatures by name, for `tf.saved_model.save`.

        `refine` is passed as its `tf.function`, not a concrete function: only then does
        `tf.saved_model.save` write its tensor default into the SignatureDef's `defaults`,
        which TF Serving's gRPC Predict fills in when a request leaves the input out.
        """
        names = ["serving_default", "with_residual"]
        signatures = {name: getattr(self, name).get_concrete_function() for name in names}
        if self._rule is not None:
            signatures["refine"] = self.refine
        return signatures

    def _with_default(self, function: Callable, name: str, default: tf.Tensor) -> Callable:
        # The signature's inputs are positional and their number depends on the problem, so
        # the last one gets its default through an explicit signature (what `tf.function`
        # reads to find argument defaults).
        parameters = [
            inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in self._input_names
        ]
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
        )

        def call(*tensors):
            return function(*tensors)

        call.__signature__ = inspect.Signature(parameters)
        return call

    def _flat(self, method: Callable, extra: int = 0) -> Callable:
        # Signatures take flat tensors named by their TensorSpecs; the methods take a dict.
        count = len(self._input_names)

        def call(*tensors):
            inputs = dict(zip(self._input_names, tensors[:count], strict=True))
            return method(inputs, *tensors[count : count + extra])

        return call

    # The computations -------------------------------------------------------
    def _guess(self, inputs: dict[str, tf.Tensor]) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The network's `x` (physics dtype) and the batch the request stands for."""
        problem = self._problem
        batch = problem.batch_from_serving(inputs)
        x = problem.predict_x(self.network, batch)
        return tf.cast(x, problem.physics_dtype), batch

    def _predict(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        x, _ = self._guess(inputs)
        return {"x": tf.cast(x, tf.float32)}

    def _with_residual(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        x, batch = self._guess(inputs)
        y_target, context = physics_inputs(batch, self._problem.physics_dtype)
        y = self._problem.simulate(x, context)
        return {
            "x": tf.cast(x, tf.float32),
            "y": tf.cast(y, tf.float32),
            "residual": tf.cast(self._problem.y_loss(y, y_target), tf.float32),
        }

    def _refine(self, inputs: dict[str, tf.Tensor], iterations: tf.Tensor) -> dict[str, tf.Tensor]:
        checks = [
            tf.debugging.assert_greater_equal(iterations, 0, message="Expected `iterations` >= 0"),
            tf.debugging.assert_less_equal(
                iterations,
                MAX_REFINE_ITERATIONS,
                message=f"Expected `iterations` <= {MAX_REFINE_ITERATIONS}",
            ),
        ]
        with tf.control_dependencies(checks):
            x, batch = self._guess(inputs)
        events = tf.shape(x)[0]
        size = tf.size(iterations)
        count_check = tf.debugging.assert_equal(
            tf.logical_or(tf.equal(size, 1), tf.equal(size, events)),
            True,
            message="Expected `iterations` with one count per event, or one count",
        )
        with tf.control_dependencies([count_check]):
            iterations = tf.identity(iterations)
        per_event = tf.broadcast_to(iterations, [events])
        y_target, context = physics_inputs(batch, self._problem.physics_dtype)
        x = refine(x, y_target, context, self._problem, self._rule, per_event)
        return {"x": tf.cast(x, tf.float32)}


def refine(
    x: tf.Tensor,
    y_target: tf.Tensor,
    context: dict[str, tf.Tensor],
    problem: Problem,
    rule: GradientRule,
    iterations: tf.Tensor | int,
) -> tf.Tensor:
    """`iterations` steps `x ← x − Δx` of `rule`, aimed at `y_target`, from `x`.

    `iterations` is one count for the batch, or one per event (shape `[batch]`): an
    event's `x` stops changing once its own count is reached (`iterate_inverse`). For
    an inverse-physics rule without clipping one step is `x ← P⁻¹(y* | x)`.
    """
    update = rule_update(rule, lambda state: problem.simulate(state, context), y_target, context)
    return iterate_inverse(update, x, iterations).position
