"""What a problem provides: physics, data, network, metrics and gradient schemes."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from pg_keras.rules import Adjoint, GradientDescent, GradientRule, Supervised
from pg_keras.rules.base import squared_residual

#: Keys every generated batch has; all other keys are per-example context.
Y_TARGET = "y_target"
X_TARGET = "x_target"

Batch = Mapping[str, tf.Tensor]

if TYPE_CHECKING:
    from pg_keras.solving import Solver


@dataclasses.dataclass(frozen=True)
class Scheme:
    """A way to train: a gradient rule (or supervised mode) and its optimizer.

    `optimizer` and `learning_rate` override the problem's defaults where the
    paper trains a scheme differently (e.g. SGD with momentum on Poisson).
    """

    name: str
    rule: GradientRule | Supervised
    optimizer: str | None = None
    learning_rate: float | None = None
    description: str = ""


class Problem(abc.ABC):
    """An inverse problem `y* = P(x*)`, to be solved by a network `x = NN(y*)`.

    Subclasses are one module each and set `name`, `spec_class`, the default
    `learning_rate`, `batch_size` and `optimizer` (the paper's), and implement
    the abstract methods. The simulator itself lives in `pg_keras.physics`.
    """

    name: ClassVar[str]
    spec_class: ClassVar[type]
    learning_rate: ClassVar[float] = 1e-3
    batch_size: ClassVar[int] = 32
    optimizer: ClassVar[str] = "adam"
    #: dtype the physics runs in unless the spec has a `physics_dtype` field;
    #: the network stays float32.
    default_physics_dtype: ClassVar[str] = "float32"
    #: what `x_error` measures, for reports.
    x_error_description: ClassVar[str] = "mean |x − x*| per example"
    #: keys of `extra_metrics`, logged beside `y_loss` and `x_mae` in training.
    extra_metric_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: Any = None):
        self.spec = spec if spec is not None else self.spec_class()
        self.physics_dtype = tf.as_dtype(
            getattr(self.spec, "physics_dtype", self.default_physics_dtype)
        )

    # Physics -----------------------------------------------------------------
    @abc.abstractmethod
    def simulate(self, x: tf.Tensor, extras: Batch) -> tf.Tensor:
        """`y = P(x)`, batched, in `physics_dtype`."""

    def objective(self, y: tf.Tensor, y_target: tf.Tensor) -> tf.Tensor:
        """Per-example training loss in y space; default `½‖y − y*‖²`."""
        return squared_residual(y, y_target)

    def y_loss(self, y: tf.Tensor, y_target: tf.Tensor) -> tf.Tensor:
        """Per-example `½‖P(x) − y*‖²`, the metric every experiment reports."""
        return squared_residual(y, y_target)

    # Data --------------------------------------------------------------------
    @abc.abstractmethod
    def generate(self, batch_size: int, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        """A fresh batch from a stateless `seed` (shape [2]): `y_target`, maybe
        `x_target`, and per-example context. TF ops only, so it runs in tf.data."""

    def extras(self, batch: Batch) -> dict[str, tf.Tensor]:
        """The per-example context the simulator needs."""
        return {k: v for k, v in batch.items() if k not in (Y_TARGET, X_TARGET)}

    # Network -----------------------------------------------------------------
    @abc.abstractmethod
    def network_input(self, batch: Batch) -> tf.Tensor:
        """What the network sees for a batch (the observation, float32)."""

    @abc.abstractmethod
    def build_network(self) -> keras.Model:
        """The paper's network for this problem, unbuilt weights seeded by Keras."""

    def postprocess(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        """Maps the raw network output to the physical `x` (identity by default)."""
        return x

    # Metrics -----------------------------------------------------------------
    def x_error(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        """Per-example error of `x` against the truth, averaged into `x_mae`."""
        diff = tf.abs(tf.cast(x, tf.float64) - tf.cast(batch[X_TARGET], tf.float64))
        return tf.reduce_mean(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)

    def extra_metrics(self, x: tf.Tensor, batch: Batch) -> dict[str, tf.Tensor]:
        """Per-example metrics beyond `x_mae`, keyed by `extra_metric_names` ([batch] each)."""
        del x, batch
        return {}

    def image_summary(self, batch: Batch, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor | None:
        """Images `[n, h, w, 1|3]` in [0, 1] of a batch, its prediction `x` and `y = P(x)`,
        written to TensorBoard every few hundred steps; None (default): no images."""
        del batch, x, y
        return None

    def supervised_labels(self, batch: Batch) -> tf.Tensor:
        """Labels for supervised training: `x*` unless the problem says otherwise."""
        return batch[X_TARGET]

    # Gradient schemes --------------------------------------------------------
    def schemes(self) -> dict[str, Callable[[], Scheme]]:
        """Named ways to train this problem. Subclasses add their PG rules."""
        return {
            "adjoint": lambda: Scheme("adjoint", Adjoint(), description="backprop through P"),
            "gradient-descent": lambda: Scheme(
                "gradient-descent",
                GradientDescent(steps=1, learning_rate=1.0),
                description="PG from one unit GD step (equals adjoint, Theorem 1)",
            ),
            "supervised": lambda: Scheme(
                "supervised", Supervised(), description="½‖x − x*‖², no physics"
            ),
        }

    def scheme(self, name: str) -> Scheme:
        schemes = self.schemes()
        if name not in schemes:
            raise ValueError(
                f"Unknown gradient {name!r} for problem {self.name!r}. "
                f"Expected one of: {', '.join(sorted(schemes))}"
            )
        return schemes[name]()

    # Per-event solving and inference (see `pg_keras.solving`) ------------------
    def solvers(self) -> dict[str, Solver]:
        """Named per-event iterative solvers for `pg-keras solve`; subclasses add their own."""
        from pg_keras.solving import generic_solvers

        return generic_solvers()

    def initial_guess(self, batch: Batch) -> tf.Tensor:
        """Where per-event iterative solvers start, `[batch, ...]` like `x`."""
        raise ValueError(
            f"Problem {self.name!r} defines no initial guess for iterative solvers. "
            "Expected a subclass that overrides `initial_guess`"
        )

    def diverged(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        """Per-event bool: `x` left the region where a solution can lie (default: never)."""
        del batch
        return tf.zeros([tf.shape(x)[0]], tf.bool)

    def event_groups(self, batch: Batch) -> dict[str, np.ndarray]:
        """Named per-event bool masks that solve reports break errors down by."""
        del batch
        return {}

    def observation_shape(self) -> tuple[int, ...] | None:
        """Shape of one event's `y*`, checked by `check_observations` (None: unchecked)."""
        return None

    def check_observations(self, observations: Sequence | np.ndarray | tf.Tensor) -> np.ndarray:
        """Events `y*` as one array, or a ValueError naming the events that are unusable.

        Checked before any work so that a bad event fails the call up front,
        never halfway through a batch: every event must have
        `observation_shape()` and only finite samples.
        """
        events = [np.asarray(event) for event in observations]
        if not events:
            raise ValueError("Expected at least one event. Received: 0 events")
        expected = self.observation_shape()
        shapes = {event.shape for event in events}
        if expected is None and len(shapes) > 1:
            expected = events[0].shape
        if expected is not None:
            wrong = [i for i, event in enumerate(events) if event.shape != tuple(expected)]
            if wrong:
                first = wrong[0]
                raise ValueError(
                    f"Event {first} has shape {events[first].shape}; expected {tuple(expected)} "
                    f"for problem {self.name!r}. Events with the wrong shape: {_indices(wrong)}"
                )
        values = np.stack(events)
        if not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"Expected numeric events. Received: dtype={values.dtype}")
        finite = np.isfinite(values.reshape(len(events), -1))
        bad = np.flatnonzero(~finite.all(axis=1))
        if bad.size:
            first = int(bad[0])
            raise ValueError(
                f"Event {first} holds {int((~finite[first]).sum())} NaN or infinite samples "
                f"of {finite.shape[1]}; expected finite values. "
                f"Events with NaN or Inf: {_indices(bad.tolist())}"
            )
        return values

    def infer(self, network: keras.Model, observations) -> tf.Tensor:
        """The trained network's `x` for events `y*` (checked first), `[events, ...]`.

        Assumes the network sees the observation itself (`network_input` reads
        `y_target`), as for fitting problems like the wave packet.
        """
        values = self.check_observations(observations)
        batch = {Y_TARGET: tf.constant(values, tf.float32)}
        return self.postprocess(network(self.network_input(batch), training=False), batch)

    # Serving (see `pg_keras.export`) ----------------------------------------
    #: Iterations the exported `refine` signature is documented to default to; TF
    #: Serving cannot default a signature input, so clients send `iterations`.
    refine_iterations: ClassVar[int] = 10

    def serving_inputs(self) -> dict[str, tf.TensorSpec]:
        """What an exported model takes per request: float32 tensors by name, batch on axis 0.

        The names are keys of `generate`'s batch, so that warm-up requests come from
        the data generator. Default: the observation is `y*` itself (fitting problems
        like the wave packet), named `y_target`.
        """
        shape = self.observation_shape()
        if shape is None:
            sample = self.generate(1, tf.constant([0, 0], tf.int64))
            shape = tuple(sample[Y_TARGET].shape[1:])
        return {Y_TARGET: tf.TensorSpec([None, *shape], tf.float32, name=Y_TARGET)}

    def batch_from_serving(self, inputs: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """A batch (`y_target` plus the simulator's context) from a request's inputs.

        Default: the request holds the batch already (the observation is `y*`).
        Problems whose network sees something else derive `y*` here.
        """
        return dict(inputs)

    def refine_rule(self) -> GradientRule | None:
        """The rule whose update `x ← x − Δx` the exported `refine` signature repeats.

        Default: the `inverse-physics` scheme's rule, the problem's own inverse
        solver; None (no `refine` signature) where the problem has none.
        """
        make = self.schemes().get("inverse-physics")
        if make is None:
            return None
        rule = make().rule
        return rule if isinstance(rule, GradientRule) and rule.is_physical else None

    def describe(self) -> dict:
        """The problem spec, for logs and exported assets."""
        return {"problem": self.name, "spec": dataclasses.asdict(self.spec)}


def _indices(indices: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(str(i) for i in indices[:limit])
    return shown + (f" and {len(indices) - limit} more" if len(indices) > limit else "")
