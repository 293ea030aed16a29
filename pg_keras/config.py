"""Frozen configuration, split by concern; the CLI maps its flags onto these.

Every default and every choice is written here once: `TrainingConfig` for one run,
`CompareConfig` for several schemes and seeds from the same start (its defaults are
`TrainingConfig`'s), `BaselineConfig` for the per-event solver a comparison is held
against. The CLI reads its flag defaults and choices from these (`default`).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

OPTIMIZERS = ("adam", "sgd-momentum")
#: "constant": the paper's fixed learning rate. "cosine": from the learning rate down
#: to zero over the run's `steps` (half a cosine period), the same for every scheme.
LR_SCHEDULES = ("constant", "cosine")
REDUCTIONS = ("mean", "sum")
STRATEGIES = ("default", "mirrored", "multi-worker")
#: Settings a resumed run may change: how long it runs, on what hardware, and
#: how its inference statistics are made (neither changes the learned weights).
RESUMABLE_CHANGES = ("steps", "strategy", "calibration_batches")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How one network is trained.

    Attributes:
        problem: registry name of the problem.
        gradient: name of the gradient scheme (see `Problem.schemes`).
        steps: training iterations (mini-batches); data is generated per step.
        batch_size: examples per step.
        learning_rate: `None` takes the scheme's or problem's default (the paper's).
        seed: seeds the initial weights and the data stream.
        optimizer: `None` takes the scheme's default.
        lr_schedule: "constant" (the paper's) or "cosine" (`LR_SCHEDULES`). A cosine
            run decays over its `steps`, so it resumes only with the same `steps`.
        log_every: steps per logged point; also the number of steps run per
            compiled call (Keras `steps_per_execution`).
        checkpoint_every: steps between checkpoints (rounded up to `log_every`).
        reduction: batch reduction of the loss, "mean" or "sum".
        jit_compile: XLA-compile the train step.
        spec: overrides of the problem spec's fields (e.g. `{"physics_dtype": "float64"}`).
        strategy: "default" (one device), "mirrored" (all local GPUs, else all
            logical CPUs) or "multi-worker" (hosts described by `TF_CONFIG`).
        max_skipped_steps: stop after this many non-finite steps in a row.
        calibration_batches: batches on which batch norm's inference statistics
            are recomputed from the final weights (0: keep Keras's moving average).
    """

    problem: str
    gradient: str
    steps: int = 1000
    batch_size: int | None = None
    learning_rate: float | None = None
    seed: int = 0
    optimizer: str | None = None
    lr_schedule: str = "constant"
    log_every: int = 10
    checkpoint_every: int = 1000
    reduction: str = "mean"
    jit_compile: bool = False
    spec: dict = dataclasses.field(default_factory=dict)
    strategy: str = "default"
    max_skipped_steps: int = 10
    calibration_batches: int = 50

    def __post_init__(self):
        for name in ("steps", "log_every", "checkpoint_every", "max_skipped_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected `{name}` > 0. Received: {name}={value!r}")
        if not isinstance(self.calibration_batches, int) or self.calibration_batches < 0:
            raise ValueError(
                "Expected `calibration_batches` >= 0. "
                f"Received: calibration_batches={self.calibration_batches!r}"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"Expected `batch_size` > 0. Received: batch_size={self.batch_size}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(
                f"Expected `learning_rate` > 0. Received: learning_rate={self.learning_rate}"
            )
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"Expected `optimizer` in {OPTIMIZERS}. Received: optimizer={self.optimizer!r}"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"Expected `lr_schedule` in {LR_SCHEDULES}. "
                f"Received: lr_schedule={self.lr_schedule!r}"
            )
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"Expected `strategy` in {STRATEGIES}. Received: strategy={self.strategy!r}"
            )
        if self.reduction not in REDUCTIONS:
            raise ValueError(
                f"Expected `reduction` in {REDUCTIONS}. Received: reduction={self.reduction!r}"
            )

    @property
    def resumable_changes(self) -> tuple[str, ...]:
        """The settings a resumed run may change (`RESUMABLE_CHANGES`), less `steps` under a
        learning rate that decays over them: with other steps it would jump."""
        if self.lr_schedule == "constant":
            return RESUMABLE_CHANGES
        return tuple(name for name in RESUMABLE_CHANGES if name != "steps")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def write(self, path: pathlib.Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, path: pathlib.Path) -> TrainingConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        data = json.loads(path.read_text())
        return cls(**{k: v for k, v in data.items() if k in fields})


