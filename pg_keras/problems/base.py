"""What a problem is: three required hooks, and optional ones that each enable something.

A problem is an inverse problem `y* = P(x*)`, solved by a network `x = NN(y*)`. It is
one class, in the package (`pg_keras/problems/X.py` plus one registry line) or in any
importable file (`pg-keras train MODULE:CLASS ...`, or a `pg_keras.problems` entry
point; see `pg_keras.problems` and docs/own_problem.md).

Required (abstract):

    simulate(x, context)        y = P(x), batched, in `physics_dtype`, pure TF
    generate(batch_size, seed)  a batch from a stateless seed: y_target, x_target, context
    build_network()             the Keras network from `network_input(batch)` to x

Optional, each with its default and what it enables:

    inverse(context)            none; the `inverse-physics` scheme (train, compare),
                                the `inverse-physics` per-event solver, and export's
                                `refine` signature
    x_error(x, batch)           mean |x − x*|; `x_mae` in logs, reports and solves
    extra_metrics(x, batch)     none; more per-example metrics beside `x_mae`
      + extra_metric_names
    postprocess(x, batch)       identity; a physical x from the raw network output,
                                wherever x is predicted (`predict_x`)
    network_input(batch)        y* as float32; a network that sees more than y*
    objective(y, y*)            ½‖y − y*‖²; another training loss in y space
    initial_guess(batch)        none; `pg-keras solve` and `compare --baseline`
                                (per-event solvers start there)
    observation_shape()         none; `pg-keras export` of a problem whose request is
                                y* itself, and checked events in `solve`
    serving_inputs()            none; `pg-keras export` of a problem whose request
      + batch_from_serving()    holds more than y* (resolved in `pg_keras.export`)
    schemes() / solvers()       see below; more gradient schemes / per-event solvers
    diverged, event_groups      never / none; finer `solve` reports
    image_summary(batch, x, y)  none; TensorBoard images
    supervised_labels(batch)    x*; other labels for the `supervised` scheme

Class attributes: `name` (required), `spec_class` (a frozen dataclass; default: no
fields), the paper's `learning_rate`, `batch_size` and `optimizer`, and for the
optional hooks `inverse_name` / `inverse_description`, `x_error_description`,
`extra_metric_names`, `refine_iterations`.

Every problem has the schemes `adjoint`, `gradient-descent` and `supervised`; an
`inverse` adds `inverse-physics`. With an `initial_guess` it has the generic
per-event solvers of `pg_keras.solving` (and `inverse-physics` with an `inverse`).
The simulator's own numerics belong in pure-TF functions (`pg_keras.physics`, or the
problem's own file), tensors in and out, batch on axis 0.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from pg_keras.batch import X_TARGET, Y_TARGET, Batch, check_observations
from pg_keras.rules import Adjoint, GradientDescent, GradientRule, InversePhysics, Supervised
from pg_keras.rules.base import BackwardContext, squared_residual
from pg_keras.solving import Solver, generic_solvers, inverse_iteration_solver
from pg_keras.specs import Spec

__all__ = ["OPTIONAL_HOOKS", "NoSpec", "Problem", "Scheme"]

#: The optional hooks `pg-keras list` reports, and what each enables (see the table above).
OPTIONAL_HOOKS = {
    "inverse": "inverse-physics scheme and solver, export's refine",
    "initial_guess": "pg-keras solve, compare --baseline",
    "observation_shape": "pg-keras export (request: y*)",
    "serving_inputs": "pg-keras export (request: its own inputs)",
    "postprocess": "post-processed x",
    "x_error": "its own x_mae",
    "extra_metrics": "more metrics",
}


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


@dataclasses.dataclass(frozen=True)
class NoSpec(Spec):
    """The spec of a problem without settings."""


class Problem(abc.ABC):
    """An inverse problem `y* = P(x*)`, to be solved by a network `x = NN(y*)`.

    Subclasses set `name` and implement `simulate`, `generate` and `build_network`;
    every other hook is optional (see the module docstring for what each enables).
    """

    name: ClassVar[str]
    spec_class: ClassVar[type] = NoSpec
    learning_rate: ClassVar[float] = 1e-3
    batch_size: ClassVar[int] = 32
    optimizer: ClassVar[str] = "adam"
    #: what `x_error` measures, for reports.
    x_error_description: ClassVar[str] = "mean |x − x*| per example"
    #: keys of `extra_metrics`, logged beside `y_loss` and `x_mae` in training.
    extra_metric_names: ClassVar[tuple[str, ...]] = ()
    #: what `inverse` is: the `inverse-physics` rule's name and its scheme's description.
    inverse_name: ClassVar[str] = "inverse"
    inverse_description: ClassVar[str] = "PG from the problem's own inverse"
    #: Iterations the exported `refine` signature is documented to default to; TF
    #: Serving cannot default a signature input, so clients send `iterations`.
    refine_iterations: ClassVar[int] = 10

    def __init__(self, spec: Any = None):
        spec = self.spec_class() if spec is None else spec
        if not isinstance(spec, self.spec_class):
            raise TypeError(
                f"Expected a {self.spec_class.__name__} for problem {self.name!r}. "
                f"Received: {type(spec).__name__}"
            )
        self.spec = spec
        #: The physics runs in the spec's `physics_dtype` (float32 without one); the
        #: network stays float32.
        self.physics_dtype = tf.as_dtype(getattr(spec, "physics_dtype", "float32"))

    def has(self, hook: str) -> bool:
        """Whether this problem implements the optional `hook` (overrides the default)."""
        return getattr(type(self), hook) is not getattr(Problem, hook)

    # Required ------------------------------------------------------------------
    @abc.abstractmethod
    def simulate(self, x: tf.Tensor, context: Batch) -> tf.Tensor:
        """`y = P(x)`, batched, in `physics_dtype`; `context` is the batch's context
        (every key but `y_target` and `x_target`), cast by `pg_keras.batch`."""

    @abc.abstractmethod
    def generate(self, batch_size: int, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        """A fresh batch from a stateless `seed` (shape [2]): `y_target`, maybe
        `x_target`, and per-example context. TF ops only, so it runs in tf.data."""

    @abc.abstractmethod
    def build_network(self) -> keras.Model:
        """The network from `network_input(batch)` to `x`, unbuilt weights seeded by Keras."""

    # Physics -------------------------------------------------------------------
    def objective(self, y: tf.Tensor, y_target: tf.Tensor) -> tf.Tensor:
        """Per-example training loss in y space; default `½‖y − y*‖²`."""
        return squared_residual(y, y_target)

    def y_loss(self, y: tf.Tensor, y_target: tf.Tensor) -> tf.Tensor:
        """Per-example `½‖P(x) − y*‖²`, the metric every experiment reports."""
        return squared_residual(y, y_target)

    def inverse(self, context: BackwardContext) -> tf.Tensor:
        """Optional: the problem's own inverse `x̃ = P⁻¹(y* | x)` at `context`, batched,
        shaped like `context.x` (`context.y = P(x)`, `context.y_target = y*`)."""
        raise NotImplementedError(
            f"Problem {self.name!r} defines no inverse. Expected a subclass that overrides "
            "`inverse` for the inverse-physics scheme, solver and refine signature"
        )

    # Network -------------------------------------------------------------------
    def network_input(self, batch: Batch) -> tf.Tensor:
        """What the network sees for a batch; default the observation `y*`, as float32."""
        return tf.cast(batch[Y_TARGET], tf.float32)

    def postprocess(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        """Maps the raw network output to the physical `x` (identity by default)."""
        del batch
        return x

    def predict_x(self, network: keras.Model, batch: Batch, training: bool = False) -> tf.Tensor:
        """The physical prediction `x` for a batch, `[batch, ...]`: the network on
        `network_input`, post-processed. Training, images, export and `infer` all use it."""
        return self.postprocess(network(self.network_input(batch), training=training), batch)

    def infer(self, network: keras.Model, observations) -> tf.Tensor:
        """The trained network's `x` for events `y*` (checked first), `[events, ...]`,
        for problems whose network sees only the observation."""
        values = check_observations(observations, self.observation_shape(), self.name)
        return self.predict_x(network, {Y_TARGET: tf.constant(values, tf.float32)})

    # Metrics -------------------------------------------------------------------
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

    # Gradient schemes ----------------------------------------------------------
    def schemes(self) -> dict[str, Callable[[], Scheme]]:
        """Named ways to train this problem; subclasses add their own PG rules."""
        schemes = {
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
        if self.has("inverse"):
            schemes["inverse-physics"] = lambda: Scheme(
                "inverse-physics",
                InversePhysics(self.inverse, name=self.inverse_name),
                description=self.inverse_description,
            )
        return schemes

    def scheme(self, name: str) -> Scheme:
        schemes = self.schemes()
        if name not in schemes:
            raise ValueError(
                f"Unknown gradient {name!r} for problem {self.name!r}. "
                f"Expected one of: {', '.join(sorted(schemes))}"
            )
        return schemes[name]()

    # Per-event solving (see `pg_keras.solving`) ----------------------------------
    def solvers(self) -> dict[str, Solver]:
        """Named per-event solvers for `pg-keras solve`: none without an `initial_guess`;
        else the generic ones, and `inverse-physics` (the inverse iterated while it lowers
        the objective) with an `inverse`."""
        if not self.has("initial_guess"):
            return {}
        solvers = generic_solvers()
        if self.has("inverse"):
            solvers["inverse-physics"] = inverse_iteration_solver()
        return solvers

    def initial_guess(self, batch: Batch) -> tf.Tensor:
        """Optional: where per-event solvers start, `[batch, ...]` like `x`."""
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
        """Optional: the shape of one event's `y*` (None: not declared). Events handed to
        `solve` are checked against it; export serves `y*` of this shape."""
        return None

    # Serving (resolved by `pg_keras.export`) -------------------------------------
    def serving_inputs(self) -> dict[str, tf.TensorSpec] | None:
        """Optional: what an exported model takes per request, float32 tensors by name,
        batch on axis 0, named by keys of `generate`'s batch (warm-up requests come from
        it). None (default): the request is `y*` itself, of `observation_shape()`."""
        return None

    def batch_from_serving(self, inputs: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """A batch (`y_target` plus the simulator's context) from a request's inputs;
        default: the request is the batch (only needed beside `serving_inputs`)."""
        return dict(inputs)

    def describe(self) -> dict:
        """The problem spec, for logs and exported assets."""
        return {"problem": self.name, "spec": dataclasses.asdict(self.spec)}
