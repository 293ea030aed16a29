"""B.5's velocity prior (`pg_keras.physics.fluid.prior`): positions in domain units, the
vortex written out per cell, and the strength it fits recovered exactly."""

import numpy as np
import tensorflow as tf

from pg_keras.physics.fluid import prior

DX = 2.0
NY, NX = 6, 8  # domain 12 high, 16 wide


def point_masses():
    """Example 0: mass 0.4 at cell (j=1, i=5); example 1: masses 1 at (4, 2) and (0, 6)."""
    marker = np.zeros((2, NY, NX))
    marker[0, 1, 5] = 0.4  # a total under 1 is as much a mass as any other
    marker[1, 4, 2] = marker[1, 0, 6] = 1.0
    return tf.constant(marker)


def test_centre_of_mass_is_x_then_y_in_domain_units():
    # Cell (j, i)'s centre is ((i + ½)·dx, (j + ½)·dx).
    expected = [[11.0, 3.0], [(5.0 + 13.0) / 2, (9.0 + 1.0) / 2]]
    np.testing.assert_allclose(prior.center_of_mass(point_masses(), DX), expected)


def test_centre_of_mass_of_a_stack_of_batches_and_of_no_mass():
    stacked = tf.stack([point_masses(), tf.zeros([2, NY, NX], tf.float64)])
    centres = prior.center_of_mass(stacked, DX).numpy()
    assert centres.shape == (2, 2, 2)
    np.testing.assert_allclose(centres[0], prior.center_of_mass(point_masses(), DX))
    np.testing.assert_array_equal(centres[1], 0.0)  # no mass sits at 0, not NaN


def test_uniform_velocity_brings_the_centre_of_mass_to_the_domain_centre_in_time():
    np.testing.assert_allclose(prior.domain_center(NY, NX, DX, tf.float64), [8.0, 6.0])
    u = prior.uniform_velocity(point_masses(), DX, duration=4.0)
    np.testing.assert_allclose(u, [[(8.0 - 11.0) / 4, (6.0 - 3.0) / 4], [(8 - 9) / 4, (6 - 5) / 4]])


def test_vortex_profile_is_a_counter_clockwise_gaussian_per_cell():
    centre = tf.constant([[5.0, 7.0], [12.0, 2.0]], tf.float64)
    width = 3.0
    profile = prior.vortex_profile(NY, NX, DX, centre, width, tf.float64).numpy()
    assert profile.shape == (2, NY, NX, 2)
    for b, j, i in np.ndindex(2, NY, NX):
        d_x = (i + 0.5) * DX - centre[b, 0]
        d_y = (j + 0.5) * DX - centre[b, 1]
        falloff = np.exp(-(d_x**2 + d_y**2) / (2 * width**2))
        np.testing.assert_allclose(profile[b, j, i], [-d_y * falloff, d_x * falloff], atol=1e-12)


def test_project_strength_recovers_the_strength_exactly():
    # Off the domain's centre, so that the vortex has a mean flow and the fit must take `u`
    # out first.
    centre = tf.constant([[4.0, 3.0], [12.0, 9.0]], tf.float64)
    profile = prior.vortex_profile(NY, NX, DX, centre, 3.0, tf.float64)
    assert np.abs(tf.reduce_mean(profile, axis=[1, 2]).numpy()).min() > 0.1
    uniform = tf.constant([[0.5, -1.0], [2.0, 0.25]], tf.float64)
    strength = tf.constant([0.7, -1.3], tf.float64)
    velocity = uniform[:, None, None, :] + strength[:, None, None, None] * profile
    np.testing.assert_allclose(prior.project_strength(velocity, uniform, profile), strength)
