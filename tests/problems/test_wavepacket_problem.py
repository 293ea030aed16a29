"""The wave-packet problem: data ranges and determinism, the network's head, bad-input errors."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.problems import get_problem
from pg_keras.problems.wavepacket import WavePacketSpec


@pytest.fixture(scope="module")
def problem():
    return get_problem("wavepacket")


@pytest.fixture(scope="module")
def network(problem):
    return problem.build_network()


def test_generated_data_lies_in_the_papers_ranges(problem):
    batch = problem.generate(500, tf.constant([3, 4], tf.int64))
    x = batch["x_target"].numpy()
    assert batch["y_target"].shape == (500, 256)
    assert (x[:, 0] >= 25.6).all() and (x[:, 0] < 230.4).all()
    assert (x[:, 1] >= 1.0).all() and (x[:, 1] < 4.0).all()
    noise = batch["y_target"] - problem.simulate(batch["x_target"], {})
    assert abs(float(tf.math.reduce_std(noise)) - problem.spec.noise) < 0.01


def test_data_is_a_function_of_the_seed(problem):
    a = problem.generate(4, tf.constant([1, 2], tf.int64))
    b = problem.generate(4, tf.constant([1, 2], tf.int64))
    c = problem.generate(4, tf.constant([1, 3], tf.int64))
    np.testing.assert_array_equal(a["y_target"].numpy(), b["y_target"].numpy())
    assert not np.allclose(a["x_target"].numpy(), c["x_target"].numpy())


def test_network_head_keeps_xi0_in_range_and_starts_at_the_initial_guess(problem, network):
    huge = tf.constant(np.stack([np.full(256, 1e4), np.full(256, -1e4)]), tf.float32)
    xi0 = network(huge).numpy()[:, 0]
    # float32: the saturated sigmoid lands on the bounds up to rounding.
    assert (xi0 >= 25.6 - 1e-4).all() and (xi0 <= 230.4 + 1e-4).all()
    zeroed = problem.build_network()
    last = zeroed.get_layer("raw")
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    np.testing.assert_allclose(zeroed(huge).numpy(), [[128.0, 2.0]] * 2, rtol=1e-6)
    assert network.count_params() < 30_000  # five conv blocks of 16 maps, dense 64, 32, 2


def test_extra_metrics_are_per_event_and_named(problem):
    batch = problem.generate(3, tf.constant([0, 0], tf.int64))
    x = batch["x_target"] + tf.constant([[2.0, -0.5]])
    metrics = problem.extra_metrics(x, batch)
    assert tuple(metrics) == problem.extra_metric_names
    np.testing.assert_allclose(metrics["xi0_mae"].numpy(), 2.0, rtol=1e-5)
    np.testing.assert_allclose(metrics["amp_mae"].numpy(), 0.5, rtol=1e-5)
    np.testing.assert_allclose(problem.x_error(x, batch).numpy(), 1.25, rtol=1e-5)


def test_inference_names_the_bad_event(problem, network):
    good = np.zeros((4, 256), np.float32)
    assert problem.infer(network, good).shape == (4, 2)
    bad = good.copy()
    bad[2, 17] = np.nan
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match=r"Event 2 holds 1 NaN or infinite.*Inf: 2, 3"):
        problem.infer(network, bad)
    ragged = [np.zeros(256), np.zeros(255), np.zeros(256)]
    with pytest.raises(ValueError, match=r"Event 1 has shape \(255,\); expected \(256,\)"):
        problem.infer(network, ragged)


def test_spec_rejects_impossible_settings():
    with pytest.raises(ValueError, match="Received: width=0"):
        WavePacketSpec(width=0.0)
    with pytest.raises(ValueError, match="initial_xi0=10"):
        WavePacketSpec(initial_xi0=10.0)
