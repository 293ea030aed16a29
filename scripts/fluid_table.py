"""Paper Table 1 on this machine: per-event time to reach the trained network's accuracy.

    python scripts/fluid_table.py --network runs/compare-fluid/inverse-physics/seed0 \
        --events 8 --inverse-iterations 30 --gd-iterations 200 --out docs/reports/fluid_table.json

Network inference is timed batched (all events in one call, median of 10
calls after a warm-up, divided by the events). The inverse-simulator solver
(`pg-keras solve fluid --solver inverse-physics`) and gradient descent
(`--solver gd`, η = 1) run from `v0 = 0` on the same events up to their
caps; from the per-iteration error curve (mean over events) the script takes
the first iteration at which the mean x error is at or below the network's,
and charges the solver's per-event wall time pro rata (time per iteration ×
iterations). A solver that never gets there is reported as "> cap".

Every method is also timed one event at a time (`one_at_a_time`): the network
on a batch of one, each solver on one event alone for a few iterations
(`--single-iterations`), over the first `--single-events` events, medians with
their ranges; a solver's time to the network's accuracy is charged pro rata as
above, with the batched run's iteration count.

It also times one simulation step (batched, XLA) per example and per cell with
each pressure solver (the exact FFT solve and the shared CG, warm-started),
and each solve's share of the step, measured as the time saved by replacing
it with a no-op solve; the three are timed in turns, in this one process.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys

import numpy as np
import tensorflow as tf

from pg_keras.batch import X_TARGET, Y_TARGET
from pg_keras.benchmarks.turns import time_in_turns
from pg_keras.cli._args import add_spec_flag
from pg_keras.physics import fluid as physics
from pg_keras.problems import get_problem
from pg_keras.reproduce.paper_points import spread
from pg_keras.reproduce.solver_table import warm_seconds
from pg_keras.solving import solve
from pg_keras.training.checkpoints import restore_network
from pg_keras.training.compare import write_report


def reach(result, level: float) -> dict:
    """First iteration whose mean x error is <= `level`, and its pro-rata time per event."""
    curve = np.nanmean(result.curve, axis=1)
    per_iteration = float(np.median(result.wall_time_s)) / result.iterations_cap
    hits = np.flatnonzero(curve <= level)
    first = int(hits[0]) if hits.size else None
    return {
        "iterations_cap": result.iterations_cap,
        "iterations_to_reach": first,
        "time_per_event_s": None if first is None else first * per_iteration,
        "time_per_event_at_cap_s": result.iterations_cap * per_iteration,
        "x_mae_at_cap": float(curve[-1]),
        "best_x_mae": float(curve.min()),
        "curve_x_mae": [float(v) for v in curve],
    }


def one_at_a_time(problem, infer, batch, table: dict, events: int, iterations: int) -> dict:
    """Per-event times with each event alone (module docstring), seconds."""
    singles = [{key: value[k : k + 1] for key, value in batch.items()} for k in range(events)]
    rows = {
        "events": events,
        "network": spread([warm_seconds(lambda b=b: infer(b).numpy(), 5) for b in singles]),
    }
    for name in ("inverse-physics", "gd"):
        per_iteration = [
            float(solve(problem, name, single, iterations).wall_time_s[0]) / iterations
            for single in singles
        ]
        reached = table[name]["iterations_to_reach"]
        rows[name] = {
            "time_per_iteration_s": spread(per_iteration),
            "time_per_event_s": None
            if reached is None
            else reached * statistics.median(per_iteration),
        }
    return rows


def step_timing(problem, batch_size: int, repeats: int) -> dict:
    """One XLA step on a batch, per pressure solver, and the solve's share of it.

    The step is timed from the state after one step, so CG is warm-started
    from a real previous pressure, as in a simulation. The three variants (FFT,
    CG, a no-op solve) are timed in turns (`pg_keras.benchmarks.turns`), medians
    with ranges. A solver's share is (its median step time − the no-op step's) /
    its median, as measured (on a busy machine it can come out below zero).
    """
    spec = problem.spec
    batch = problem.generate(batch_size, tf.constant([99, -1], tf.int64))
    v0 = physics.centered_to_staggered(batch[X_TARGET])
    start = physics.FluidState(v0, batch["marker0"], tf.zeros_like(batch["marker0"]))
    state = physics.step(start, spec.dt, spec.dx)

    def no_projection(rhs, dx, guess):
        del dx, guess
        zero = tf.zeros([tf.shape(rhs)[0]], tf.int32)
        return tf.zeros_like(rhs), physics.PoissonResult(
            zero > 0, zero, tf.zeros_like(rhs[:, 0, 0])
        )

    solvers = {
        "fft": physics.spectral_poisson,
        "cg": physics.conjugate_gradient_poisson(spec.cg_rtol),
        "no_projection": no_projection,
    }
    runs = {
        name: tf.function(
            lambda s, solver=solver: physics.step(s, spec.dt, spec.dx, solver).marker,
            jit_compile=problem.physics_jit_compile,  # XLA, as in training
        )
        for name, solver in solvers.items()
    }
    calls = {name: lambda run=run: run(state).numpy() for name, run in runs.items()}
    for call in calls.values():  # traced and compiled before any clock
        call()
    seconds = time_in_turns(calls, repeats)
    step_ms = {name: spread([1e3 * t for t in times]) for name, times in seconds.items()}
    velocity = physics.advect_velocity(state.velocity, spec.dt, spec.dx, spec.correction)
    _, _, result = physics.make_incompressible(velocity, spec.dx, solvers["cg"], state.pressure)
    cg_iterations = float(tf.reduce_mean(tf.cast(result.num_iterations, tf.float32)))
    cells = spec.resolution**2
    rows = {}
    none = step_ms["no_projection"]
    for name in ("fft", "cg"):
        full = step_ms[name]["median"]
        rows[name] = {
            "step_ms_batch": full,
            "step_ms_batch_spread": step_ms[name],
            "step_ms_per_example": full / batch_size,
            "step_ns_per_cell": 1e6 * full / (batch_size * cells),
            "solve_share": (full - none["median"]) / full,
        }
    rows["cg"]["warm_start_iterations_mean"] = cg_iterations
    rows["cg"]["rtol"] = spec.cg_rtol
    return {
        "batch": batch_size,
        "repeats": repeats,
        "no_projection_step_ms_batch": none["median"],
        "no_projection_step_ms_batch_spread": none,
        "training_uses": spec.pressure_solver,
        **rows,
    }


def cg_iterations_text(table: dict) -> str:
    cg = table["simulation_step"]["cg"]
    return f"{cg['warm_start_iterations_mean']:.1f} (rtol {cg['rtol']:g})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", required=True, type=pathlib.Path, help="a compare run dir")
    parser.add_argument("--events", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inverse-iterations", type=int, default=30)
    parser.add_argument("--gd-iterations", type=int, default=200)
    parser.add_argument("--timing-batch", type=int, default=16)
    parser.add_argument("--single-events", type=int, default=4, help="events timed alone")
    parser.add_argument(
        "--single-iterations", type=int, default=3, help="solver iterations per event alone"
    )
    parser.add_argument(
        "--step-repeats",
        type=int,
        default=30,
        help="rounds of simulation-step timing, the solvers in turns (median and range)",
    )
    parser.add_argument("--out", type=pathlib.Path, default=None)
    add_spec_flag(parser)
    parser.add_argument(
        "--batch-statistics",
        action="store_true",
        help="run the network's batch norm on the events' own batch statistics (Keras "
        "training mode) instead of the stored inference statistics",
    )
    args = parser.parse_args(argv)
    spec = dict(args.spec)
    problem = get_problem("fluid", spec)
    network, checkpoint = restore_network(problem, args.network)
    batch = problem.generate(args.events, tf.constant([args.seed, -1], tf.int64))

    infer = tf.function(lambda b: problem.predict_x(network, b, training=args.batch_statistics))
    x = infer(batch)
    network_error = problem.x_error(x, batch).numpy()
    level = float(network_error.mean())
    seconds = warm_seconds(lambda: infer(batch).numpy(), 10)

    table = {
        "network_checkpoint": checkpoint,
        "events": args.events,
        "network": {
            "x_mae": level,
            "time_per_event_s": seconds / args.events,
            "batched": args.events,
            "batch_norm": "batch statistics" if args.batch_statistics else "inference statistics",
        },
    }
    events = {key: batch[key] for key in batch}
    for name, cap in (("inverse-physics", args.inverse_iterations), ("gd", args.gd_iterations)):
        result = solve(problem, name, events, cap)
        table[name] = reach(result, level)
    solver_time = table["inverse-physics"]["time_per_event_s"]
    table["ratio_inverse_physics_to_network"] = (
        None if solver_time is None else solver_time / table["network"]["time_per_event_s"]
    )
    table["one_at_a_time"] = one_at_a_time(
        problem,
        infer,
        events,
        table,
        min(args.single_events, args.events),
        args.single_iterations,
    )
    table["simulation_step"] = step_timing(problem, args.timing_batch, args.step_repeats)
    del events[Y_TARGET]

    print(f"network ({checkpoint}): x_mae {level:.3f}, {1e3 * seconds / args.events:.3f} ms/event")
    for name in ("inverse-physics", "gd"):
        row = table[name]
        if row["iterations_to_reach"] is None:
            print(
                f"{name}: not reached in {row['iterations_cap']} iterations "
                f"(> {row['time_per_event_at_cap_s']:.2f} s/event; "
                f"best x_mae {row['best_x_mae']:.3f})"
            )
        else:
            print(
                f"{name}: {row['iterations_to_reach']} iterations, "
                f"{row['time_per_event_s']:.3f} s/event"
            )
    alone = table["one_at_a_time"]
    print(
        f"one event at a time ({alone['events']} events): network "
        f"{1e3 * alone['network']['median']:.2f} ms/event"
    )
    for name in ("inverse-physics", "gd"):
        row = alone[name]
        reached = row["time_per_event_s"]
        print(
            f"  {name}: {1e3 * row['time_per_iteration_s']['median']:.1f} ms/iteration"
            + ("" if reached is None else f", {reached:.3f} s/event to the network's accuracy")
        )
    ratio = table["ratio_inverse_physics_to_network"]
    print(f"solver/network time: {'n/a' if ratio is None else f'{ratio:,.0f}x'}")
    for name in ("fft", "cg"):
        step = table["simulation_step"][name]
        print(
            f"simulation step ({name} pressure solve): {step['step_ms_per_example']:.3f} "
            f"ms/example, {step['step_ns_per_cell']:.1f} ns/cell, "
            f"solve {100 * step['solve_share']:.0f}%"
        )
    print(f"CG iterations per warm-started solve: {cg_iterations_text(table)}")
    if args.out:
        write_report(table, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
