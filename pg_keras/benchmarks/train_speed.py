"""`pg-keras bench-train`: where the time of one training step goes.

Measured in one process, on one set of weights, in this order:

* `step_with_data`: Keras `fit` over the real tf.data pipeline (generation in
  parallel, prefetched), timed per compiled call and divided by its steps;
* `step`: the compiled train step alone on batches generated beforehand;
* `data`: generating one batch alone;
* `network`: the network's forward and backward pass (loss `Σ x·g` with a
  fixed random `g`), `physics_forward`: `P(x)` alone, `gradient_backward`: the
  gradient rule's backward pass alone (`delta_x`, which for `adjoint` is a VJP
  through the recorded forward pass).

The component times overlap with each other inside the real step (TensorFlow
runs independent ops in parallel), so their shares are indicative and need not
add up to 100%.
"""

from __future__ import annotations

import json
import pathlib
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from pg_keras.config import TrainingConfig
from pg_keras.physical_gradient import backward_context, physics_forward
from pg_keras.problems import get_problem
from pg_keras.problems.base import Y_TARGET
from pg_keras.rules import Supervised
from pg_keras.training.run import build_model, data_generation_times_ms, make_dataset, resolve


def _time_ms(fn, repeats: int) -> list[float]:
    """Wall times of `repeats` calls of `fn` (whose result is fetched to force completion)."""
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, fn(i))
        times.append(1000.0 * (time.perf_counter() - start))
    return times


def _summary(times: list[float]) -> dict:
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "samples": len(times),
    }


class _StepTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.per_step: list[float] = []
        self._start = 0.0
        self._steps = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()
        self._steps = int(self.model.step.numpy())

    def on_train_batch_end(self, batch, logs=None):
        steps = int(self.model.step.numpy()) - self._steps
        self.per_step.append(1000.0 * (time.perf_counter() - self._start) / max(steps, 1))


def bench_train(
    problem_name: str,
    gradient: str,
    batch_size: int | None = None,
    steps: int = 50,
    steps_per_call: int = 5,
    seed: int = 0,
    spec: dict | None = None,
    jit_compile: bool = False,
    profile_dir: str | None = None,
) -> dict:
    """Times one problem's training step and its parts; returns the report dict."""
    if steps < 2 * steps_per_call:
        raise ValueError(
            f"Expected `steps` >= 2 * steps_per_call ({2 * steps_per_call}) so that the "
            f"first, tracing call can be dropped. Received: steps={steps}"
        )
    problem = get_problem(problem_name, spec)
    config = resolve(
        TrainingConfig(
            problem=problem_name,
            gradient=gradient,
            steps=steps,
            batch_size=batch_size,
            seed=seed,
            log_every=steps_per_call,
            spec=dict(spec or {}),
            jit_compile=jit_compile,
        ),
        problem,
    )
    batch = config.batch_size
    model = build_model(problem, config)

    # The real pipeline: fit over generated data (first call traces; dropped).
    timer = _StepTimes()
    model.fit(
        make_dataset(problem, batch, seed, 0, steps),
        epochs=1,
        steps_per_epoch=steps,
        callbacks=[timer],
        verbose=0,
        shuffle=False,
    )
    with_data = timer.per_step[1:]

    batches = [problem.generate(batch, tf.constant([seed, 10_000 + k], tf.int64)) for k in range(4)]
    train_step = tf.function(model.train_step, jit_compile=jit_compile, reduce_retracing=True)
    train_step(batches[0])
    if profile_dir:
        tf.profiler.experimental.start(profile_dir)
    step_alone = _time_ms(lambda i: train_step(batches[i % 4])["loss"], steps)
    if profile_dir:
        tf.profiler.experimental.stop()

    data = data_generation_times_ms(problem, batch, seed, steps)

    network = model.network
    inputs = problem.network_input(batches[0])
    probe = tf.random.stateless_normal(tf.shape(network(inputs)), tf.constant([seed, 1], tf.int64))

    @tf.function(jit_compile=jit_compile)
    def network_pass(inputs):
        with tf.GradientTape() as tape:
            x = network(inputs, training=True)
            loss = tf.reduce_sum(x * probe)
        return tape.gradient(loss, network.trainable_variables)

    network_pass(inputs)
    network_times = _time_ms(lambda i: network_pass(inputs)[0], steps)

    x = problem.postprocess(network(inputs), batches[0])
    dtype = problem.physics_dtype
    x = tf.cast(x, dtype)
    extras = {k: tf.cast(v, dtype) for k, v in problem.extras(batches[0]).items()}
    y_target = tf.cast(batches[0][Y_TARGET], dtype)
    simulate = tf.function(lambda z: problem.simulate(z, extras))
    simulate(x)
    physics_times = _time_ms(lambda i: simulate(x), steps)

    rule = model.scheme.rule
    backward_times = []
    if not isinstance(rule, Supervised):

        @tf.function
        def backward(x):
            y, residuals = physics_forward(x, lambda z: problem.simulate(z, extras), rule, extras)
            return rule.delta_x(backward_context(residuals, y - y_target, "sum"))

        @tf.function
        def forward_only(x):
            return physics_forward(x, lambda z: problem.simulate(z, extras), rule, extras)[0]

        backward(x)
        forward_only(x)
        # The rule's backward alone: (forward + backward) − forward, per call.
        both = _time_ms(lambda i: backward(x), steps)
        forward = _time_ms(lambda i: forward_only(x), steps)
        backward_times = [max(b - f, 0.0) for b, f in zip(both, forward, strict=True)]

    step_ms = statistics.median(with_data)
    report = {
        "problem": problem_name,
        "gradient": gradient,
        "batch": batch,
        "steps": steps,
        "jit_compile": jit_compile,
        "physics_dtype": dtype.name,
        "threads": {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
        "ms_per_step": {
            "with_data": _summary(with_data),
            "without_data": _summary(step_alone),
        },
        "examples_per_second": 1000.0 * batch / step_ms,
        "parts_ms": {
            "data": _summary(data),
            "network": _summary(network_times),
            "physics_forward": _summary(physics_times),
            "gradient_backward": _summary(backward_times) if backward_times else None,
        },
    }
    report["shares_of_step"] = {
        name: (part["median"] / step_ms if part else None)
        for name, part in report["parts_ms"].items()
    }
    if profile_dir:
        report["profile"] = profile_dir
    return report


def format_report(report: dict) -> str:
    lines = [
        f"{report['problem']} / {report['gradient']}, batch {report['batch']}, "
        f"{report['steps']} steps, physics {report['physics_dtype']}, "
        f"XLA {'on' if report['jit_compile'] else 'off'}",
        f"{'':<22}{'median':>10}{'min':>10}{'max':>10}  ms",
    ]
    for name, entry in report["ms_per_step"].items():
        lines.append(
            f"{'step ' + name:<22}{entry['median']:>10.2f}"
            f"{entry['min']:>10.2f}{entry['max']:>10.2f}"
        )
    for name, entry in report["parts_ms"].items():
        if entry is None:
            continue
        share = report["shares_of_step"][name]
        lines.append(
            f"{'  ' + name:<22}{entry['median']:>10.2f}{entry['min']:>10.2f}"
            f"{entry['max']:>10.2f}  ({100 * share:.0f}% of a step)"
        )
    lines.append(f"examples per second: {report['examples_per_second']:.0f}")
    return "\n".join(lines)


def write(report: dict, path: str | pathlib.Path) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=np.asarray) + "\n")
