import keras
import numpy as np
import pytest
import tensorflow as tf

from pg_keras.networks._fused_batch_norm import FusedBatchNormalization


def _pair(momentum=0.9):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 5, 3))
    fused = FusedBatchNormalization(momentum=momentum)
    plain = keras.layers.BatchNormalization(momentum=momentum)
    fused.build(inputs.shape)
    plain.build(inputs.shape)
    gamma = np.array([0.5, 1.5, 2.0], np.float32)
    beta = np.array([0.1, -0.2, 0.3], np.float32)
    for layer in (fused, plain):
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    return fused, plain


def test_training_pass_matches_keras_outputs_gradients_and_moving_statistics():
    fused, plain = _pair()
    x = tf.random.stateless_normal([4, 6, 5, 3], [1, 2]) * 3.0 + 1.0
    g = tf.random.stateless_normal([4, 6, 5, 3], [3, 4])
    results = []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * g)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append((y, grads, layer.moving_mean.numpy(), layer.moving_variance.numpy()))
    (y_f, g_f, mean_f, var_f), (y_p, g_p, mean_p, var_p) = results
    np.testing.assert_allclose(y_f, y_p, atol=1e-5)
    for a, b in zip(g_f, g_p, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mean_f, mean_p, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(var_f, var_p, rtol=1e-5)


def test_inference_and_unfusable_inputs_use_keras():
    fused, plain = _pair()
    x = tf.random.stateless_normal([4, 6, 5, 3], [5, 6])
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), atol=1e-6)
    flat = FusedBatchNormalization()
    y = flat(tf.ones([2, 3]), training=True)
    assert y.shape == (2, 3)


def test_momentum_is_read_at_call_time():
    fused, _ = _pair(momentum=0.9)
    x = tf.random.stateless_normal([4, 6, 5, 3], [7, 8]) + 2.0
    fused.momentum = 0.0
    fused(x, training=True)
    np.testing.assert_allclose(fused.moving_mean, tf.reduce_mean(x, axis=[0, 1, 2]), rtol=1e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_runs_compiled(jit_compile):
    fused, _ = _pair()
    step = tf.function(lambda x: fused(x, training=True), jit_compile=jit_compile)
    assert step(tf.ones([2, 6, 5, 3])).shape == (2, 6, 5, 3)


def test_config_round_trip():
    layer = FusedBatchNormalization(momentum=0.8, epsilon=1e-4, name="bn")
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, FusedBatchNormalization)
    assert clone.momentum == 0.8 and clone.epsilon == 1e-4
