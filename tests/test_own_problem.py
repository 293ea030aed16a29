"""docs/examples/own_problem.py: its physics and inverse, and the path a user takes with it:
list, train, compare, solve, export and serving the export, from docs/examples."""

from __future__ import annotations

import pathlib
import socket

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.cli import main
from pg_keras.problems import get_problem
from pg_keras.rules import BackwardContext
from pg_keras.training.checkpoints import restore_network
from serving.query import main as query_main

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "docs" / "examples"
REFERENCE = "own_problem:OwnProblem"


@pytest.fixture
def in_examples(monkeypatch):
    monkeypatch.chdir(EXAMPLES)


@pytest.fixture(scope="module")
def problem():
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(EXAMPLES)
        return get_problem(REFERENCE)


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_the_stepper_has_the_closed_form_gain_that_the_inverse_divides_by(problem):
    import own_problem

    batch = problem.generate(4, tf.constant([0, 3], tf.int64))
    x = tf.cast(batch["x_target"], tf.float64)
    y = problem.simulate(x, {})
    gains = own_problem.gain(problem.symbol, problem.spec.dt, problem.spec.steps)
    closed = np.real(np.fft.ifft(np.fft.fft(x.numpy()) * gains))
    np.testing.assert_allclose(y, closed, atol=1e-12)
    assert np.isclose(gains[0], problem.spec.dt * problem.spec.steps)  # the mean mode: g_0 = T
    # From any x, one inverse step lands on the source that leaves y (noise-free).
    start = tf.random.stateless_normal(x.shape, [1, 2], dtype=tf.float64)
    context = BackwardContext(x=start, y=problem.simulate(start, {}), y_target=y,
                              scaled_dy=None, simulate=None)  # fmt: skip
    np.testing.assert_allclose(problem.inverse(context), x, atol=1e-10)


def test_postprocess_gives_the_total_emission_the_field_implies(problem):
    batch = problem.generate(3, tf.constant([0, 4], tf.int64))
    shifted = problem.postprocess(tf.zeros([3, problem.spec.cells]), batch)
    duration = problem.spec.dt * problem.spec.steps
    np.testing.assert_allclose(
        tf.reduce_mean(shifted, 1), tf.reduce_mean(batch["y_target"], 1) / duration, rtol=1e-5
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_list_train_compare_solve_export_and_serve(capsys, tmp_path, in_examples):
    out = run(capsys, "list", REFERENCE)
    block = out[out.index(f"{REFERENCE}:") :]
    assert "--gradient inverse-physics" in block and "inverse-physics" in block
    assert "optional hooks: inverse, initial_guess, observation_shape, postprocess" in block

    budget = ["--steps", "2", "--batch", "4", "--log-every", "1", "--quiet"]
    run_dir = tmp_path / "run"
    run(capsys, "train", REFERENCE, "--gradient", "inverse-physics", *budget, "--logdir", run_dir)
    report = tmp_path / "compare.json"
    gradients = ["--gradients", "adjoint,inverse-physics", "--report", report]
    run(capsys, "compare", REFERENCE, *gradients, *budget, "--logdir", tmp_path / "cmp")
    assert report.exists()
    out = run(capsys, "solve", REFERENCE, "--solver", "inverse-physics", "--events", "2",
              "--iterations", "2")  # fmt: skip
    assert "2 events" in out
    out = run(capsys, "export", run_dir, "--name", "own", "--base-path", tmp_path / "models")
    assert "version 1" in out

    from serving.options import ServerOptions
    from serving.server import ModelServer

    server = ModelServer(
        ServerOptions(
            port=0,
            rest_api_port=_free_port(),
            model_name="own",
            model_base_path=str(tmp_path / "models" / "own"),
        )
    )
    server.start()
    try:
        problem = get_problem(REFERENCE)
        batch = problem.generate(3, tf.constant([7, 7], tf.int64))
        events = tmp_path / "events.npy"
        np.save(events, batch["y_target"].numpy())
        network, _ = restore_network(problem, run_dir)
        expected = problem.predict_x(network, batch).numpy()
        capsys.readouterr()
        for url in (f"grpc://127.0.0.1:{server.grpc_port}", f"http://127.0.0.1:{server.rest_port}"):
            answer = tmp_path / "answer.npz"
            assert query_main(["own", "--server", url, "--input", str(events), "--output",
                               str(answer)]) == 0  # fmt: skip
            with np.load(answer) as saved:
                np.testing.assert_allclose(saved["x"], expected, rtol=1e-5, atol=1e-6)
        # `refine` repeats the exact inverse: one step recovers the source to the noise.
        refine = tmp_path / "refine.npz"
        np.savez(refine, y_target=batch["y_target"].numpy(), iterations=np.ones(3, np.int32))
        answer = tmp_path / "refined.npz"
        argv = ["own", "--server", f"grpc://127.0.0.1:{server.grpc_port}", "--input", str(refine)]
        assert query_main([*argv, "--signature", "refine", "--output", str(answer)]) == 0
        with np.load(answer) as saved:
            refined = np.abs(saved["x"] - batch["x_target"].numpy()).mean()
        assert refined < 0.5 * np.abs(expected - batch["x_target"].numpy()).mean()
    finally:
        server.stop()
