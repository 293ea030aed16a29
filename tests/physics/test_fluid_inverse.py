"""B.5's inverse simulator (`pg_keras.physics.fluid.inverse`) on a 12×14 grid with two steps:
the update its docstring writes out, its direction, and its report of the solves."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics.fluid import grid, inverse, pressure, prior, projection, simulation

NY, NX, DX, DT, STEPS, WIDTH = 12, 14, 2.0, 0.5, 2, 4.0


def blob(cx, cy, width=3.0):
    x, y = np.meshgrid((np.arange(NX) + 0.5) * DX, (np.arange(NY) + 0.5) * DX)
    return tf.constant(np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))[None])


MARKER0 = blob(9.0, 13.0)
CENTRE = tf.constant([[14.0, 12.0]], tf.float64)  # the domain's centre (x, y)


def vortex():
    """The prior's vortex: unit strength at the domain centre, made divergence-free."""
    profile = prior.vortex_profile(NY, NX, DX, CENTRE, WIDTH, tf.float64)
    return projection.make_incompressible_centered(profile, DX)[0]


def guess(uniform, strength):
    return uniform[:, None, None, :] + strength * vortex()


def test_the_update_is_the_docstrings_torque_step():
    uniform = prior.uniform_velocity(MARKER0, DX, DT * STEPS)
    target = simulation.simulate(guess(uniform, 0.8), MARKER0, DT, DX, STEPS)[-1].marker
    update = inverse.inverse_vortex_update(
        guess(uniform, 0.3), MARKER0, target, DT, DX, STEPS, WIDTH, step_size=0.05
    )
    # 1. u from m0; ω from the guess. 2. forward from m0. 3. reverse from (m*, v_t) with −dt.
    np.testing.assert_allclose(update.uniform, uniform)
    forward = simulation.simulate(guess(uniform, 0.3), MARKER0, DT, DX, STEPS)
    reverse = [simulation.FluidState(forward[-1].velocity, target, forward[-1].pressure)]
    for _ in range(STEPS):
        reverse.append(simulation.step(reverse[-1], -DT, DX))
    reverse = reverse[::-1]
    # 4. ω ← ω − step_size · mean_k (c_fwd[k] − c_rev[k]) × (c_k − p_k).
    torques = []
    for k in range(STEPS + 1):
        c_fwd = prior.center_of_mass(forward[k].marker, DX).numpy()[0]
        c_rev = prior.center_of_mass(reverse[k].marker, DX).numpy()[0]
        c_k = CENTRE.numpy()[0] + uniform.numpy()[0] * k * DT
        a, lever = c_fwd - c_rev, c_k - (c_fwd + c_rev) / 2
        torques.append(a[0] * lever[1] - a[1] * lever[0])
    strength = 0.3 - 0.05 * np.mean(torques)
    assert abs(np.mean(torques)) > 1e-3  # the check below sees the step
    np.testing.assert_allclose(update.strength, [strength], rtol=1e-9)
    np.testing.assert_allclose(update.velocity, guess(uniform, strength), atol=1e-12)
    default = inverse.inverse_vortex_update(
        guess(uniform, 0.3), MARKER0, target, DT, DX, STEPS, WIDTH
    )
    np.testing.assert_allclose(default.strength, [0.3 - 1e-3 * np.mean(torques)], rtol=1e-9)


@pytest.mark.parametrize("start", [0.0, 1.6])
def test_the_update_moves_the_strength_toward_the_truth_from_either_side(start):
    uniform = prior.uniform_velocity(MARKER0, DX, DT * STEPS)
    target = simulation.simulate(guess(uniform, 0.8), MARKER0, DT, DX, STEPS)[-1].marker
    update = inverse.inverse_vortex_update(
        guess(uniform, start), MARKER0, target, DT, DX, STEPS, WIDTH, step_size=0.05
    )
    assert abs(update.strength.numpy()[0] - 0.8) < abs(start - 0.8), update.strength.numpy()


def test_the_new_velocity_is_divergence_free_once_staggered():
    uniform = prior.uniform_velocity(MARKER0, DX, DT * STEPS)
    update = inverse.inverse_vortex_update(
        guess(uniform, 0.5), MARKER0, MARKER0, DT, DX, STEPS, WIDTH
    )
    staggered = grid.centered_to_staggered(update.velocity)
    assert np.abs(grid.divergence(staggered, DX).numpy()).max() < 1e-12


def test_the_update_reports_every_pressure_solve():
    capped = pressure.conjugate_gradient_poisson(rtol=1e-10, max_iterations=1)
    uniform = prior.uniform_velocity(MARKER0, DX, DT * STEPS)
    update = inverse.inverse_vortex_update(
        guess(uniform, 0.5), MARKER0, MARKER0, DT, DX, STEPS, WIDTH, 1e-2, capped
    )
    # One CG iteration each: the prior's vortex, the forward simulation's v0 and two steps,
    # two reverse steps.
    assert not update.solves.converged.numpy().any()
    np.testing.assert_array_equal(update.solves.num_iterations, [6])
