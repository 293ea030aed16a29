"""`pg-keras bench-train`: where the time of one training step goes.

Measured in one process, on one set of weights per rule:

* `step_with_data`: Keras `fit` over the real tf.data pipeline (generation in
  parallel, prefetched), timed per compiled call and divided by its steps;
* `step`: the compiled train step alone on batches generated beforehand;
* `data`: generating one batch alone;
* `network`: the network's forward and backward pass (loss `Σ x·g` with a
  fixed random `g`), `physics_forward`: `P(x)` alone, `gradient_backward`: the
  gradient rule's backward pass alone (`delta_x`, which for `adjoint` is a VJP
  through the recorded forward pass).

With several rules, every model is built and traced first and the two step times are then
taken in turns (rule order rotating every round), so that each rule sees the same machine
state; timed one rule after the other, the first-timed rule was up to 30% slower, enough to
flip a PG/adjoint ratio. The component times overlap with each other inside the real step
(TensorFlow runs independent ops in parallel), so their shares are indicative and need not
add up to 100%.
"""

from __future__ import annotations

import json
import pathlib
import statistics
import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from pg_keras.batch import physics_inputs
from pg_keras.benchmarks.turns import rotations
from pg_keras.config import TrainingConfig
from pg_keras.physical_gradient import backward_context, physics_forward
from pg_keras.problems import Problem, get_problem
from pg_keras.rules import Supervised
from pg_keras.training.run import build_model, data_generation_times_ms, make_dataset, resolve

# Compiled calls per `fit` in each round; every `fit` starts a fresh tf.data iterator, so one
# more call, the start-up, runs first and is dropped.
_CALLS_PER_ROUND = 2
_BATCHES_AHEAD = 4
# More steps than any benchmark runs: the config and the data stream never run out, however
# many rounds of `fit` take from them.
_UNBOUNDED_STEPS = 10**9


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


class _RuleBench:
    """One rule's model, data and compiled step, built and traced, ready to be timed."""

    def __init__(
        self,
        problem: Problem,
        problem_name: str,
        gradient: str,
        batch_size: int | None,
        steps_per_call: int,
        seed: int,
        spec: dict | None,
        jit_compile: bool,
    ) -> None:
        self.problem = problem
        self.gradient = gradient
        self.seed = seed
        self.jit_compile = jit_compile
        self.steps_per_call = steps_per_call
        config = resolve(
            TrainingConfig(
                problem=problem_name,
                gradient=gradient,
                steps=_UNBOUNDED_STEPS,
                batch_size=batch_size,
                seed=seed,
                log_every=steps_per_call,
                spec=dict(spec or {}),
                jit_compile=jit_compile,
            ),
            problem,
        )
        self.batch = config.batch_size
        self.model = build_model(problem, config)
        self.dataset = make_dataset(problem, self.batch, seed, 0, _UNBOUNDED_STEPS)
        self.fit_per_step_ms(1)  # traces the compiled call
        self.batches = [
            problem.generate(self.batch, tf.constant([seed, 10_000 + k], tf.int64))
            for k in range(_BATCHES_AHEAD)
        ]
        self.train_step = tf.function(
            self.model.train_step, jit_compile=jit_compile, reduce_retracing=True
        )
        self.train_step(self.batches[0])

    def fit_per_step_ms(self, calls: int) -> list[float]:
        """ms per step of `calls` compiled calls of `fit` over the tf.data pipeline (after
        one more, the iterator's start-up, which is dropped)."""
        timer = _StepTimes()
        self.model.fit(
            self.dataset,
            epochs=1,
            steps_per_epoch=(calls + 1) * self.steps_per_call,
            callbacks=[timer],
            verbose=0,
            shuffle=False,
        )
        return timer.per_step[1:]

    def step_ms(self, i: int) -> float:
        return _time_ms(lambda _: self.train_step(self.batches[i % _BATCHES_AHEAD])["loss"], 1)[0]

    def parts(self, steps: int) -> dict:
        """ms of data generation, the network pass, the physics forward and the rule's
        backward, each alone."""
        problem, seed, jit_compile = self.problem, self.seed, self.jit_compile
        data = data_generation_times_ms(problem, self.batch, seed, steps)
        network = self.model.network
        inputs = problem.network_input(self.batches[0])
        probe = tf.random.stateless_normal(
            tf.shape(network(inputs)), tf.constant([seed, 1], tf.int64)
        )

        @tf.function(jit_compile=jit_compile)
        def network_pass(inputs):
            with tf.GradientTape() as tape:
                x = network(inputs, training=True)
                loss = tf.reduce_sum(x * probe)
            return tape.gradient(loss, network.trainable_variables)

        network_pass(inputs)
        network_times = _time_ms(lambda i: network_pass(inputs)[0], steps)

        dtype = problem.physics_dtype
        x = tf.cast(problem.predict_x(network, self.batches[0]), dtype)
        y_target, extras = physics_inputs(self.batches[0], dtype)
        simulate = tf.function(lambda z: problem.simulate(z, extras))
        simulate(x)
        physics_times = _time_ms(lambda i: simulate(x), steps)

        rule = self.model.scheme.rule
        backward_times = []
        if not isinstance(rule, Supervised):

            @tf.function
            def backward(x):
                y, residuals = physics_forward(
                    x, lambda z: problem.simulate(z, extras), rule, extras
                )
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
        return {
            "data": _summary(data),
            "network": _summary(network_times),
            "physics_forward": _summary(physics_times),
            "gradient_backward": _summary(backward_times) if backward_times else None,
        }


