"""Incompressible flow with a marker: infer `v0` from `(m0, m_t)` (paper 3.4, appendix B.5).

Physics (`pg_keras.physics.fluid`): 64 × 64 cells, `dx = 2` (a 128 × 128
periodic domain), 8 steps of `dt = 0.25` (t = 2); staggered velocity, marker
at cell centres, MacCormack advection, pressure projection, energy
renormalisation. `x ≡ v0` is a centred velocity `[batch, 64, 64, 2]`
(vx, vy), averaged onto the faces by the simulator; `y = m_t`.

Data (`_fluid_data`, the authors' recipe): a marker `m0` of a few blobs in a
random box, `v0` = uniform flow towards the centre + one Gaussian vortex + small
noise, made divergence-free; `m_t = P(v0)`.

Batch keys: `y_target` (m_t), `x_target` (v0), `marker0` (m0, the simulator's
context) and `marker_target` (m_t again). The copy is there because the
physics layer hands a PG rule `y − s·dy`, which equals `m*` only for a
squared loss; B.5's inverse simulator runs backwards from `m*` itself.

Objective: B.5's frequency-weighted `Σ sqrt(max(|F(m − m*)·w|², 1e-5))`
(`physics.fluid.frequency_weighted_loss`), `w_k = exp(−½|k|²·80²)`, `k` in
cycles per cell, as in the authors' code (modes 1, 2, 3 weigh 0.46, 0.044,
0.0009). `y_loss` stays `½‖m − m*‖²`; `x_mae` is mean |v0 − v0*|
over cells and both components.

Network: a U-Net with 5 levels on `[m0, m_t]` (2 maps), 2 output maps
(`pg_keras.networks.unet`). Adam, lr 0.005, batch 64.

Schemes: `adjoint` (backprop through the simulator) and `inverse-physics`,
the PG from B.5's inverse simulator (`physics.fluid.inverse_vortex_update`,
`inverse_iterations` updates per PG): `x̃ = u + ω'·φ` fits only the uniform
flow and the one vortex, ignoring the small-scale noise, which limits the
accuracy it can reach (as B.5 says).

Per-event solvers (`pg-keras solve fluid --solver …`): `gd`, gradient descent
on the objective with `η = gd_learning_rate` (paper Fig. 6b: η = 1), and
`inverse-physics`, the inverse simulator iterated, both from `v0 = 0`.

Export: a request holds `marker0` and `y_target` (m_t); `refine` iterates the
inverse simulator.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import ClassVar

import keras
import tensorflow as tf

from pg_keras.batch import X_TARGET, Y_TARGET, Batch, PhysicsInputs
from pg_keras.networks import unet
from pg_keras.physics import fluid as physics
from pg_keras.problems._fluid_data import FluidData, draw_events
from pg_keras.problems._images import field_strip
from pg_keras.problems.base import Problem
from pg_keras.rules.base import BackwardContext
from pg_keras.solving import Solver, gradient_descent, inverse_iteration_solver
from pg_keras.specs import PhysicsPrecision, check_at_least, check_positive

MARKER0 = "marker0"
MARKER_TARGET = "marker_target"
PRESSURE_SOLVERS = ("fft", "cg")


@dataclasses.dataclass(frozen=True)
class FluidPhysics(PhysicsPrecision):
    """The grid, the time stepping and the pressure solve (defaults: the paper's).

    `correction` is MacCormack's correction strength (0: semi-Lagrangian); the
    pressure solve is "fft" (exact periodic solve) or "cg" (the shared CG with warm
    start and adjoint gradient, B.5's), stopped at `cg_rtol`.
    """

    resolution: int = 64
    dx: float = 2.0
    dt: float = 0.25
    steps: int = 8
    correction: float = 1.0
    pressure_solver: str = "fft"
    cg_rtol: float = 1e-5

    def __post_init__(self):
        if self.resolution < 16 or self.resolution % 16:
            # Four 2x poolings of the 5-level U-Net.
            raise ValueError(
                f"Expected `resolution` a multiple of 16. Received: resolution={self.resolution}"
            )
        check_positive(self, "dx", "dt")
        check_at_least(self, 1, "steps")
        if self.pressure_solver not in PRESSURE_SOLVERS:
            raise ValueError(
                f"Expected pressure_solver in {PRESSURE_SOLVERS}. "
                f"Received: pressure_solver={self.pressure_solver!r}"
            )
        super().__post_init__()

    @property
    def duration(self) -> float:
        return self.dt * self.steps

    @property
    def size(self) -> float:
        return self.resolution * self.dx

    def solve_poisson(self) -> physics.PoissonSolver:
        """The pressure solver `pressure_solver` names."""
        if self.pressure_solver == "cg":
            return physics.conjugate_gradient_poisson(self.cg_rtol)
        return physics.spectral_poisson


@dataclasses.dataclass(frozen=True)
class FluidSpec(FluidData, FluidPhysics):
    """Physics, data, loss and inverse-solver settings (defaults: the paper's, see module doc).

    `inverse_step_size` and `inverse_iterations`: B.5's inverse simulator, its step on
    the vortex strength and its updates per PG; `gd_learning_rate`: the per-event
    gradient descent's step (paper Fig. 6b: η = 1).
    """

    loss_wavelength: float = 80.0
    inverse_step_size: float = 1e-3
    inverse_iterations: int = 1
    gd_learning_rate: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        check_positive(self, "inverse_step_size")
        check_at_least(self, 1, "inverse_iterations")
        if not 0 <= self.marker_center_min <= self.marker_center_max <= self.size:
            raise ValueError(
                f"Expected 0 <= marker_center_min <= marker_center_max <= {self.size} (the "
                f"domain). Received: {self.marker_center_min}, {self.marker_center_max}"
            )


class FluidProblem(Problem):
    """Infer the initial velocity `v0` of a 2D incompressible flow from `(m0, m_t)` (paper 3.4)."""

    name = "fluid"
    spec_class = FluidSpec
    learning_rate = 0.005
    batch_size = 64
    optimizer = "adam"
    x_error_description = "mean |v0 − v0*| over cells and both components"
    #: `zero_mae`: the x_mae of predicting `v0 = 0` on the same batch, the scale a
    #: network that learned nothing sits at (it varies with the batch's speeds).
    extra_metric_names = ("zero_mae",)
    inverse_name = "B.5 inverse simulator"
    #: The simulator and the inverse simulator run XLA-compiled (how they run, not
    #: what they compute: no spec field); tests of tiny grids turn it off.
    physics_jit_compile: ClassVar[bool] = True

    # Physics -------------------------------------------------------------------
    @functools.cached_property
    def _simulate_compiled(self):
        spec = self.spec

        def run(velocity0, marker0):
            states = physics.simulate(
                velocity0,
                marker0,
                spec.dt,
                spec.dx,
                spec.steps,
                spec.solve_poisson(),
                correction=spec.correction,
            )
            return states[-1].marker, physics.pressure_solves(states)

        return tf.function(run, jit_compile=self.physics_jit_compile, reduce_retracing=True)

    def simulate(self, x: tf.Tensor, context: Batch) -> tf.Tensor:
        """`m_t = P(v0)` from `context["marker0"]`, `[batch, n, n]`."""
        marker0 = tf.cast(context[MARKER0], x.dtype)
        marker, solves = self._simulate_compiled(x, marker0)
        physics.check_converged(solves)  # outside XLA, which drops the check
        return marker

    def sequence(self, x: tf.Tensor, marker0: tf.Tensor) -> tf.Tensor:
        """The marker at every step, `[steps + 1, batch, n, n]` (for figures)."""
        spec = self.spec
        states = physics.simulate(x, marker0, spec.dt, spec.dx, spec.steps, spec.solve_poisson())
        return tf.stack([s.marker for s in states])

    def objective(self, y: tf.Tensor, y_target: tf.Tensor) -> tf.Tensor:
        return physics.frequency_weighted_loss(y, y_target, wavelength=self.spec.loss_wavelength)

    # Data ----------------------------------------------------------------------
    def generate(self, batch_size: int, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        marker0, velocity0 = draw_events(self.spec, batch_size, seed, self.physics_dtype)
        velocity0 = self.project(velocity0)  # the authors' data are divergence-free
        marker_t = self.simulate(velocity0, {MARKER0: marker0})
        return {
            Y_TARGET: marker_t,
            X_TARGET: velocity0,
            MARKER0: marker0,
            MARKER_TARGET: marker_t,
        }

    def extra_metrics(self, x: tf.Tensor, batch: Batch) -> dict[str, tf.Tensor]:
        """`zero_mae`: mean |v0*|, the error of predicting zero, per example."""
        return {"zero_mae": self.x_error(tf.zeros_like(batch[X_TARGET]), batch)}

    # Network -------------------------------------------------------------------
    def project(self, velocity: tf.Tensor) -> tf.Tensor:
        """`v0` made divergence-free, as every velocity the authors simulate."""
        velocity, solve = physics.make_incompressible_centered(
            velocity, self.spec.dx, self.spec.solve_poisson()
        )
        physics.check_converged(solve, "projection of v0")
        return velocity

    def postprocess(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        """The network's `v0` made divergence-free (`project`)."""
        del batch
        return self.project(x)

    def network_input(self, batch: Batch) -> tf.Tensor:
        """`[m0, m_t]` as 2 maps, `[batch, n, n, 2]` float32."""
        return tf.cast(tf.stack([batch[MARKER0], batch[Y_TARGET]], axis=-1), tf.float32)

    def build_network(self) -> keras.Model:
        """B.5's U-Net: 5 levels, 2 maps in (m0, m_t), 2 maps out (v0 at cell centres).

        The shared B.3 U-Net (conv, batch norm, ReLU) with channel axes: 49,570
        trainable weights, B.5's count. A plain conv + ReLU U-Net without batch
        norm (this module's earlier interim net) did not learn at Adam lr 0.005:
        trained *supervised* on `v0*` for 200 steps at batch 16 it stayed at the
        zero prediction (x_mae 9.9), while this one reached 4.0 (see docs/fluid.md).
        """
        n = self.spec.resolution
        # Keras's init and batch norm ε, as this net was measured with; the heat and
        # Poisson defaults (PyTorch's init, a zero output layer) are not measured here.
        return unet(
            (n, n),
            levels=5,
            filters=16,
            name="fluid_unet",
            in_channels=2,
            out_channels=2,
            init="glorot",
            output_init="glorot",
            bn_epsilon=1e-3,
        )

    def image_summary(self, batch: Batch, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """TensorBoard strip per example: m0, m*, |v0| predicted, |v0*|, P(x).

        Speeds are divided by the example's largest true speed, so markers
        (in [0, 1]) and speeds share the strip's colour scale.
        """
        speed = tf.norm(tf.cast(x, tf.float32), axis=-1)
        true_speed = tf.norm(tf.cast(batch[X_TARGET], tf.float32), axis=-1)
        scale = tf.maximum(tf.reduce_max(true_speed, axis=[1, 2], keepdims=True), 1e-6)
        fields = [batch[MARKER0], batch[Y_TARGET], speed / scale, true_speed / scale, y]
        return field_strip([tf.cast(f, tf.float32) for f in fields])

    # Gradient schemes ----------------------------------------------------------
    def _vortex_update(self, velocity, marker0, marker_target) -> physics.InverseUpdate:
        """One update of B.5's inverse simulator (`physics.inverse_vortex_update`)."""
        spec = self.spec
        return physics.inverse_vortex_update(
            velocity,
            marker0,
            marker_target,
            spec.dt,
            spec.dx,
            spec.steps,
            spec.vortex_width,
            spec.inverse_step_size,
            spec.solve_poisson(),
        )

    @functools.cached_property
    def _inverse_compiled(self):
        def run(velocity, marker0, marker_target):
            solves = []
            for _ in range(self.spec.inverse_iterations):
                update = self._vortex_update(velocity, marker0, marker_target)
                velocity = update.velocity
                solves.append(update.solves)
            return velocity, physics.merge_results(solves)

        return tf.function(run, jit_compile=self.physics_jit_compile, reduce_retracing=True)

    def inverse(self, context: BackwardContext) -> tf.Tensor:
        """B.5's `P⁻¹(m0, m* | v0)`: `u + ω'·φ` after `inverse_iterations` updates."""
        x = context.x
        extras = context.extras
        velocity, solves = self._inverse_compiled(
            x, tf.cast(extras[MARKER0], x.dtype), tf.cast(extras[MARKER_TARGET], x.dtype)
        )
        physics.check_converged(solves, "inverse simulator's pressure solves")
        return velocity

    @property
    def inverse_description(self) -> str:
        return (
            f"PG from {self.spec.inverse_iterations} update(s) of B.5's inverse "
            "simulator (uniform flow + one vortex)"
        )

    def schemes(self):
        # Theorem 1's gradient-descent PG equals adjoint; the fluid runs are costly.
        return {k: v for k, v in super().schemes().items() if k != "gradient-descent"}

    # Per-event solving -----------------------------------------------------------
    def solvers(self) -> dict[str, Solver]:
        """`gd`, and `inverse-physics`: B.5's inverse simulator iterated on every event at
        once, each event converged once its vortex strength moves less than 1e-4 in an
        update (it keeps iterating: the batch runs together)."""
        return {
            "gd": gradient_descent(self.spec.gd_learning_rate),
            "inverse-physics": inverse_iteration_solver(
                self._checked_update, descent=False, settled=self._strength_settled
            ),
        }

    @functools.cached_property
    def _update_compiled(self):
        return tf.function(
            self._vortex_update, jit_compile=self.physics_jit_compile, reduce_retracing=True
        )

    def _checked_update(self, problem: Problem, inputs: PhysicsInputs):
        """`velocity -> velocity`: one compiled update, its solves checked outside XLA."""
        del problem

        def update(velocity):
            result = self._update_compiled(velocity, inputs.context[MARKER0], inputs.y_target)
            check = physics.check_converged(result.solves, "inverse simulator's pressure solves")
            with tf.control_dependencies([check]):
                return tf.identity(result.velocity)

        return update

    def _strength_settled(self, inputs: PhysicsInputs):
        """`(previous, new) -> |ω(new) − ω(previous)| < 1e-4`, `ω` the vortex strength."""
        spec = self.spec
        marker0 = inputs.context[MARKER0]
        uniform = physics.uniform_velocity(marker0, spec.dx, spec.duration)
        middle = tf.fill([tf.shape(marker0)[0], 2], tf.constant(spec.size / 2, marker0.dtype))
        n = spec.resolution
        profile = physics.vortex_profile(n, n, spec.dx, middle, spec.vortex_width, marker0.dtype)
        # The inverse update measures the strength against the projected vortex.
        profile, solve = physics.make_incompressible_centered(
            profile, spec.dx, spec.solve_poisson()
        )
        physics.check_converged(solve, "projection of the prior's vortex")

        def settled(previous, new):
            before = physics.project_strength(previous, uniform, profile)
            return tf.abs(physics.project_strength(new, uniform, profile) - before) < 1e-4

        return settled

    def initial_guess(self, batch: Batch) -> tf.Tensor:
        n = self.spec.resolution
        return tf.zeros([tf.shape(batch[Y_TARGET])[0], n, n, 2], tf.float64)

    def observation_shape(self) -> tuple[int, ...]:
        n = self.spec.resolution
        return (n, n)

    def serving_inputs(self) -> dict[str, tf.TensorSpec]:
        """A request holds `m0` and `m_t`, what the network sees."""
        n = self.spec.resolution
        return {
            name: tf.TensorSpec([None, n, n], tf.float32, name=name) for name in (MARKER0, Y_TARGET)
        }

    def batch_from_serving(self, inputs: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        # The inverse simulator runs backwards from m* itself (see the module docstring).
        return {**inputs, MARKER_TARGET: inputs[Y_TARGET]}
