"""The heat inverse decides per Fourier mode as EXPERIMENTS.md section 4 says, on spectra made
by hand: a signal-or-noise probability `p` per mode, no decision for 0.5 < p < 0.68, and an
amplification capped at e^88.

The expected weights are computed here from the algorithm's statement, not from the module.
"""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics import heat

N = 8


def _kappa(nu_t):
    k = np.fft.fftfreq(N)
    return (2 * np.pi) ** 2 * (k[:, None] ** 2 + k[None, :] ** 2) * nu_t


def _field(modes):
    """A real `[N, N]` field whose FFT magnitude is `m` at each `(i, j): m` and its mirror."""
    spectrum = np.zeros((N, N), complex)
    for (i, j), magnitude in modes.items():
        spectrum[i, j] = spectrum[-i % N, -j % N] = magnitude
    return np.real(np.fft.ifft2(spectrum))


def _magnitude_for(p, amplitude, sigma):
    """|r̂| at which p_s / (p_s + p_n) = p, for signal scale `amplitude` and noise `sigma`."""
    return np.sqrt(2 * np.log((1 - p) / p) / (1 / amplitude**2 - 1 / sigma**2))


def _expected_weight(magnitude, amplitude, sigma):
    p_signal = 0.5 * np.exp(-0.5 * (magnitude / amplitude) ** 2)
    p_noise = 0.5 * np.exp(-0.5 * (magnitude / sigma) ** 2)
    p = p_signal / (p_signal + p_noise)
    return 0.0 if 0.5 < p < 0.68 else 2 * (p - 0.5)


# (mode, p): inside the dead zone, just past either edge, well past, and below ½ (damping).
CASES = {(0, 1): 0.6, (1, 1): 0.67, (2, 0): 0.685, (1, 0): 0.75, (3, 3): 0.3}


def test_each_mode_is_inverted_left_or_damped_by_its_own_probability():
    nu_t, sigma = 1.0, 1.0  # σ from the noise floor: far above 1e-6·‖r‖ here
    amplitude = 64 * np.exp(-_kappa(nu_t))
    magnitudes = {m: _magnitude_for(p, amplitude[m], sigma) for m, p in CASES.items()}
    residual = tf.constant(_field(magnitudes)[None], tf.float64)
    a = heat.inverse_weights(residual, nu_t, noise_floor=sigma).numpy()[0]
    found = np.abs(np.fft.fft2(residual.numpy()[0]))
    for mode, p in CASES.items():
        expected = _expected_weight(found[mode], amplitude[mode], sigma)
        assert (expected == 0) == (0.5 < p < 0.68), (mode, p, expected)
        np.testing.assert_allclose(a[mode], expected, atol=1e-9, err_msg=f"mode {mode}, p={p}")
    np.testing.assert_allclose(a[0, 2], 0.0, atol=1e-12)  # an empty mode: p = ½, left alone


@pytest.mark.parametrize(
    ("mode", "magnitude"),
    # κ ≈ 123 (past the cap) and κ ≈ 24.7; each far below its signal amplitude 64·e^{−κ}
    # and far above the noise 1e-6·‖r‖₂, so p = 1 and a = 1.
    [((3, 4), 1e-56), ((2, 1), 1e-12)],
)
def test_a_signal_mode_is_amplified_by_e_to_kappa_capped_at_88(mode, magnitude):
    nu_t = 8.0
    kappa = _kappa(nu_t)[mode]
    y_target = tf.constant(_field({mode: magnitude})[None], tf.float64)
    zero = tf.zeros_like(y_target)
    assert heat.inverse_weights(y_target, nu_t).numpy()[0][mode] == 1.0
    x_tilde = heat.probabilistic_inverse(zero, zero, y_target, nu_t).numpy()[0]
    gain = np.abs(np.fft.fft2(x_tilde))[mode] / magnitude
    np.testing.assert_allclose(np.log(gain), min(kappa, 88.0), rtol=1e-9)
    assert (kappa > 88.0) == (mode == (3, 4))


def test_without_a_floor_the_noise_scale_is_a_millionth_of_the_residuals_norm():
    """σ = 1e-6·‖r‖₂ (the authors'): a large mode sets ‖r‖, and a small mode sized for
    p = 0.8 at that σ is inverted by weight 2(p − ½) = 0.6."""
    nu_t = 1.0
    amplitude = 64 * np.exp(-_kappa(nu_t))
    big = {(0, 1): 543.0}  # ‖r‖₂ = √2 · 543 / 8 ≈ 96, so σ ≈ 9.6e-5 < amplitude[3, 3]
    sigma = 1e-6 * np.linalg.norm(_field(big))
    small = _magnitude_for(0.8, amplitude[3, 3], sigma)
    residual = _field({**big, (3, 3): small})
    sigma = 1e-6 * np.linalg.norm(residual)  # with the small mode, as the algorithm has it
    a = heat.inverse_weights(tf.constant(residual[None], tf.float64), nu_t).numpy()[0]
    found = np.abs(np.fft.fft2(residual))[3, 3]
    expected = _expected_weight(found, amplitude[3, 3], sigma)
    assert abs(expected - 0.6) < 1e-3
    np.testing.assert_allclose(a[3, 3], expected, atol=1e-9)


def test_a_mode_beyond_both_scales_is_damped_as_the_authors_say():
    """|r̂| far above both A_k and σ: p_s and p_n underflow to 0, and the algorithm's step 3
    sets p = 0 there ("0 where both are 0"), so a = −1: the mode is damped, not left."""
    nu_t = 1.0
    residual = _field({(2, 1): 200.0})  # A ≈ 2.9 and σ ≈ 3.5e-5: 200/A ≈ 68, exp(−68²/2) = 0
    a = heat.inverse_weights(tf.constant(residual[None], tf.float64), nu_t).numpy()[0]
    assert a[2, 1] == -1.0 and a[-2 % N, -1 % N] == -1.0


def test_the_full_grid_weights_are_the_decisions_the_inverse_applies_on_any_grid():
    """On 8 × 16 cells (the half-spectrum path and the full-grid one index the modes
    differently): x̃ = x + Re IFFT(r̂ · exp(a · min(κ, 88))) with `inverse_weights`' a."""
    ny, nx, nu_t = 8, 16, 0.5
    rng = np.random.default_rng(21)
    y_target = tf.constant(0.3 * rng.normal(size=(2, ny, nx)), tf.float64)
    zero = tf.zeros_like(y_target)
    a = heat.inverse_weights(y_target, nu_t, noise_floor=0.3).numpy()
    # Modes inverted (a = 1), damped (a = −1), left (a = 0) and weighted in between.
    assert a.shape == (2, ny, nx) and {-1.0, 0.0, 1.0} <= set(a.flat) and len(set(a.flat)) > 10
    k2 = np.fft.fftfreq(ny)[:, None] ** 2 + np.fft.fftfreq(nx)[None, :] ** 2
    kappa = np.minimum((2 * np.pi) ** 2 * k2 * nu_t, 88.0)
    expected = np.real(np.fft.ifft2(np.fft.fft2(y_target.numpy()) * np.exp(a * kappa)))
    x_tilde = heat.probabilistic_inverse(zero, zero, y_target, nu_t, noise_floor=0.3)
    np.testing.assert_allclose(x_tilde, expected, rtol=1e-9, atol=1e-9)