def bench_rules(
    problem_name: str,
    gradients: Sequence[str],
    batch_size: int | None = None,
    steps: int = 50,
    steps_per_call: int = 5,
    seed: int = 0,
    spec: dict | None = None,
    jit_compile: bool = False,
    profile_dir: str | None = None,
) -> list[dict]:
    """Times each rule's training step and its parts; returns one report per rule, the
    earlier ones with `ratio_to` the last (measured in turns, in this one process)."""
    if steps < 2 * steps_per_call:
        raise ValueError(
            f"Expected `steps` >= 2 * steps_per_call ({2 * steps_per_call}) so that the "
            f"first, tracing call can be dropped. Received: steps={steps}"
        )
    if not gradients:
        raise ValueError("Expected at least one gradient rule. Received: none")
    problem = get_problem(problem_name, spec)
    rules = [
        _RuleBench(problem, problem_name, g, batch_size, steps_per_call, seed, spec, jit_compile)
        for g in gradients
    ]
    if profile_dir:
        tf.profiler.experimental.start(profile_dir)
        for i in range(2):
            rules[0].step_ms(i)
        tf.profiler.experimental.stop()

    with_data: list[list[float]] = [[] for _ in rules]
    calls = max(1, steps // steps_per_call - 1)
    rounds = -(-calls // _CALLS_PER_ROUND)
    for order in rotations(len(rules), rounds):
        for k in order:
            with_data[k] += rules[k].fit_per_step_ms(_CALLS_PER_ROUND)
    for rule in rules:  # once more untimed, now that every model exists (a 2 s outlier)
        rule.step_ms(0)
    alone: list[list[float]] = [[] for _ in rules]
    for i, order in enumerate(rotations(len(rules), steps)):
        for k in order:
            alone[k].append(rules[k].step_ms(i))

    reports = [
        _report(problem_name, rule, steps, with_data[k], alone[k], rule.parts(steps))
        for k, rule in enumerate(rules)
    ]
    base = reports[-1]
    for report in reports[:-1]:
        report["ratio_to"] = {
            "gradient": base["gradient"],
            **{
                name: report["ms_per_step"][name]["median"] / base["ms_per_step"][name]["median"]
                for name in ("with_data", "without_data")
            },
            "gradient_backward": _backward_ratio(report, base),
        }
    if profile_dir:
        reports[0]["profile"] = profile_dir
    return reports


def _backward_ratio(report: dict, base: dict) -> float | None:
    """Median backward time of `report`'s rule over `base`'s (None for a supervised one)."""
    mine, theirs = report["parts_ms"]["gradient_backward"], base["parts_ms"]["gradient_backward"]
    if not mine or not theirs or not theirs["median"] > 0:
        return None
    return mine["median"] / theirs["median"]


def bench_train(problem_name: str, gradient: str, **options) -> dict:
    """Times one rule's training step and its parts (`options` as `bench_rules`)."""
    return bench_rules(problem_name, [gradient], **options)[0]


def _report(
    problem_name: str,
    rule: _RuleBench,
    steps: int,
    with_data: list[float],
    alone: list[float],
    parts: dict,
) -> dict:
    step_ms = statistics.median(with_data)
    report = {
        "problem": problem_name,
        "gradient": rule.gradient,
        "batch": rule.batch,
        "steps": steps,
        "jit_compile": rule.jit_compile,
        "physics_dtype": rule.problem.physics_dtype.name,
        "threads": {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
        "ms_per_step": {"with_data": _summary(with_data), "without_data": _summary(alone)},
        "examples_per_second": 1000.0 * rule.batch / step_ms,
        "parts_ms": parts,
    }
    report["shares_of_step"] = {
        name: (part["median"] / step_ms if part else None) for name, part in parts.items()
    }
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
