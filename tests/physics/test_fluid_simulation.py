"""One step of B.5 and the simulation `P` (`pg_keras.physics.fluid.simulation`) on grids of a
few cells and a few steps."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics.fluid import advection, grid, pressure, simulation

DX, DT = 2.0, 0.5
RNG = np.random.default_rng(28)
MARKER = tf.constant(RNG.random((2, 6, 8)))


def uniform(vx, vy, shape=(2, 6, 8)):
    return tf.constant(np.stack([np.full(shape, vx), np.full(shape, vy)], -1))


def test_kinetic_energy_is_the_mean_square_per_example():
    velocity = tf.constant(RNG.normal(size=(2, 3, 4, 2)))
    np.testing.assert_allclose(
        simulation.kinetic_energy(velocity), np.mean(velocity.numpy() ** 2, axis=(1, 2, 3))
    )


def test_renormalising_scales_to_the_energy_and_keeps_zero_at_zero():
    velocity = tf.constant(RNG.normal(size=(3, 4, 4, 2)) * [[[[1.0]]], [[[2.0]]], [[[0.0]]]])
    energy = tf.constant([0.5, 3.0, 2.0], tf.float64)
    scaled = simulation.renormalize_energy(velocity, energy)
    np.testing.assert_allclose(simulation.kinetic_energy(scaled)[:2], energy[:2])
    ratio = scaled.numpy()[:2] / velocity.numpy()[:2]
    np.testing.assert_allclose(ratio, ratio[:, :1, :1, :1] * np.ones_like(ratio))  # one scale
    assert (ratio > 0).all()
    np.testing.assert_array_equal(scaled[2], 0.0)
    with tf.GradientTape() as tape:
        tape.watch(velocity)
        total = tf.reduce_sum(simulation.renormalize_energy(velocity, energy))
    assert np.isfinite(tape.gradient(total, velocity).numpy()).all()


@pytest.mark.parametrize("dt, cells", [(DT, 1), (-DT, -1)])
def test_a_uniform_flow_carries_the_marker_and_stays_as_it_is(dt, cells):
    """A whole number of cells per step (4·0.5/2 = 1 in x, −8·0.5/2 = −2 in y): exact lookups."""
    velocity = uniform(4.0, -8.0)
    start = simulation.FluidState(velocity, MARKER, tf.zeros_like(MARKER))
    state = simulation.step(start, dt, DX)
    np.testing.assert_allclose(
        state.marker, tf.roll(MARKER, [cells, -2 * cells], [2, 1]), atol=1e-12
    )
    np.testing.assert_allclose(state.velocity, velocity, atol=1e-12)
    np.testing.assert_allclose(state.pressure, 0.0, atol=1e-12)
    assert state.solve.converged.numpy().all()


def test_a_step_projects_keeps_the_energy_and_carries_the_marker_with_the_new_velocity():
    velocity = tf.constant(RNG.normal(size=(2, 6, 8, 2)))
    start = simulation.FluidState(velocity, MARKER, tf.zeros_like(MARKER))
    state = simulation.step(start, DT, DX)
    assert np.abs(grid.divergence(state.velocity, DX).numpy()).max() < 1e-12
    np.testing.assert_allclose(
        simulation.kinetic_energy(state.velocity), simulation.kinetic_energy(velocity)
    )
    expected = advection.advect_marker(MARKER, state.velocity, DT, DX)
    np.testing.assert_allclose(state.marker, expected, atol=1e-12)
    semi_lagrangian = simulation.step(start, DT, DX, correction=0.0)
    expected = advection.advect_marker(MARKER, semi_lagrangian.velocity, DT, DX, 0.0)
    np.testing.assert_allclose(semi_lagrangian.marker, expected, atol=1e-12)


def test_simulate_returns_the_projected_start_and_every_step():
    velocity0 = tf.constant(RNG.normal(size=(2, 6, 8, 2)))
    states = simulation.simulate(velocity0, MARKER, DT, DX, 2)
    assert len(states) == 3
    projected, _ = simulation.make_incompressible_centered(velocity0, DX)
    np.testing.assert_allclose(states[0].velocity, grid.centered_to_staggered(projected))
    np.testing.assert_array_equal(states[0].marker, MARKER)
    np.testing.assert_array_equal(states[0].pressure, 0.0)
    again = simulation.step(states[1], DT, DX)
    np.testing.assert_allclose(states[2].velocity, again.velocity, atol=1e-12)
    np.testing.assert_allclose(states[2].marker, again.marker, atol=1e-12)
    assert len(simulation.simulate(velocity0, MARKER, DT, DX, 0)) == 1


def test_simulate_passes_the_correction_to_every_step():
    """Uniform flow, fractions of a cell: the marker gets exactly one advection per step."""
    velocity0 = uniform(1.3, -0.7)
    for correction in (0.0, 1.0):
        expected = MARKER
        for _ in range(2):
            expected = advection.maccormack(
                expected, uniform(1.3, -0.7)[..., 0], uniform(1.3, -0.7)[..., 1], DT, DX, correction
            )
        got = simulation.simulate(velocity0, MARKER, DT, DX, 2, correction=correction)[-1].marker
        np.testing.assert_allclose(got, expected, atol=1e-12)
        if correction == 1.0:
            default = simulation.simulate(velocity0, MARKER, DT, DX, 2)[-1].marker
            np.testing.assert_allclose(default, expected, atol=1e-12)


def test_each_step_starts_its_pressure_solve_from_the_last_pressure():
    guesses = []

    def solver(rhs, dx, guess, stencil="compact"):
        guesses.append(guess)
        return pressure.spectral_poisson(rhs, dx, guess, stencil)

    velocity0 = tf.constant(RNG.normal(size=(2, 6, 8, 2)))
    states = simulation.simulate(velocity0, MARKER, DT, DX, 2, solver)
    assert guesses[0] is None  # the projection of v0
    np.testing.assert_array_equal(guesses[1], 0.0)
    np.testing.assert_array_equal(guesses[2], states[1].pressure)


def test_the_simulation_reports_every_projection():
    capped = pressure.conjugate_gradient_poisson(rtol=1e-10, max_iterations=2)
    velocity0 = tf.constant(RNG.normal(size=(2, 6, 8, 2)))
    states = simulation.simulate(velocity0, MARKER, DT, DX, 2, capped)
    solves = simulation.pressure_solves(states)
    assert solves.num_iterations.numpy().tolist() == [6, 6]  # v0's and two steps'
    assert not solves.converged.numpy().any()
    hand_made = simulation.FluidState(states[0].velocity, MARKER, tf.zeros_like(MARKER))
    alone = simulation.pressure_solves([hand_made, states[1]])
    assert alone.num_iterations.numpy().tolist() == [2, 2]


@pytest.mark.parametrize(
    "velocity0, marker0, steps, dx, message",
    [
        (uniform(1.0, 0.0)[..., 0], MARKER, 1, DX, r"`velocity0` of rank 4"),
        (uniform(1.0, 0.0), MARKER[0], 1, DX, r"`marker0` of rank 3"),
        (uniform(1.0, 0.0), MARKER, -1, DX, r"`steps` >= 0. Received: steps=-1"),
        (uniform(1.0, 0.0), MARKER, 1, 0.0, r"`dx` > 0. Received: dx=0.0"),
    ],
)
def test_simulate_names_what_it_cannot_run(velocity0, marker0, steps, dx, message):
    with pytest.raises(ValueError, match=message):
        simulation.simulate(velocity0, marker0, DT, dx, steps)


def test_any_positive_cell_size_runs():
    states = simulation.simulate(uniform(1.0, 0.0), MARKER, DT, 0.5, 1)
    assert len(states) == 2 and np.isfinite(states[-1].marker.numpy()).all()
