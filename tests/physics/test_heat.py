"""Exact periodic diffusion and the probabilistic inverse of `pg_keras.physics.heat`."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics import fields, heat

NU_T = 8.0


def boxes(batch=3, grid=(16, 16), seed=0, max_half_size=4.0):
    return heat.random_boxes(
        batch, tf.constant([seed, 1], tf.int64), grid, max_half_size=max_half_size, dtype=tf.float64
    )


def test_simulate_matches_numpy_fft_and_keeps_the_mean():
    x = boxes()
    kappa = (2 * np.pi) ** 2 * (np.fft.fftfreq(16)[:, None] ** 2 + np.fft.fftfreq(16) ** 2) * NU_T
    expected = np.real(np.fft.ifft2(np.fft.fft2(x.numpy()) * np.exp(-kappa)))
    y = heat.simulate(x, NU_T)
    np.testing.assert_allclose(y, expected, atol=1e-12)
    np.testing.assert_allclose(tf.reduce_mean(y, [1, 2]), tf.reduce_mean(x, [1, 2]), rtol=1e-12)


def test_simulate_gradient_checks():
    """Finite differences, and autodiff equals the analytic adjoint (P is self-adjoint)."""
    x = tf.constant(np.random.default_rng(0).normal(size=[1, 4, 4]), tf.float64)
    theoretical, numerical = tf.test.compute_gradient(lambda z: heat.simulate(z, 0.05), [x])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-7)
    v = tf.constant(np.random.default_rng(1).normal(size=[1, 4, 4]), tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = heat.simulate(x, 0.05)
    np.testing.assert_allclose(
        tape.gradient(y, x, output_gradients=v), heat.simulate(v, 0.05), atol=1e-12
    )


def test_noise_free_inverse_inverts_every_mode_it_keeps_exactly():
    x_true, x = boxes(seed=1), boxes(seed=2)
    y_target, y = heat.simulate(x_true, NU_T), heat.simulate(x, NU_T)
    a = heat.inverse_weights(y_target - y, NU_T).numpy()
    kept = a == 1.0
    kappa = heat.decay_exponents(16, 16, NU_T)
    assert kept.sum(axis=(1, 2)).min() >= 20  # the coarse modes, in every example
    assert (np.broadcast_to(kappa, a.shape)[kept] <= heat.MAX_EXPONENT).all()
    x_tilde = heat.probabilistic_inverse(x, y, y_target, NU_T)
    got, want = np.fft.fft2(x_tilde.numpy()), np.fft.fft2(x_true.numpy())
    scale = np.abs(want).max()
    np.testing.assert_allclose(got[kept], want[kept], atol=1e-8 * scale)
    # Damped modes (a = −1) are not amplified: they change by at most the residual's mode.
    damped = a == -1.0
    change = np.abs(got - np.fft.fft2(x.numpy()))[damped]
    residual = np.abs(np.fft.fft2((y_target - y).numpy()))[damped]
    assert (change <= residual + 1e-12 * scale).all()


def test_inverse_of_zero_residual_is_identity():
    x = boxes()
    y = heat.simulate(x, NU_T)
    np.testing.assert_allclose(heat.probabilistic_inverse(x, y, y, NU_T), x, atol=0)


def test_inverse_refuses_float32():
    x = tf.zeros([1, 4, 4], tf.float32)
    with pytest.raises(ValueError, match="float64.*dtype=float32"):
        heat.probabilistic_inverse(x, x, x, NU_T)
    with pytest.raises(ValueError, match="float64.*dtype=float32"):
        heat.inverse_weights(x, NU_T)
    y = tf.zeros([1, 4, 4], tf.float64)  # a float64 residual, but the state x in float32
    with pytest.raises(ValueError, match="float64.*dtype=float32"):
        heat.probabilistic_inverse(x, y, y, NU_T)


def test_fields_without_a_batch_axis_are_refused_by_name():
    field = tf.zeros([4, 4], tf.float64)
    with pytest.raises(ValueError, match=r"`x` of shape \[batch, ny, nx\]"):
        heat.simulate(field, NU_T)
    with pytest.raises(ValueError, match=r"`residual` of shape \[batch, ny, nx\]"):
        heat.inverse_weights(field, NU_T)
    with pytest.raises(ValueError, match=r"`x` of shape \[batch, ny, nx\]"):
        heat.probabilistic_inverse(field, field, field, NU_T)


def test_a_non_square_grid_diffuses_and_inverts_each_mode_by_its_own_wavenumber():
    """8 × 16 cells, one mode of (1, 2) cycles: it decays by exp(−(2π)²|k|² ν t) with
    k = (1/8, 2/16) per cell, and the inverse from a uniform x undoes exactly that."""
    ny, nx = 8, 16
    j, i = np.arange(ny)[:, None], np.arange(nx)[None, :]
    wave = 0.3 * np.cos(2 * np.pi * (j / ny + 2 * i / nx))
    decay = np.exp(-((2 * np.pi) ** 2) * ((1 / ny) ** 2 + (2 / nx) ** 2) * NU_T)
    x_star = tf.constant(1.0 + wave[None], tf.float64)
    y_star = heat.simulate(x_star, NU_T)
    np.testing.assert_allclose(y_star[0], 1.0 + wave * decay, atol=1e-12)
    x = tf.ones([1, ny, nx], tf.float64)
    np.testing.assert_allclose(heat.probabilistic_inverse(x, x, y_star, NU_T), x_star, atol=1e-9)


def one_box(centre, half, grid=(10, 10), edges="authors"):
    """The field of one box of strength 1, `[ny, nx]`."""
    c = tf.constant([[centre]], tf.float64)
    h = tf.constant([[half]], tf.float64)
    return heat.box_field(tf.ones([1, 1], tf.float64), c, h, grid, edges)[0].numpy()


def test_exact_edges_hold_the_covered_fraction_of_each_cell():
    # y in [3.25, 7.25], x in [4.5, 7.5]: hand-computed covered areas.
    field = one_box((5.25, 6.0), (2.0, 1.5), edges="exact")
    assert field[4, 5] == 1.0  # inside
    assert field[3, 5] == pytest.approx(0.75)  # y edge at 3.25
    assert field[3, 4] == pytest.approx(0.75 * 0.5)  # corner cell
    assert field[7, 7] == pytest.approx(0.25 * 0.5)  # far corner
    assert field[2, 5] == 0.0 and field[5, 8] == 0.0
    assert field.sum() == pytest.approx(4.0 * 3.0)  # the box's area
    # On a non-square grid, y runs down the rows and x along the columns.
    tall = one_box((3.0, 7.0), (1.0, 2.0), grid=(6, 10), edges="exact")
    assert tall.shape == (6, 10) and tall.sum() == pytest.approx(2.0 * 4.0)
    assert tall[2:4, 5:9].all() and not tall[:, :5].any() and not tall[4:].any()
    # A box smaller than a cell covers its own area, not more.
    assert one_box((5.5, 5.5), (0.2, 0.1), edges="exact").sum() == pytest.approx(0.4 * 0.2)


def test_authors_edges_are_phiflows_approximate_fraction_inside():
    """clip(½ − d∞ / √½, 0, 1), d∞ the L∞ signed distance of the cell centre to the box."""
    r = np.sqrt(0.5)
    field = one_box((5.0, 5.0), (2.25, 2.75))  # y in [2.75, 7.25], x in [2.25, 7.75]
    assert field[4, 4] == 1.0
    # Cell 2's centre 2.5 lies 0.25 outside the y edges (below and, for cell 7, above).
    assert field[2, 4] == pytest.approx(0.5 - 0.25 / r)
    assert field[7, 4] == pytest.approx(0.5 - 0.25 / r)
    # ... and 0.25 inside the x edge: more than the covered 0.75.
    assert field[4, 2] == pytest.approx(0.5 + 0.25 / r)
    # The corner takes the larger distance (L∞), not the product of the fractions.
    assert field[2, 2] == pytest.approx(0.5 - 0.25 / r)
    assert field[4, 1] == 0.0  # 0.75 outside


def test_hard_edges_fill_cells_whose_centre_is_inside():
    field = one_box((5.0, 5.0), (2.25, 3.0), edges="hard")
    assert field[2, 4] == 0.0 and field[3, 4] == 1.0 and field[3, 2] == 1.0
    # A centre on the edge (|3.5 − 5| = 1.5 = h, exact in binary) counts as inside: d ≤ 0.
    on_edges = one_box((5.0, 5.0), (1.5, 1.5), edges="hard")
    assert on_edges.sum() == 16.0 and on_edges[3:7, 3:7].all()
    with pytest.raises(ValueError, match="edges='soft'"):
        one_box((5.0, 5.0), (1.0, 1.0), edges="soft")


def test_every_box_lies_wholly_inside_the_domain():
    strength, centre, half = heat.random_box_parameters(
        256, tf.constant([4, 2], tf.int64), (64, 48), (4, 10), 10.0, 0.8, True, tf.float64
    )
    low, high = (centre - half).numpy(), (centre + half).numpy()
    assert low.min() >= 0 and (high <= np.array([64, 48])).all()
    # The clipping acts: boxes near the margin touch the border instead of crossing it.
    assert (low.min(axis=(0, 1)) < 1e-9).all()
    assert strength.numpy().min() >= 0
    _, unclipped, _ = heat.random_box_parameters(
        256, tf.constant([4, 2], tf.int64), (64, 48), (4, 10), 10.0, 0.8, False, tf.float64
    )
    assert (unclipped - half).numpy().min() < -1


def test_identity_guess_error_is_the_authors():
    """Mean ‖y* − x*‖₁ of the authors' data: 274.5 ± 1.6 over 4,800 of their examples
    (their generator run with PhiFlow 3.4, docs/poisson_heat.md); hard 0/1 edges give 289."""
    x = heat.random_boxes(1024, tf.constant([0, 0], tf.int64), dtype=tf.float64)
    assert x.shape == (1024, 64, 64)  # the authors' grid by default
    error = np.abs((x - heat.simulate(x, NU_T)).numpy()).sum(axis=(1, 2)).mean()
    assert error == pytest.approx(274.5, rel=0.03)


def test_random_boxes_statistics_and_determinism():
    x = boxes(batch=64, grid=(32, 32), max_half_size=1.0)
    again = boxes(batch=64, grid=(32, 32), max_half_size=1.0)
    np.testing.assert_array_equal(x, again)
    values = x.numpy()
    assert values.min() >= 0 and values.max() <= 10
    # Centres in [3.2, 28.8) and half-sizes < 1 leave the outer 2 cells empty, on all sides.
    assert values[:, :2].max() == 0 and values[:, -2:].max() == 0
    assert values[:, :, :2].max() == 0 and values[:, :, -2:].max() == 0
    assert (values.reshape(64, -1).max(axis=1) > 0).mean() > 0.9


def test_wavenumbers_are_cycles_per_cell():
    k2 = fields.squared_wavenumbers(4, 4)
    assert k2[0, 0] == 0 and k2[2, 2] == 0.5


def test_decay_exponents_default_to_unit_cells_the_papers_cut_at_k2_0_28():
    """The paper: on unit cells at ν t = 8, a mode with |k|² ≥ 0.28 decays below e⁻⁸⁸."""
    k = np.fft.fftfreq(64)
    squared = k[:, None] ** 2 + k[None, :] ** 2
    kappa = heat.decay_exponents(64, 64, NU_T)
    np.testing.assert_allclose(kappa, (2 * np.pi) ** 2 * squared * NU_T, rtol=1e-12)
    cut = 88 / ((2 * np.pi) ** 2 * NU_T)  # 0.2786, the paper's "0.28"
    assert round(cut, 2) == 0.28 and ((kappa > 88) == (squared > cut)).all()


def test_no_time_no_diffusion_and_a_negative_time_is_refused():
    x = boxes()
    np.testing.assert_allclose(heat.simulate(x, 0.0), x, atol=1e-12)
    with pytest.raises(ValueError, match="nu_t=-1.0"):
        heat.simulate(x, -1.0)


def test_by_default_every_box_lies_whole_in_the_field():
    """The defaults (64 × 64, 4–10 boxes, half-size < 10, clipped inside): with exact edges
    the field's total is each box's strength times its whole area, 4 h_y h_x."""
    seed = tf.constant([6, 1], tf.int64)
    field = heat.random_boxes(32, seed, edges="exact", dtype=tf.float64)
    strength, _, half = heat.random_box_parameters(
        32, seed, (64, 64), (4, 10), 10.0, 0.8, True, tf.float64
    )
    areas = 4 * half.numpy()[..., 0] * half.numpy()[..., 1]
    np.testing.assert_allclose(field.numpy().sum(axis=(1, 2)), (strength * areas).numpy().sum(1))


def test_box_counts_are_at_least_one_and_may_be_fixed():
    one = heat.random_box_parameters(16, tf.constant([1, 1], tf.int64), (16, 16), (1, 1), 3.0,
                                     0.8, True, tf.float64)[0]  # fmt: skip
    assert ((one.numpy() > 0).sum(axis=1) == 1).all()
    np.testing.assert_array_equal(
        heat.random_boxes(2, tf.constant([1, 1], tf.int64), (16, 16), (1, 1), 3.0).shape,
        (2, 16, 16),
    )
    with pytest.raises(ValueError, match=r"boxes=\(0, 3\)"):
        heat.random_boxes(2, tf.constant([1, 1], tf.int64), (16, 16), (0, 3))


def test_a_boxs_strength_size_and_place_are_independent_draws():
    """One example per seed, over 300 seeds: the box count and the first box's strength,
    y half-size and y centre are uncorrelated (draws sharing a seed would not be)."""
    draws = [
        heat.random_box_parameters(
            1, tf.constant([seed, 9], tf.int64), (64, 64), (4, 10), 10.0, 0.8, False, tf.float64
        )  # fmt: skip
        for seed in range(300)
    ]
    strength = [float(s[0, 0]) for s, _, _ in draws]
    centre = [float(c[0, 0, 0]) for _, c, _ in draws]
    half = [float(h[0, 0, 0]) for _, _, h in draws]
    count = [int(np.count_nonzero(s)) for s, _, _ in draws]
    correlation = np.corrcoef([count, strength, centre, half])
    assert np.abs(correlation[np.triu_indices(4, 1)]).max() < 0.25, correlation
