"""What a problem provides: physics, data, network, metrics and gradient schemes."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import keras
import tensorflow as tf

from pg_keras.rules import Adjoint, GradientDescent, GradientRule, Supervised
from pg_keras.rules.base import squared_residual

#: Keys every generated batch has; all other keys are per-example context.
Y_TARGET = "y_target"
X_TARGET = "x_target"

Batch = Mapping[str, tf.Tensor]


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

    def describe(self) -> dict:
        """The problem spec, for logs and exported assets."""
        return {"problem": self.name, "spec": dataclasses.asdict(self.spec)}
