"""Running a per-event solver on events, classifying how each ended, and the report.

`solve(problem, name, batch, iterations)` checks the events, runs the solver from the
problem's `initial_guess`, classifies every event and returns a `SolveResult`;
`SolveResult.report()` is the JSON `pg-keras solve PROBLEM --solver NAME --report FILE`
writes. Statuses:

* `nan`: the final `x` or objective is not finite;
* `diverged`: `x` left the region where solutions lie (`Problem.diverged`), or
  the objective ended higher than it started;
* `converged`: the solver stopped at a point it accepts as a minimum;
* `max_iterations`: it ran into the iteration cap.

Separately, `farther_than_start` marks events whose `x` error grew (a local
minimum farther from `x*` than the initial guess), when `x*` is known.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from pg_keras.batch import X_TARGET, Y_TARGET, Batch, check_observations
from pg_keras.solving.solvers import Solver, float64_inputs

if TYPE_CHECKING:
    from pg_keras.problems.base import Problem

__all__ = ["RENAMED_SOLVERS", "STATUSES", "SolveResult", "find_solver", "solve", "solve_fresh"]

STATUSES = ("converged", "max_iterations", "diverged", "nan")

#: Solver names that meant two different L-BFGS codes, and what to ask for instead.
RENAMED_SOLVERS = {
    "lbfgs": "'scipy-lbfgsb' (SciPy's L-BFGS-B, one event at a time: what heat's 'lbfgs' "
    "was) or 'tfp-lbfgs' (TFP's batched L-BFGS: what 'lbfgs' was for the other problems)",
    "lbfgsb": "'scipy-lbfgsb' (SciPy's L-BFGS-B, one event at a time)",
}


def find_solver(problem: Problem, name: str) -> Solver:
    """The per-event solver `name` of `problem`, or a ValueError saying what there is."""
    solvers = problem.solvers()
    if name in solvers:
        return solvers[name]
    if not solvers:
        raise ValueError(
            f"Problem {problem.name!r} has no per-event solvers: it defines no "
            "`initial_guess`, where they would start. Expected a problem that overrides it"
        )
    renamed = (
        f" Solver {name!r} was renamed: use {RENAMED_SOLVERS[name]}."
        if name in RENAMED_SOLVERS
        else ""
    )
    raise ValueError(
        f"Unknown solver {name!r} for problem {problem.name!r}.{renamed} "
        f"Expected one of: {', '.join(sorted(solvers))}"
    )


@dataclasses.dataclass(frozen=True)
class SolveResult:
    """Per-event outcome of `solve` (numpy arrays over events).

    `x_error`, `initial_x_error`, `metrics`, `farther_than_start` and `curve`
    need `x*` and are None (or empty) without it. `curve` is `[k + 1, events]`,
    the x error after each iteration (index 0: at the initial guess).
    """

    problem: str
    solver: str
    iterations_cap: int
    x: np.ndarray
    x_target: np.ndarray | None
    x_error: np.ndarray | None
    initial_x_error: np.ndarray | None
    y_loss: np.ndarray
    initial_y_loss: np.ndarray
    metrics: dict[str, np.ndarray]
    iterations: np.ndarray
    wall_time_s: np.ndarray
    status: np.ndarray
    farther_than_start: np.ndarray | None
    curve: np.ndarray | None
    groups: dict[str, np.ndarray]
    messages: list[str] | None = None

    @property
    def events(self) -> int:
        return int(self.x.shape[0])

    def counts(self) -> dict[str, int]:
        return {status: int(np.sum(self.status == status)) for status in STATUSES}

    def summary(self, mask: np.ndarray | None = None) -> dict:
        """Errors and counts over the events in `mask` (default: all).

        `x_mae`, `y_loss` and the extra metrics are means over the events that
        did not fail (status `converged` or `max_iterations`): a diverged
        event's error is unbounded and would swamp the mean. `*_all` include
        them; `x_error_median` is over all events.
        """
        mask = np.ones(self.events, bool) if mask is None else mask
        out: dict = {"events": int(mask.sum())}
        if not mask.any():
            return out
        kept = mask & np.isin(self.status, ("converged", "max_iterations"))

        def mean(values, where):
            chosen = values[where]
            return float(np.mean(chosen)) if chosen.size else None

        out["y_loss"] = mean(self.y_loss, kept)
        if self.x_error is not None:
            out["x_mae"] = mean(self.x_error, kept)
            out["x_mae_all"] = mean(self.x_error, mask)
            out["x_error_median"] = float(np.median(self.x_error[mask]))
            for name, values in self.metrics.items():
                out[name] = mean(values, kept)
                out[f"{name}_all"] = mean(values, mask)
            out["farther_than_start"] = int(np.sum(self.farther_than_start & mask))
        out["status"] = {s: int(np.sum((self.status == s) & mask)) for s in STATUSES}
        out["diverged_fraction"] = out["status"]["diverged"] / out["events"]
        out["failed"] = out["events"] - out["status"]["converged"]
        out["iterations_median"] = float(np.median(self.iterations[mask]))
        out["wall_time_s"] = {
            "total": float(np.sum(self.wall_time_s[mask])),
            "per_event_median": float(np.median(self.wall_time_s[mask])),
        }
        return out

    def report(self, per_event: bool = True) -> dict:
        """The JSON of `pg-keras solve`: summary, per-group summaries, curve, events."""
        report: dict = {
            "problem": self.problem,
            "solver": self.solver,
            "iterations_cap": self.iterations_cap,
            "summary": self.summary(),
            "groups": {name: self.summary(mask) for name, mask in self.groups.items()},
        }
        if self.curve is not None:
            report["curve"] = {
                "iteration": list(range(self.curve.shape[0])),
                "x_error_mean": [float(v) for v in np.nanmean(self.curve, axis=1)],
                "x_error_median": [float(v) for v in np.nanmedian(self.curve, axis=1)],
            }
        if per_event:
            report["events"] = [self._event(i) for i in range(self.events)]
        return report

    def _event(self, i: int) -> dict:
        event = {
            "index": i,
            "x": self.x[i].tolist(),
            "y_loss": float(self.y_loss[i]),
            "iterations": int(self.iterations[i]),
            "wall_time_s": float(self.wall_time_s[i]),
            "status": str(self.status[i]),
        }
        if self.x_error is not None:
            event["x_target"] = self.x_target[i].tolist()
            event["x_error"] = float(self.x_error[i])
            event.update({name: float(v[i]) for name, v in self.metrics.items()})
            event["farther_than_start"] = bool(self.farther_than_start[i])
        if self.messages is not None:
            event["message"] = self.messages[i]
        return event


def _per_event(problem: Problem, x: np.ndarray, batch: Batch):
    y_target, context = float64_inputs(batch)
    x = tf.constant(x, tf.float64)
    y_loss = problem.y_loss(problem.simulate(x, context), y_target).numpy()
    if X_TARGET not in batch:
        return y_loss, None, {}
    truth = {Y_TARGET: y_target, X_TARGET: tf.cast(batch[X_TARGET], tf.float64)}
    x_error = problem.x_error(x, truth).numpy()
    metrics = {k: v.numpy() for k, v in problem.extra_metrics(x, truth).items()}
    return y_loss, x_error, metrics


def solve(
    problem: Problem, solver_name: str, batch: Mapping, iterations: int = 1000
) -> SolveResult:
    """Runs solver `solver_name` of `problem` on every event of `batch`, then classifies.

    `batch` holds `y_target` (`[events, ...]`) and, if known, `x_target` and
    the problem's context. The events are checked first
    (`pg_keras.batch.check_observations`): a NaN, an Inf or a wrong shape fails the
    call before any solving, naming the event.
    """
    solver = find_solver(problem, solver_name)
    if iterations < 1:
        raise ValueError(f"Expected `iterations` >= 1. Received: iterations={iterations}")
    values = check_observations(batch[Y_TARGET], problem.observation_shape(), problem.name)
    batch = {**batch, Y_TARGET: tf.constant(values, tf.float64)}
    x0 = tf.cast(problem.initial_guess(batch), tf.float64)
    output = solver(problem, batch, x0, iterations)

    y_loss, x_error, metrics = _per_event(problem, output.x, batch)
    y0, error0, _ = _per_event(problem, x0.numpy(), batch)
    finite = np.isfinite(y_loss) & np.isfinite(output.x.reshape(len(y_loss), -1)).all(axis=1)
    safe_x = np.where(np.isfinite(output.x), output.x, 0.0)
    left = problem.diverged(tf.constant(safe_x, tf.float64), batch).numpy()
    worse = finite & (y_loss > y0 * (1 + 1e-9))
    status = np.where(
        ~finite,
        "nan",
        np.where(
            left | worse,
            "diverged",
            np.where(output.converged, "converged", "max_iterations"),
        ),
    )
    farther = curve = None
    if x_error is not None:
        farther = finite & (x_error > error0)
        farther |= ~finite
        if output.trajectory is not None:
            truth = {Y_TARGET: batch[Y_TARGET], X_TARGET: tf.cast(batch[X_TARGET], tf.float64)}
            curve = np.stack(
                [
                    problem.x_error(tf.constant(step, tf.float64), truth).numpy()
                    for step in output.trajectory
                ]
            )
    return SolveResult(
        problem=problem.name,
        solver=solver_name,
        iterations_cap=iterations,
        x=output.x,
        x_target=None if X_TARGET not in batch else np.asarray(batch[X_TARGET], np.float64),
        x_error=x_error,
        initial_x_error=error0,
        y_loss=y_loss,
        initial_y_loss=y0,
        metrics=metrics,
        iterations=np.asarray(output.iterations),
        wall_time_s=np.asarray(output.wall_time_s),
        status=status,
        farther_than_start=farther,
        curve=curve,
        groups=problem.event_groups(batch),
        messages=output.messages,
    )


def solve_fresh(
    problem: Problem, solver_name: str, events: int, iterations: int = 1000, seed: int = 0
) -> SolveResult:
    """`solve` on `events` freshly generated events (`Problem.generate`).

    Training uses seeds `(seed, step)` with step ≥ 0; to keep solve events
    apart from any training batch, they use the stream `(seed, −1)`.
    """
    if events < 1:
        raise ValueError(f"Expected `events` >= 1. Received: events={events}")
    batch = problem.generate(events, tf.constant([seed, -1], tf.int64))
    return solve(problem, solver_name, batch, iterations)
