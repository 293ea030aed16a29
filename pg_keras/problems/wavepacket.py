"""Wave packet fit: find `x = (ξ0, A)` from a noisy packet (paper Fig. 1, Fig. 8, appendix B.1).

`y* = A · sin(f ξ) · exp(−½ (ξ − ξ0)² / σ²) + n` on 256 samples, `f = 4`,
`σ = 20`, `ξ0 ~ U[25.6, 230.4)`, `A ~ U[1, 4)`, `n ~ N(0, noise²)` per sample.
The paper's noise scale is garbled in its text ("N(0, ∣)"); we read it as
`N(0, 1)`, and `WavePacketSpec.noise` sets it.

The network is B.1's: five blocks of (max-pool 2, two Conv1D k=3 with 16
maps, ReLU), dense 64 and 32 (ReLU), then 2 outputs. The ξ0 output goes through
a sigmoid scaled to [25.6, 230.4], which is 128 at zero; the A output is
offset by 2. So an untrained network starts where L-BFGS-B starts,
`(ξ0, A) = (128, 2)` (the paper: "the network output is offset by the same
amount"). Adam, lr 1e-3, batch 100.

Schemes: `adjoint` (the paper's), `gradient-descent` (equals adjoint by
Theorem 1), `newton` (PG from a few Levenberg–Marquardt iterations, the
damped Gauss–Newton method natural for this least-squares fit), `lbfgs` (PG
from a few batched L-BFGS iterations), `supervised` (`½‖x − x*‖²`).

Per-event solvers (`pg-keras solve wavepacket --solver …`): the generic ones
of `pg_keras.solving`, started from `(128, 2)`; `scipy-lbfgsb` is the paper's
baseline. A solution counts as diverged when the packet centre left the
recorded window or `|A|` exceeds twice the largest amplitude in the data.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from pg_keras.batch import X_TARGET, Y_TARGET, Batch
from pg_keras.physics import iterative
from pg_keras.physics import wavepacket as physics
from pg_keras.problems.base import Problem, Scheme
from pg_keras.rules import LBFGS, InversePhysics
from pg_keras.rules.base import BackwardContext
from pg_keras.specs import PhysicsPrecision, Spec, check_at_least, check_positive


@dataclasses.dataclass(frozen=True)
class WavePacketPhysics(PhysicsPrecision):
    """The packet model: `samples` positions, carrier `frequency`, envelope `width`."""

    samples: int = 256
    frequency: float = 4.0
    width: float = 20.0

    def __post_init__(self):
        if self.samples < 32:
            # Five max-pool blocks halve the signal five times.
            raise ValueError(f"Expected `samples` >= 32. Received: samples={self.samples}")
        check_positive(self, "width")
        super().__post_init__()


@dataclasses.dataclass(frozen=True)
class WavePacketData(Spec):
    """The events: noise scale and the ranges `ξ0*` and `A*` are drawn from."""

    noise: float = 1.0
    xi0_min: float = 25.6
    xi0_max: float = 230.4
    amp_min: float = 1.0
    amp_max: float = 4.0

    def __post_init__(self):
        if self.noise < 0:
            raise ValueError(f"Expected `noise` >= 0. Received: noise={self.noise}")
        if not 0 < self.amp_min < self.amp_max:
            raise ValueError(
                "Expected 0 < amp_min < amp_max. "
                f"Received: amp_min={self.amp_min}, amp_max={self.amp_max}"
            )
        super().__post_init__()


@dataclasses.dataclass(frozen=True)
class WavePacketSpec(WavePacketData, WavePacketPhysics):
    """Physics, data, start and solver settings of the wave-packet fit (defaults: the paper's)."""

    #: Where L-BFGS-B starts and where the untrained network's output sits.
    initial_xi0: float = 128.0
    initial_amp: float = 2.0
    #: Iterations of the inverse solver inside one PG (newton: LM, lbfgs: L-BFGS).
    newton_iterations: int = 5
    lbfgs_iterations: int = 10
    #: `|ξ0* − initial_xi0|` above which a packet counts as far from the centre.
    far: float = 60.0

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.xi0_min < self.xi0_max <= self.samples:
            raise ValueError(
                f"Expected 0 <= xi0_min < xi0_max <= samples. Received: xi0_min={self.xi0_min}, "
                f"xi0_max={self.xi0_max}, samples={self.samples}"
            )
        if not self.xi0_min < self.initial_xi0 < self.xi0_max:
            # The sigmoid head cannot output ξ0 outside (xi0_min, xi0_max).
            raise ValueError(
                f"Expected xi0_min < initial_xi0 < xi0_max. Received: initial_xi0="
                f"{self.initial_xi0}, range [{self.xi0_min}, {self.xi0_max})"
            )
        check_at_least(self, 1, "newton_iterations", "lbfgs_iterations")


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


class WavePacketProblem(Problem):
    """Wave packet fit: locate ξ0 and amplitude A of a noisy packet (paper Fig. 1, B.1)."""

    name = "wavepacket"
    spec_class = WavePacketSpec
    learning_rate = 1e-3
    batch_size = 100
    optimizer = "adam"
    x_error_description = "mean of |ξ0 − ξ0*| and |A − A*| per event"
    extra_metric_names = ("xi0_mae", "amp_mae")

    # Physics -------------------------------------------------------------------
    def simulate(self, x: tf.Tensor, context: Batch) -> tf.Tensor:
        del context  # every event shares f, σ and the sample positions
        spec = self.spec
        xi = physics.sample_positions(spec.samples, x.dtype)
        return physics.simulate(x, xi, spec.frequency, spec.width)

    # Data ----------------------------------------------------------------------
    def generate(self, batch_size: int, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        spec = self.spec
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
        xi0 = tf.random.stateless_uniform(
            [batch_size, 1], seeds[0], spec.xi0_min, spec.xi0_max, dtype=self.physics_dtype
        )
        amplitude = tf.random.stateless_uniform(
            [batch_size, 1], seeds[1], spec.amp_min, spec.amp_max, dtype=self.physics_dtype
        )
        x = tf.concat([xi0, amplitude], axis=1)
        noise = spec.noise * tf.random.stateless_normal(
            [batch_size, spec.samples], seeds[2], dtype=self.physics_dtype
        )
        return {Y_TARGET: self.simulate(x, {}) + noise, X_TARGET: x}

    # Network -------------------------------------------------------------------
    def build_network(self) -> keras.Model:
        """B.1's 1D conv net; output `[batch, 2]` = (ξ0 ∈ (xi0_min, xi0_max), A)."""
        spec = self.spec
        signal = keras.Input((spec.samples,), name="signal")
        h = keras.layers.Reshape((spec.samples, 1))(signal)
        for block in range(5):
            h = keras.layers.MaxPooling1D(2, name=f"pool{block}")(h)
            for conv in range(2):
                h = keras.layers.Conv1D(
                    16, 3, padding="same", activation="relu", name=f"conv{block}_{conv}"
                )(h)
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dense(64, activation="relu", name="dense64")(h)
        h = keras.layers.Dense(32, activation="relu", name="dense32")(h)
        raw = keras.layers.Dense(2, name="raw")(h)
        span = spec.xi0_max - spec.xi0_min
        # Shift the sigmoid so a zero output means the initial guess (128 for the paper).
        shift = _logit((spec.initial_xi0 - spec.xi0_min) / span)
        xi0 = spec.xi0_min + span * keras.ops.sigmoid(raw[:, 0:1] + shift)
        amplitude = raw[:, 1:2] + spec.initial_amp
        x = keras.layers.Concatenate(name="xi0_amp")([xi0, amplitude])
        return keras.Model(signal, x, name="wavepacket_conv")

    # Metrics -------------------------------------------------------------------
    def extra_metrics(self, x: tf.Tensor, batch: Batch) -> dict[str, tf.Tensor]:
        diff = tf.abs(tf.cast(x, tf.float64) - tf.cast(batch[X_TARGET], tf.float64))
        return {"xi0_mae": diff[:, 0], "amp_mae": diff[:, 1]}

    # Gradient schemes ----------------------------------------------------------
    def schemes(self):
        spec = self.spec

        def levenberg_marquardt(context: BackwardContext) -> tf.Tensor:
            return iterative.levenberg_marquardt(
                lambda z: context.simulate(z) - context.y_target,
                context.x,
                max_iterations=spec.newton_iterations,
            ).position

        return {
            **super().schemes(),
            "newton": lambda: Scheme(
                "newton",
                InversePhysics(
                    levenberg_marquardt,
                    name=f"{spec.newton_iterations} Levenberg-Marquardt iterations",
                ),
                description=f"PG from {spec.newton_iterations} Levenberg–Marquardt "
                "(damped Gauss–Newton) iterations",
            ),
            "lbfgs": lambda: Scheme(
                "lbfgs",
                LBFGS(iterations=spec.lbfgs_iterations),
                description=f"PG from {spec.lbfgs_iterations} batched L-BFGS iterations",
            ),
        }

    # Per-event solving -----------------------------------------------------------
    def initial_guess(self, batch: Batch) -> tf.Tensor:
        events = tf.shape(batch[Y_TARGET])[0]
        guess = tf.constant([[self.spec.initial_xi0, self.spec.initial_amp]], tf.float64)
        return tf.tile(guess, [events, 1])

    def diverged(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        del batch
        xi0, amplitude = x[:, 0], x[:, 1]
        outside = (xi0 < 0) | (xi0 >= self.spec.samples)
        return outside | (tf.abs(amplitude) > 2 * self.spec.amp_max)

    def event_groups(self, batch: Batch) -> dict[str, np.ndarray]:
        if X_TARGET not in batch:
            return {}
        offset = np.abs(np.asarray(batch[X_TARGET])[:, 0] - self.spec.initial_xi0)
        return {"near": offset <= self.spec.far, "far": offset > self.spec.far}

    def observation_shape(self) -> tuple[int, ...]:
        return (self.spec.samples,)
