"""Per-event iterative solving: classical solvers run on each event alone, as baselines.

A network amortises the inverse problem over all events; an iterative solver
attacks each event `y*` alone, from the problem's `initial_guess`. This module
runs such solvers on a batch of events and reports per event the final `x`,
its error, the iterations, the wall time, and a status:

* `nan`: the final `x` or objective is not finite;
* `diverged`: `x` left the region where solutions lie (`Problem.diverged`), or
  the objective ended higher than it started;
* `converged`: the solver stopped at a point it accepts as a minimum;
* `max_iterations`: it ran into the iteration cap.

Separately, `farther_than_start` marks events whose `x` error grew (a local
minimum farther from `x*` than the initial guess), when `x*` is known.

How to use it for a problem:

* `Problem.solvers()` returns name → `Solver`. The default is `generic_solvers()`
  (`gd`, `lbfgs`, `lbfgsb`, `gauss-newton`, `levenberg-marquardt`), which work
  for any problem through `simulate` and autodiff; a problem adds its own
  (e.g. an `inverse-physics` solver that iterates its domain inverse) by
  returning `{**super().solvers(), "inverse-physics": my_solver}`.
* A `Solver` is `(problem, batch, x0, iterations) -> SolverOutput`: `batch` is
  a generated (or loaded) batch, `x0` the float64 starting points. It returns
  positions, its own convergence flag, iterations per event, wall time per
  event and optionally the trajectory `[k + 1, events, ...]`, from which
  `solve` makes the per-iteration x-error curve (paper Fig. 5b).
* `solve(problem, name, batch, iterations)` checks the events, runs the
  solver, classifies, and returns a `SolveResult`; `SolveResult.report()` is
  the JSON that `pg-keras solve PROBLEM --solver NAME --report FILE` writes.

Solvers run in float64 whatever the problem's training dtype: they are the
reference a network is measured against.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from pg_keras.physics import iterative

if TYPE_CHECKING:
    from pg_keras.problems.base import Batch, Problem

STATUSES = ("converged", "max_iterations", "diverged", "nan")


class SolverOutput(NamedTuple):
    """What a `Solver` returns (numpy, float64).

    Attributes:
        x: `[events, ...]` final positions.
        converged: `[events]` bool, the solver's own verdict.
        iterations: `[events]` int, iterations run per event.
        wall_time_s: `[events]` seconds per event (a batched solver: its
            batch time divided evenly).
        trajectory: `[k + 1, events, ...]` iterates (0 is `x0`), or None.
        messages: per-event solver messages (e.g. SciPy's), or None.
    """

    x: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    wall_time_s: np.ndarray
    trajectory: np.ndarray | None = None
    messages: list[str] | None = None


Solver = Callable[["Problem", "Batch", tf.Tensor, int], SolverOutput]


def _physics_batch(problem: Problem, batch: Batch) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    from pg_keras.problems.base import Y_TARGET

    extras = {
        k: tf.cast(v, tf.float64) if v.dtype.is_floating else v
        for k, v in problem.extras(batch).items()
    }
    return tf.cast(batch[Y_TARGET], tf.float64), extras


def _objective(problem: Problem, y_target: tf.Tensor, extras) -> Callable:
    return lambda x: problem.objective(problem.simulate(x, extras), y_target)


def _even_split(seconds: float, events: int) -> np.ndarray:
    return np.full(events, seconds / events)


# Solvers ---------------------------------------------------------------------
def scipy_lbfgsb(problem: Problem, batch: Batch, x0: tf.Tensor, iterations: int) -> SolverOutput:
    """SciPy's L-BFGS-B (unbounded), one event at a time: the paper's baseline.

    The objective and its gradient come from the problem's TF simulator,
    compiled once for a single event. SciPy's "abnormal termination in line
    search" (no step lowers the objective at working precision) counts as
    converged; its message is kept per event.
    """
    import scipy.optimize

    y_target, extras = _physics_batch(problem, batch)
    shape = x0.shape[1:]

    @tf.function(reduce_retracing=True)
    def value_and_gradient(x, y, context):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(problem.objective(problem.simulate(x, context), y))
        return loss, tape.gradient(loss, x)

    def fun(flat, y, context):
        value, grad = value_and_gradient(tf.constant(flat.reshape((1, *shape))), y, context)
        return float(value), grad.numpy().reshape(-1).astype(np.float64)

    events = int(x0.shape[0])
    starts = x0.numpy().reshape(events, -1)
    xs, converged, counts, times, paths, messages = [], [], [], [], [], []
    for i in range(events):
        y = y_target[i : i + 1]
        context = {k: v[i : i + 1] for k, v in extras.items()}
        path = [starts[i].copy()]
        began = time.perf_counter()
        result = scipy.optimize.minimize(
            fun,
            starts[i],
            args=(y, context),
            jac=True,
            method="L-BFGS-B",
            callback=lambda xk, path=path: path.append(np.array(xk, copy=True)),
            options={"maxiter": iterations},
        )
        times.append(time.perf_counter() - began)
        xs.append(result.x)
        converged.append(result.status in (0, 2))
        counts.append(result.nit)
        paths.append(path)
        messages.append(str(result.message))
    length = max(len(p) for p in paths)
    trajectory = np.stack(
        [np.stack([p[min(k, len(p) - 1)] for p in paths]) for k in range(length)]
    ).reshape((length, events, *shape))
    return SolverOutput(
        np.stack(xs).reshape((events, *shape)),
        np.array(converged),
        np.array(counts),
        np.array(times),
        trajectory,
        messages,
    )


def tfp_lbfgs(problem: Problem, batch: Batch, x0: tf.Tensor, iterations: int) -> SolverOutput:
    """TFP's batched L-BFGS, all events at once (the solver inside the `lbfgs` PG rule).

    TFP counts iterations for the whole batch, so every event reports that
    count; its per-event `failed` (line search made no progress) counts as
    converged, like SciPy's abnormal termination. No trajectory.
    """
    y_target, extras = _physics_batch(problem, batch)
    objective = _objective(problem, y_target, extras)
    shape = tf.shape(x0)

    @tf.function
    def run(start):
        def value_and_gradients(flat):
            with tf.GradientTape() as tape:
                tape.watch(flat)
                loss = objective(tf.reshape(flat, shape))
            return loss, tape.gradient(loss, flat)

        return tfp.optimizer.lbfgs_minimize(
            value_and_gradients,
            initial_position=tf.reshape(start, [shape[0], -1]),
            max_iterations=iterations,
            tolerance=1e-10,
        )

    began = time.perf_counter()
    result = run(x0)
    seconds = time.perf_counter() - began
    events = int(x0.shape[0])
    return SolverOutput(
        tf.reshape(result.position, shape).numpy(),
        (result.converged | result.failed).numpy(),
        np.full(events, int(result.num_iterations)),
        _even_split(seconds, events),
    )


def _least_squares(adaptive: bool) -> Solver:
    def solver(problem: Problem, batch: Batch, x0: tf.Tensor, iterations: int) -> SolverOutput:
        y_target, extras = _physics_batch(problem, batch)
        shape = tf.shape(x0)
        flat_x0 = tf.reshape(x0, [shape[0], -1])

        @tf.function
        def run(start):
            return iterative.levenberg_marquardt(
                lambda z: problem.simulate(tf.reshape(z, shape), extras) - y_target,
                start,
                max_iterations=iterations,
                damping=1e-3 if adaptive else 0.0,
                adaptive=adaptive,
            )

        began = time.perf_counter()
        result = run(flat_x0)
        seconds = time.perf_counter() - began
        return _from_iterative(result, x0, seconds)

    return solver


def _from_iterative(result: iterative.IterativeResult, x0: tf.Tensor, seconds: float):
    shape = tuple(x0.shape)
    trajectory = result.trajectory.numpy()
    return SolverOutput(
        result.position.numpy().reshape(shape),
        result.converged.numpy(),
        result.num_iterations.numpy(),
        _even_split(seconds, shape[0]),
        trajectory.reshape((trajectory.shape[0], *shape)),
    )


def gradient_descent(learning_rate: float = 1e-2) -> Solver:
    """Plain batched gradient descent on the problem's objective, fixed step `learning_rate`."""
    if not learning_rate > 0:
        raise ValueError(f"Expected `learning_rate` > 0. Received: learning_rate={learning_rate}")

    def solver(problem: Problem, batch: Batch, x0: tf.Tensor, iterations: int) -> SolverOutput:
        y_target, extras = _physics_batch(problem, batch)
        objective = _objective(problem, y_target, extras)
        shape = tf.shape(x0)

        @tf.function
        def run(start):
            return iterative.gradient_descent(
                lambda z: objective(tf.reshape(z, shape)),
                start,
                max_iterations=iterations,
                learning_rate=learning_rate,
            )

        began = time.perf_counter()
        result = run(tf.reshape(x0, [shape[0], -1]))
        return _from_iterative(result, x0, time.perf_counter() - began)

    return solver


def generic_solvers() -> dict[str, Solver]:
    """Solvers that need nothing but `Problem.simulate` and `objective`."""
    return {
        "gd": gradient_descent(),
        "lbfgs": tfp_lbfgs,
        "lbfgsb": scipy_lbfgsb,
        "gauss-newton": _least_squares(adaptive=False),
        "levenberg-marquardt": _least_squares(adaptive=True),
    }


# Running and reporting -------------------------------------------------------
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
    from pg_keras.problems.base import X_TARGET, Y_TARGET

    y_target, extras = _physics_batch(problem, batch)
    x = tf.constant(x, tf.float64)
    y_loss = problem.y_loss(problem.simulate(x, extras), y_target).numpy()
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
    (`Problem.check_observations`): a NaN, an Inf or a wrong shape fails the
    call before any solving, naming the event.
    """
    from pg_keras.problems.base import X_TARGET, Y_TARGET

    solvers = problem.solvers()
    if solver_name not in solvers:
        raise ValueError(
            f"Unknown solver {solver_name!r} for problem {problem.name!r}. "
            f"Expected one of: {', '.join(sorted(solvers))}"
        )
    if iterations < 1:
        raise ValueError(f"Expected `iterations` >= 1. Received: iterations={iterations}")
    values = problem.check_observations(batch[Y_TARGET])
    batch = {**batch, Y_TARGET: tf.constant(values, tf.float64)}
    x0 = tf.cast(problem.initial_guess(batch), tf.float64)
    output = solvers[solver_name](problem, batch, x0, iterations)

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
