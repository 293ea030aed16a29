"""One progress line per training run, with the time left estimated from the runs so far.

The estimate is the seconds per training step measured in this invocation (runs that
resume from a finished checkpoint train no steps and do not count), times the steps
left. Schemes differ in cost, so it is rough until every scheme has run once.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from collections.abc import Callable

__all__ = ["PlannedRun", "Progress", "format_duration", "steps_done"]


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """A training run the command will make: where it lives and how many steps it has."""

    label: str
    run_dir: pathlib.Path
    steps: int


def steps_done(run_dir: pathlib.Path) -> int:
    """The last step a run directory's curve holds (0 for a new run): what a rerun skips."""
    path = pathlib.Path(run_dir) / "curve.json"
    if not path.exists():
        return 0
    points = json.loads(path.read_text())
    return int(points[-1]["step"]) if points else 0


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Counts the planned runs off as they finish and prints one line for each."""

    def __init__(
        self,
        plan: list[PlannedRun],
        clock: Callable[[], float] = time.monotonic,
        emit: Callable[[str], None] = print,
    ):
        self.plan = {run.run_dir.resolve(): run for run in plan}
        self.clock = clock
        self.emit = emit
        self.finished: set[pathlib.Path] = set()
        self.trained_steps = 0
        self.training_seconds = 0.0
        self.remaining_steps = sum(run.steps - steps_done(run.run_dir) for run in plan)

    def eta_seconds(self) -> float | None:
        if self.remaining_steps <= 0:
            return 0.0
        if not self.trained_steps:
            return None
        return self.remaining_steps * self.training_seconds / self.trained_steps

    def wrap(self, train: Callable) -> Callable:
        """`train` (`pg_keras.training.run.train`'s signature), reporting each run."""

        def train_and_report(config, run_dir, *args, **kwargs):
            run_dir = pathlib.Path(run_dir)
            before = steps_done(run_dir)
            began = self.clock()
            result = train(config, run_dir, *args, **kwargs)
            self.record(run_dir, config.steps - before, self.clock() - began, result.final)
            return result

        return train_and_report

    def record(self, run_dir: pathlib.Path, trained: int, seconds: float, final: dict) -> None:
        planned = self.plan.get(pathlib.Path(run_dir).resolve())
        label = planned.label if planned else str(run_dir)
        self.finished.add(pathlib.Path(run_dir).resolve())
        if trained > 0:
            self.trained_steps += trained
            self.training_seconds += seconds
            self.remaining_steps -= trained
        what = f"{trained} steps in {format_duration(seconds)}" if trained > 0 else "resumed done"
        self.emit(
            f"[{len(self.finished)}/{len(self.plan)}] {label}: {what}, "
            f"x_mae {final['x_mae']:.4g}; ETA {format_duration(self.eta_seconds())} "
            f"for {len(self.plan) - len(self.finished)} runs left"
        )
