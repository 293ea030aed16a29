"""B.5's objective (`pg_keras.physics.fluid.loss`): which mismatches it sees and how much each
costs, worked out by hand for single Fourier modes."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics.fluid import loss

FLOOR = 1e-5


def mode(ny, nx, ky, kx, amplitude=1.0):
    """`amplitude·cos(2π(ky·j/ny + kx·i/nx))`, `[1, ny, nx]`: two FFT bins of size A·ny·nx/2."""
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    return tf.constant(amplitude * np.cos(2 * np.pi * (ky * j / ny + kx * i / nx))[None])


def test_default_weights_are_the_authors_in_cycles_per_cell():
    weights = loss.loss_weights(64, 64)
    np.testing.assert_allclose(weights[0, 1:4], [0.46, 0.044, 0.0009], rtol=0.03)
    np.testing.assert_allclose(weights[1:4, 0], weights[0, 1:4])
    assert weights[0, 0] == 1.0


def test_weights_are_gaussian_in_the_wavenumber():
    weights = loss.loss_weights(8, 10, wavelength=3.0)
    ky, kx = np.fft.fftfreq(8)[:, None], np.fft.fftfreq(10)[None, :]
    np.testing.assert_allclose(weights, np.exp(-0.5 * (ky**2 + kx**2) * 9.0), rtol=1e-12)


@pytest.mark.parametrize("wavelength", [0.0, -1.0])
def test_weights_want_a_positive_wavelength(wavelength):
    with pytest.raises(ValueError, match=f"Received: wavelength={wavelength}"):
        loss.loss_weights(8, 8, wavelength)
    assert loss.loss_weights(8, 8, 0.5).shape == (8, 8)  # half a cell is a wavelength


def test_a_perfect_match_or_an_offset_costs_only_the_floor():
    target = tf.constant(np.random.default_rng(25).random((2, 6, 8)))
    floor_only = 6 * 8 * np.sqrt(FLOOR)
    np.testing.assert_allclose(loss.frequency_weighted_loss(target, target), floor_only)
    offsets = tf.constant([0.3, -2.0], tf.float64)[:, None, None]
    np.testing.assert_allclose(
        loss.frequency_weighted_loss(target + offsets, target), floor_only, rtol=1e-9
    )


@pytest.mark.parametrize("ky, kx", [(1, 0), (0, 1), (1, 2)])
def test_a_single_mode_mismatch_costs_its_amplitude_times_its_weight(ky, kx):
    ny, nx, wavelength, amplitude = 8, 12, 3.0, 0.7
    weight = loss.loss_weights(ny, nx, wavelength)[ky, kx]
    bins = 2 * (amplitude * ny * nx / 2) * weight
    floor = (ny * nx - 2) * np.sqrt(FLOOR)
    target = tf.constant(np.random.default_rng(26).random((1, ny, nx)))
    mismatch = target + mode(ny, nx, ky, kx, amplitude)
    cost = loss.frequency_weighted_loss(mismatch, target, wavelength=wavelength)
    np.testing.assert_allclose(cost, [bins + floor], rtol=1e-9)
    # and it is one cost per example
    both = loss.frequency_weighted_loss(
        tf.concat([mismatch, target], 0), tf.concat([target] * 2, 0), wavelength=wavelength
    )
    np.testing.assert_allclose(both, [bins + floor, ny * nx * np.sqrt(FLOOR)], rtol=1e-9)


def test_the_default_wavelength_is_b5s():
    wave = mode(64, 64, 0, 2)
    default = loss.frequency_weighted_loss(wave, tf.zeros_like(wave))
    explicit = loss.frequency_weighted_loss(wave, tf.zeros_like(wave), wavelength=80.0, floor=FLOOR)
    np.testing.assert_allclose(default, explicit, rtol=1e-12)
