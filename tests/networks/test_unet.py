"""The B.3 U-Net: shapes, parameter count, configuration errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from pg_keras.networks import unet
from pg_keras.networks._bilinear_upsampling import BilinearUpsampling2D
from pg_keras.networks._fused_batch_norm import FusedBatchNormalization
from pg_keras.networks._skip_conv import SkipConv2D


def test_paper_unet_has_the_papers_trainable_parameter_count():
    model = unet((64, 64))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 37_697
    assert model.count_params() == 38_145  # plus batch norm's moving mean and variance


def test_unet_maps_field_to_field_at_any_level_count():
    model = unet((8, 16), levels=2, filters=4)
    out = model(np.zeros([3, 8, 16], np.float32))
    assert tuple(out.shape) == (3, 8, 16)


def test_unet_rejects_grid_not_divisible_by_pooling():
    with pytest.raises(ValueError, match=r"divisible by 2\*\*\(levels - 1\) = 8.*grid=\(12, 16\)"):
        unet((12, 16), levels=4)
    with pytest.raises(ValueError, match="levels=0"):
        unet((8, 8), levels=0)


def test_fluid_unet_with_channels_has_the_papers_b5_parameter_count():
    model = unet((64, 64), levels=5, in_channels=2, out_channels=2)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 49_570
    out = model(np.zeros([3, 64, 64, 2], np.float32))
    assert tuple(out.shape) == (3, 64, 64, 2)


def test_unet_rejects_nonpositive_channels():
    with pytest.raises(ValueError, match="in_channels=0"):
        unet((8, 8), levels=2, in_channels=0)


def _conv_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D | SkipConv2D)]


def test_hidden_convolutions_start_like_pytorchs_and_the_output_at_zero():
    keras.utils.set_random_seed(0)
    model = unet((16, 16), levels=2, filters=8)
    *hidden, output = _conv_layers(model)
    for layer in hidden:
        bound = 1 / np.sqrt(np.prod(layer.kernel.shape[:-1]))
        for weights in (layer.kernel.numpy(), layer.bias.numpy()):
            assert np.abs(weights).max() <= bound
        # Drawn over the whole range, biases too (Keras's default would leave them 0).
        assert np.abs(layer.kernel.numpy()).max() > 0.9 * bound
        assert np.abs(layer.bias.numpy()).max() > 0.3 * bound
    assert not output.kernel.numpy().any() and not output.bias.numpy().any()
    out = model(np.random.default_rng(0).normal(size=[2, 16, 16]).astype("float32"))
    assert not np.asarray(out).any()
    assert all(layer.epsilon == 1e-5 for layer in model.layers if "bn" in layer.name)


def test_glorot_init_is_kerass_default():
    keras.utils.set_random_seed(0)
    model = unet((16, 16), levels=2, filters=8, init="glorot", output_init="glorot")
    for layer in _conv_layers(model):
        assert not layer.bias.numpy().any() and layer.kernel.numpy().any()
    with pytest.raises(ValueError, match="init='he'"):
        unet((16, 16), levels=2, init="he")


def test_bfloat16_network_computes_in_bfloat16_and_answers_in_float32():
    keras.utils.set_random_seed(0)
    plain = unet((16, 16), levels=2, filters=8, output_init="glorot")
    mixed = unet((16, 16), levels=2, filters=8, output_init="glorot", compute_dtype="bfloat16")
    mixed.set_weights(plain.get_weights())
    assert all(w.dtype == "float32" for w in mixed.weights)
    assert mixed.get_layer("down0_conv0").compute_dtype == "bfloat16"
    x = np.random.default_rng(1).normal(size=[4, 16, 16]).astype("float32")
    for training in (True, False):
        want, got = plain(x, training=training), mixed(x, training=training)
        assert got.dtype == "float32"
        scale = np.abs(np.asarray(want)).max()
        # bfloat16 keeps 8 bits: close, but not float32-close.
        np.testing.assert_allclose(got, want, atol=0.1 * scale)
        assert np.abs(np.asarray(got) - np.asarray(want)).max() > 1e-5 * scale


def test_bfloat16_batch_norm_takes_the_fused_kernel():
    layer = FusedBatchNormalization(dtype="mixed_bfloat16")
    x = tf.cast(tf.random.stateless_normal([2, 4, 4, 3], [0, 1]), tf.bfloat16)
    layer.build(x.shape)
    assert layer._fusable(x, training=True, mask=None)
    assert layer(x, training=True).dtype == tf.bfloat16


def test_skip_conv_is_the_convolution_of_the_concatenation():
    rng = np.random.default_rng(0)
    up = tf.constant(rng.normal(size=[2, 8, 8, 3]), tf.float32)
    skip = tf.constant(rng.normal(size=[2, 8, 8, 5]), tf.float32)
    fused = SkipConv2D(4, bias_initializer="random_normal")
    plain = keras.layers.Conv2D(4, 3, padding="same")
    fused([up, skip])
    plain(tf.concat([up, skip], axis=-1))
    plain.set_weights(fused.get_weights())
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([up, skip])
        got = fused([up, skip])
        want = plain(tf.concat([up, skip], axis=-1))
        probe = tf.constant(rng.normal(size=want.shape), tf.float32)
        loss_got, loss_want = tf.reduce_sum(got * probe), tf.reduce_sum(want * probe)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    for wrt_got, wrt_want in (([up, skip], [up, skip]), (fused.weights, plain.weights)):
        for a, b in zip(
            tape.gradient(loss_got, wrt_got), tape.gradient(loss_want, wrt_want), strict=True
        ):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert SkipConv2D.from_config(fused.get_config()).get_config() == fused.get_config()


def test_skip_conv_rejects_a_single_input():
    with pytest.raises(ValueError, match=r"two 4-D inputs \[up, skip\].*Received: input_shape"):
        SkipConv2D(4).build((2, 8, 8, 3))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_bilinear_upsampling_is_kerass_bilinear_upsampling(dtype):
    x = tf.cast(tf.random.stateless_normal([2, 4, 6, 3], [0, 1]), dtype)
    policy = "mixed_bfloat16" if dtype == "bfloat16" else "float32"
    ours = BilinearUpsampling2D(dtype=policy)
    keras_layer = keras.layers.UpSampling2D(2, interpolation="bilinear", dtype=policy)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        got, want = ours(x), keras_layer(x)
        probe = tf.cast(tf.random.stateless_normal(want.shape, [0, 2]), dtype)
        loss_got, loss_want = tf.reduce_sum(got * probe), tf.reduce_sum(want * probe)
    assert got.dtype == want.dtype and tuple(got.shape) == (2, 8, 12, 3)
    assert ours.compute_output_shape((None, 4, 6, 3)) == (None, 8, 12, 3)
    np.testing.assert_array_equal(tf.cast(got, tf.float32), tf.cast(want, tf.float32))
    np.testing.assert_array_equal(
        tf.cast(tape.gradient(loss_got, x), tf.float32),
        tf.cast(tape.gradient(loss_want, x), tf.float32),
    )
