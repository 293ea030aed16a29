"""`pg-keras export` of a fluid run (16 × 16): all three signatures, served from a fresh process.

A request is `marker0` and `y_target` (m_t); the answers must be what the problem computes
in this process from the trained network.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.batch import Y_TARGET
from pg_keras.cli import main
from pg_keras.export import load_run
from pg_keras.physics import fluid as physics
from pg_keras.problems.fluid import MARKER0, MARKER_TARGET
from pg_keras.rules.base import BackwardContext
from tests.problems.test_fluid_problem import TINY_ARGS, without_xla  # noqa: F401

_SERVE = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    model = tf.saved_model.load(sys.argv[1])
    request = {k: tf.constant(v) for k, v in np.load(sys.argv[2]).items()}
    out = {"x": model.signatures["serving_default"](**request)["x"].numpy()}
    for key, value in model.signatures["with_residual"](**request).items():
        out[f"residual_{key}"] = value.numpy()
    for k in (0, 2):
        refined = model.signatures["refine"](**request, iterations=tf.constant([k]))
        out[f"refine{k}"] = refined["x"].numpy()
    np.savez(sys.argv[3], **out)
    """
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    work = tmp_path_factory.mktemp("fluid_export")
    run = work / "run"
    argv = ["train", "fluid", "--gradient", "inverse-physics", "--steps", "2", "--batch", "2"]
    assert main([*argv, "--log-every", "1", "--logdir", str(run), "--quiet", *TINY_ARGS]) == 0
    argv = ["export", str(run), "--name", "fluid", "--base-path", str(work / "models")]
    assert main(argv) == 0
    _, problem, network, _ = load_run(run)
    batch = problem.generate(3, tf.constant([5, 6], tf.int64))
    request = {k: batch[k].numpy().astype(np.float32) for k in (MARKER0, Y_TARGET)}
    np.savez(work / "request.npz", **request)
    script = work / "serve.py"
    script.write_text(_SERVE)
    out = work / "answers.npz"
    subprocess.run(
        [
            sys.executable,
            str(script),
            str(work / "models" / "fluid" / "1"),
            str(work / "request.npz"),
        ]
        + [str(out)],
        check=True,
        capture_output=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=300,
    )
    with np.load(out) as answers:
        return problem, network, request, dict(answers)


def test_serving_default_is_the_divergence_free_network_prediction(exported):
    problem, network, request, answers = exported
    batch = {k: tf.constant(v) for k, v in request.items()}
    expected = problem.predict_x(network, batch).numpy()
    assert answers["x"].shape == (3, 16, 16, 2) and answers["x"].dtype == np.float32
    np.testing.assert_allclose(answers["x"], expected, rtol=1e-5, atol=1e-5)
    divergence = physics.centered_divergence(tf.constant(answers["x"], tf.float64), 2.0)
    assert np.abs(divergence.numpy()).max() < 1e-4 * max(np.abs(answers["x"]).max(), 1.0)
    np.testing.assert_array_equal(answers["refine0"], answers["x"])


def test_with_residual_simulates_the_served_velocity(exported):
    problem, _, request, answers = exported
    x = tf.constant(answers["x"])
    y = problem.simulate(x, {MARKER0: tf.constant(request[MARKER0])}).numpy()
    np.testing.assert_allclose(answers["residual_y"], y, atol=1e-4)
    expected = 0.5 * np.sum((y - request[Y_TARGET]) ** 2, axis=(1, 2))
    np.testing.assert_allclose(answers["residual_residual"], expected, rtol=1e-4, atol=1e-4)


def test_refine_iterates_the_inverse_simulator(exported):
    problem, _, request, answers = exported
    x = tf.constant(answers["x"], tf.float32)
    extras = {
        MARKER0: tf.constant(request[MARKER0]),
        MARKER_TARGET: tf.constant(request[Y_TARGET]),
    }
    target = extras[MARKER_TARGET]
    for _ in range(2):
        y = problem.simulate(x, extras)
        context = BackwardContext(
            x=x,
            y=y,
            y_target=target,
            scaled_dy=y - target,
            simulate=lambda v: problem.simulate(v, extras),
            extras=extras,
            vjp=None,
        )
        x = problem.inverse(context)
    np.testing.assert_allclose(answers["refine2"], x.numpy(), rtol=1e-4, atol=1e-4)
    assert np.abs(answers["refine2"] - answers["x"]).max() > 1e-3