def default(config: type, field: str):
    """The default of `field` in the dataclass `config`, for flags that mirror it."""
    found = {f.name: f for f in dataclasses.fields(config)}.get(field)
    if found is None or found.default is dataclasses.MISSING:
        raise ValueError(f"{config.__name__} has no default for {field!r}")
    return found.default


#: Logged points per curve of a comparison: at least 100, for the paper's plots.
CURVE_POINTS = 200


def default_log_every(steps: int) -> int:
    """Steps per logged point, so that a curve has about `CURVE_POINTS` points (≥ 100)."""
    return max(1, steps // CURVE_POINTS)


def _check_positive(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"Expected `{name}` > 0. Received: {name}={value!r}")


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
    """A per-event solver held against a comparison (paper Fig. 8).

    Attributes:
        solver: a name from `Problem.solvers()`, e.g. "scipy-lbfgsb".
        events: fresh events it solves (the stream `(seed, −1)`, apart from training's).
        iterations: its iteration cap per event.
    """

    solver: str
    events: int = 1000
    iterations: int = 1000

    def __post_init__(self):
        _check_positive(self, "events", "iterations")


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    """Several gradient schemes trained from the same weights and data, for every seed.

    Attributes:
        problem: registry name (or `MODULE:CLASS`) of the problem.
        gradients: the schemes compared (see `Problem.schemes`).
        steps, seeds: training steps per run; one run per scheme and seed.
        log_every: steps per logged point; None: about `CURVE_POINTS` points per curve.
        baseline: a per-event solver's errors as reference lines, or None.
        The other fields are `TrainingConfig`'s, for every run.
    """

    problem: str
    gradients: tuple[str, ...]
    steps: int = default(TrainingConfig, "steps")
    seeds: tuple[int, ...] = (0,)
    batch_size: int | None = None
    learning_rate: float | None = None
    lr_schedule: str = default(TrainingConfig, "lr_schedule")
    optimizer: str | None = None
    log_every: int | None = None
    spec: dict = dataclasses.field(default_factory=dict)
    strategy: str = default(TrainingConfig, "strategy")
    max_skipped_steps: int = default(TrainingConfig, "max_skipped_steps")
    calibration_batches: int = default(TrainingConfig, "calibration_batches")
    baseline: BaselineConfig | None = None

    def __post_init__(self):
        object.__setattr__(self, "gradients", tuple(self.gradients))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        if not self.gradients:
            raise ValueError("Expected at least one gradient scheme. Received: gradients=()")
        if not self.seeds:
            raise ValueError("Expected at least one seed. Received: seeds=()")
        self.run(self.gradients[0], self.seeds[0])  # the shared fields, checked once

    @property
    def points_every(self) -> int:
        """Steps per logged point: `log_every`, or about `CURVE_POINTS` points."""
        return self.log_every or default_log_every(self.steps)

    def run(self, gradient: str, seed: int) -> TrainingConfig:
        """The config of the run of `gradient` with `seed` (checkpoints ten times a run)."""
        every = self.points_every
        return TrainingConfig(
            problem=self.problem,
            gradient=gradient,
            steps=self.steps,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            lr_schedule=self.lr_schedule,
            optimizer=self.optimizer,
            seed=seed,
            log_every=every,
            checkpoint_every=max(every, self.steps // 10),
            spec=dict(self.spec),
            strategy=self.strategy,
            max_skipped_steps=self.max_skipped_steps,
            calibration_batches=self.calibration_batches,
        )
