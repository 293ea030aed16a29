"""The MAC-grid fluid of `pg_keras.physics.fluid` on tiny periodic grids."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics import fluid

DX = 2.0


def solenoidal(batch: int, n: int, seed: int) -> tf.Tensor:
    """A discretely divergence-free staggered velocity: the curl of a random stream function."""
    psi = tf.random.stateless_normal([batch, n, n], [seed, 0], dtype=tf.float64)
    u = (tf.roll(psi, -1, 1) - psi) / DX
    w = -(tf.roll(psi, -1, 2) - psi) / DX
    return tf.stack([u, w], axis=-1)


def blob(n: int, cx: float, cy: float, width: float) -> np.ndarray:
    xs = (np.arange(n) + 0.5) * DX
    x, y = np.meshgrid(xs, xs)
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))[None]


def test_divergence_free_field_stays_divergence_free():
    velocity = solenoidal(2, 16, seed=1)
    assert np.abs(fluid.divergence(velocity, DX).numpy()).max() < 1e-12
    projected, _, result = fluid.make_incompressible(velocity, DX)
    assert result.converged.numpy().all()
    np.testing.assert_allclose(projected.numpy(), velocity.numpy(), atol=1e-12)


def test_projection_removes_divergence_and_is_idempotent():
    velocity = tf.random.stateless_normal([2, 16, 12, 2], [2, 0], dtype=tf.float64)
    projected, pressure, result = fluid.make_incompressible(velocity, DX)
    assert np.abs(fluid.divergence(projected, DX).numpy()).max() < 1e-12
    assert result.residual.numpy().max() < 1e-12
    np.testing.assert_allclose(
        fluid.laplacian(pressure, DX).numpy(), fluid.divergence(velocity, DX).numpy(), atol=1e-12
    )
    again, _, _ = fluid.make_incompressible(projected, DX)
    np.testing.assert_allclose(again.numpy(), projected.numpy(), atol=1e-12)


def test_uniform_flow_translates_marker_by_u_t():
    marker = tf.constant(blob(32, 30.0, 34.0, 6.0))
    velocity = np.zeros([1, 32, 32, 2])
    velocity[..., 0], velocity[..., 1] = 3.0, -1.5
    states = fluid.simulate(tf.constant(velocity), marker, 0.25, DX, 8)
    moved = fluid.center_of_mass(states[-1].marker, DX) - fluid.center_of_mass(marker, DX)
    np.testing.assert_allclose(moved.numpy(), [[3.0 * 2.0, -1.5 * 2.0]], atol=0.01)
    # A uniform flow is divergence-free and keeps its energy: it stays as it was.
    np.testing.assert_allclose(states[-1].velocity.numpy()[..., 0], 3.0, atol=1e-12)


def test_marker_stays_in_range_and_keeps_its_mass_in_a_vortex():
    n = 24
    marker = tf.constant(blob(n, 20.0, 24.0, 5.0))
    centre = tf.constant([[24.0, 24.0]], tf.float64)
    velocity = 0.8 * fluid.vortex_profile(n, n, DX, centre, 10.0, tf.float64)
    states = fluid.simulate(velocity, marker, 0.25, DX, 8)
    final = states[-1].marker.numpy()
    # Clamping: MacCormack never leaves the range of the values it interpolated.
    assert final.min() >= 0.0 and final.max() <= marker.numpy().max() + 1e-12
    mass0, mass = marker.numpy().sum(), final.sum()
    assert abs(mass - mass0) / mass0 < 0.02, (mass0, mass)
    assert not np.allclose(final, marker.numpy(), atol=1e-2)  # it did move


def test_energy_is_renormalised_every_step():
    velocity = tf.random.stateless_normal([2, 12, 12, 2], [3, 0], dtype=tf.float64)
    states = fluid.simulate(velocity, tf.zeros([2, 12, 12], tf.float64), 0.25, DX, 3)
    energies = [fluid.kinetic_energy(s.velocity).numpy() for s in states]
    np.testing.assert_allclose(energies[1], energies[0], rtol=1e-12)
    np.testing.assert_allclose(energies[3], energies[0], rtol=1e-12)


def test_one_step_gradient_matches_finite_differences():
    n = 8
    marker = tf.constant(blob(n, 7.0, 9.0, 3.0))
    base = 0.3 * tf.random.stateless_normal([1, n, n, 2], [7, 0], dtype=tf.float64)

    @tf.function
    def one_step(v):
        state = fluid.simulate(v, marker, 0.25, DX, 1)[-1]
        return tf.concat([tf.reshape(state.marker, [-1]), tf.reshape(state.velocity, [-1])], 0)

    theoretical, numerical = tf.test.compute_gradient(one_step, [base], delta=1e-6)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-5)


def test_frequency_loss_ignores_offsets_and_weights_coarse_structure():
    target = tf.constant(blob(16, 16.0, 16.0, 4.0))
    loss = functools.partial(fluid.frequency_weighted_loss, wavelength=20.0)
    assert loss(target + 0.3, target).numpy()[0] == pytest.approx(16 * 16 * np.sqrt(1e-5))
    shifted = tf.roll(target, 3, 2)
    noisy = target + 0.05 * tf.random.stateless_normal([1, 16, 16], [8, 0], dtype=tf.float64)
    assert loss(shifted, target).numpy()[0] > 3 * loss(noisy, target).numpy()[0]


def test_loss_weights_are_in_cycles_per_cell_as_the_authors():
    weights = fluid.loss_weights(64, 64, 80.0)
    np.testing.assert_allclose(weights[0, 1:4], [0.46, 0.044, 0.0009], rtol=0.03)
    np.testing.assert_allclose(weights[1:4, 0], weights[0, 1:4])
    assert weights[0, 0] == 1.0
    # The loss is those weights: a single mode-2 mismatch costs its amplitude times 0.044.
    x = (np.arange(64) + 0.5) * DX
    wave = tf.constant(np.cos(2 * np.pi * 2 * x / 128.0)[None, None, :] * np.ones([1, 64, 1]))
    floor = (64 * 64 - 2) * np.sqrt(1e-5)
    mode2 = fluid.frequency_weighted_loss(wave, tf.zeros_like(wave)).numpy()[0] - floor
    np.testing.assert_allclose(mode2, 2 * (64 * 64 / 2) * weights[0, 2], rtol=1e-6)


def test_inverse_vortex_update_moves_the_strength_toward_the_truth():
    n, dt, steps, width = 32, 0.25, 8, 10.0
    marker0 = tf.constant(np.roll(blob(n, 40.0, 32.0, 5.0), 0, 1))
    centre = tf.constant([[32.0, 32.0]], tf.float64)
    profile = fluid.vortex_profile(n, n, DX, centre, width, tf.float64)
    uniform = fluid.uniform_velocity(marker0, DX, dt * steps)
    truth = uniform[:, None, None, :] + 0.6 * profile
    target = fluid.simulate(truth, marker0, dt, DX, steps)[-1].marker

    @tf.function
    def update(strength):
        guess = uniform[:, None, None, :] + strength[:, None, None, None] * profile
        return fluid.inverse_vortex_update(
            guess, marker0, target, dt, DX, steps, width, step_size=1e-2
        )[1]

    strength = tf.constant([0.0], tf.float64)
    first = update(strength)
    assert 0 < first.numpy()[0] < 0.6  # the first update points toward ω* = 0.6
    strength = first
    for _ in range(19):
        strength = update(strength)
    assert abs(strength.numpy()[0] - 0.6) < 0.1, strength.numpy()


def test_gradient_is_finite_at_zero_velocity():
    marker = tf.constant(blob(8, 7.0, 9.0, 3.0))
    zero = tf.zeros([1, 8, 8, 2], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(zero)
        final = fluid.simulate(zero, marker, 0.25, DX, 2)[-1].marker
        loss = tf.reduce_sum(final * tf.roll(marker, 1, 2))
    assert np.isfinite(tape.gradient(loss, zero).numpy()).all()


def test_cg_projection_matches_the_fft_solve_and_warm_start_saves_iterations():
    velocity = tf.random.stateless_normal([2, 16, 12, 2], [3, 0], dtype=tf.float64)
    cg = fluid.conjugate_gradient_poisson(rtol=1e-10)
    projected, pressure, result = fluid.make_incompressible(velocity, DX, cg)
    assert result.converged.numpy().all()
    assert np.abs(fluid.divergence(projected, DX).numpy()).max() < 1e-8
    exact, exact_pressure, _ = fluid.make_incompressible(velocity, DX)
    np.testing.assert_allclose(projected.numpy(), exact.numpy(), atol=1e-8)
    np.testing.assert_allclose(pressure.numpy(), exact_pressure.numpy(), atol=1e-8)
    nearby = exact_pressure + 1e-6 * tf.random.stateless_normal(
        [2, 16, 12], [4, 0], dtype=tf.float64
    )
    _, _, warm = fluid.make_incompressible(velocity, DX, cg, nearby)
    assert (warm.num_iterations.numpy() < result.num_iterations.numpy()).all()


def test_cg_projection_gradient_is_the_adjoint_solve():
    velocity = tf.random.stateless_normal([1, 6, 6, 2], [5, 0], dtype=tf.float64)
    cg = fluid.conjugate_gradient_poisson(rtol=1e-12)

    def project(solver):
        return lambda v: fluid.make_incompressible(v, DX, solver)[0]

    theoretical, numerical = tf.test.compute_gradient(project(cg), [velocity], delta=1e-6)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)
    reference, _ = tf.test.compute_gradient(project(fluid.spectral_poisson), [velocity])
    np.testing.assert_allclose(theoretical[0], reference[0], atol=1e-8)


def test_simulation_reports_how_every_pressure_solve_ended():
    velocity = 0.5 * tf.random.stateless_normal([2, 12, 12, 2], [9, 0], dtype=tf.float64)
    marker = tf.zeros([2, 12, 12], tf.float64)
    exact = fluid.pressure_solves(fluid.simulate(velocity, marker, 0.25, DX, 3))
    assert exact.converged.numpy().all() and (exact.num_iterations.numpy() == 0).all()
    assert exact.residual.numpy().max() < 1e-10
    fluid.check_converged(exact)  # passes
    capped = fluid.conjugate_gradient_poisson(rtol=1e-10, max_iterations=2)
    solves = fluid.pressure_solves(fluid.simulate(velocity, marker, 0.25, DX, 3, capped))
    assert not solves.converged.numpy().any()
    # The projection of v0 and one per step: 4 solves stopped after 2 iterations.
    np.testing.assert_array_equal(solves.num_iterations.numpy(), [8, 8])
    with pytest.raises(tf.errors.InvalidArgumentError, match="did not converge"):
        fluid.check_converged(solves)


def test_inverse_update_reports_its_pressure_solves():
    marker0 = tf.constant(blob(16, 12.0, 16.0, 3.0))
    centre = tf.constant([[16.0, 16.0]], tf.float64)
    velocity = 0.5 * fluid.vortex_profile(16, 16, DX, centre, 5.0, tf.float64)
    capped = fluid.conjugate_gradient_poisson(rtol=1e-10, max_iterations=1)
    update = fluid.inverse_vortex_update(velocity, marker0, marker0, 0.25, DX, 2, 5.0, 1e-2, capped)
    # Six solves stopped after their one CG iteration: the prior's vortex, the forward
    # simulation's v0 and two steps, two reverse steps.
    assert not update.solves.converged.numpy().any()
    np.testing.assert_array_equal(update.solves.num_iterations.numpy(), [6])


def test_centered_divergence_is_the_mac_divergence_of_the_face_averages():
    velocity = tf.random.stateless_normal([2, 10, 12, 2], [10, 0], dtype=tf.float64)
    np.testing.assert_allclose(
        fluid.centered_divergence(velocity, DX).numpy(),
        fluid.divergence(fluid.centered_to_staggered(velocity), DX).numpy(),
        atol=1e-14,
    )


def mac_divergence_norm(centred: tf.Tensor) -> np.ndarray:
    divergence = fluid.divergence(fluid.centered_to_staggered(centred), DX)
    return np.sqrt(np.sum(divergence.numpy() ** 2, axis=(1, 2)))


@pytest.mark.parametrize("dtype, atol", [(tf.float64, 1e-12), (tf.float32, 1e-5)])
def test_centred_projection_leaves_no_divergence_with_the_fft_solve(dtype, atol):
    velocity = 3.0 * tf.random.stateless_normal([2, 16, 12, 2], [11, 0], dtype=dtype)
    projected, result = fluid.make_incompressible_centered(velocity, DX)
    assert result.converged.numpy().all()
    assert mac_divergence_norm(projected).max() < atol * mac_divergence_norm(velocity).min()


def test_centred_projection_leaves_no_more_divergence_than_the_cg_tolerance():
    velocity = tf.random.stateless_normal([2, 16, 12, 2], [12, 0], dtype=tf.float64)
    for rtol in (1e-3, 1e-8):
        cg = fluid.conjugate_gradient_poisson(rtol=rtol)
        projected, result = fluid.make_incompressible_centered(velocity, DX, cg)
        assert result.converged.numpy().all() and (result.num_iterations.numpy() > 1).all()
        # CG's residual is exactly the divergence that the projection leaves.
        ratio = mac_divergence_norm(projected) / mac_divergence_norm(velocity)
        assert (ratio <= rtol).all(), (rtol, ratio)


def test_centred_projection_is_orthogonal_and_idempotent():
    velocity = tf.random.stateless_normal([2, 12, 12, 2], [13, 0], dtype=tf.float64)
    projected, _ = fluid.make_incompressible_centered(velocity, DX)
    removed = velocity - projected
    assert np.abs(np.sum((removed * projected).numpy(), axis=(1, 2, 3))).max() < 1e-10
    again, _ = fluid.make_incompressible_centered(projected, DX)
    np.testing.assert_allclose(again.numpy(), projected.numpy(), atol=1e-12)
    # A divergence-free field (uniform flow plus a stream function's curl) is kept.
    psi = tf.random.stateless_normal([2, 12, 12], [14, 0], dtype=tf.float64)
    swirl = tf.stack(
        [fluid.centered_gradient(psi, DX)[..., 1], -fluid.centered_gradient(psi, DX)[..., 0]], -1
    )
    kept, _ = fluid.make_incompressible_centered(swirl + 1.5, DX)
    np.testing.assert_allclose(kept.numpy(), swirl.numpy() + 1.5, atol=1e-12)


def test_a_curl_free_part_of_v0_barely_moves_the_final_marker():
    """Issue 18: unprojected, a curl-free part of v0 as large as v0 moved the marker by more
    than its mass (the first step's energy renormalisation put the part back as flow)."""
    n, dt, steps = 32, 0.25, 8
    marker0 = tf.constant(blob(n, 26.0, 34.0, 5.0))
    centre = tf.constant([[32.0, 32.0]], tf.float64)
    v0 = 1.5 * fluid.vortex_profile(n, n, DX, centre, 10.0, tf.float64)
    v0 = v0 + tf.constant([2.0, -1.0], tf.float64)
    x, y = np.meshgrid((np.arange(n) + 0.5) * DX, (np.arange(n) + 0.5) * DX)
    phase = 2 * np.pi * (x + 2 * y) / (n * DX) + 0.3  # the potential cos(phase), its gradient:
    curl_free = tf.constant(np.stack([-np.sin(phase), -2 * np.sin(phase)], -1)[None])
    curl_free *= tf.sqrt(tf.reduce_mean(v0**2) / tf.reduce_mean(curl_free**2))

    def final_marker(velocity0, project):
        if project:
            states = fluid.simulate(velocity0, marker0, dt, DX, steps)
            assert np.abs(fluid.divergence(states[0].velocity, DX).numpy()).max() < 1e-12
            return states[-1].marker
        state = fluid.FluidState(fluid.centered_to_staggered(velocity0), marker0, marker0 * 0)
        for _ in range(steps):
            state = fluid.step(state, dt, DX)
        return state.marker

    mass = float(tf.reduce_sum(marker0))
    for project, low, high in ((True, 0.0, 0.02 * mass), (False, 0.3 * mass, np.inf)):
        moved = final_marker(v0 + curl_free, project) - final_marker(v0, project)
        assert low <= float(tf.reduce_sum(tf.abs(moved))) < high, (project, mass)


def test_float32_cg_projects_an_already_projected_velocity():
    """Its divergence is round-off, with as much in the wide stencil's null space (the
    checkerboards) as outside: unless the solve removes that part, float32 CG piled it up
    and ran to its cap with residuals in the hundreds (seen in the problem's data)."""
    velocity = 3.0 * tf.random.stateless_normal([2, 16, 16, 2], [15, 0], dtype=tf.float32)
    cg = fluid.conjugate_gradient_poisson(rtol=1e-6)
    projected, result = fluid.make_incompressible_centered(velocity, DX, cg)
    assert result.converged.numpy().all()
    again, result = fluid.make_incompressible_centered(projected, DX, cg)
    assert result.converged.numpy().all() and (result.num_iterations.numpy() < 100).all()
    np.testing.assert_allclose(again.numpy(), projected.numpy(), atol=1e-5)


def test_null_part_is_the_stencils_null_space():
    field = tf.random.stateless_normal([1, 6, 5], [16, 0], dtype=tf.float64)
    for name, stencil in fluid.STENCILS.items():
        null = fluid.stencils.null_part(field, stencil)
        assert np.abs(stencil.apply(null, DX).numpy()).max() < 1e-12, name
        np.testing.assert_allclose(fluid.stencils.null_part(null, stencil), null, atol=1e-14)
    # The wide stencil's null space holds the checkerboard along the even axis (period 2).
    checker = tf.constant(np.cos(np.pi * np.arange(6))[None, :, None] * np.ones([1, 6, 5]))
    wide = fluid.STENCILS["wide"]
    np.testing.assert_allclose(fluid.stencils.null_part(checker, wide), checker, atol=1e-14)
