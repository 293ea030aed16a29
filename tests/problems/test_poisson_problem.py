"""The Poisson problem on a 16 × 16 grid: data, analytic PG, schemes, training."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.config import CompareConfig
from pg_keras.physical_gradient import physics_backward, physics_forward
from pg_keras.problems import get_problem
from pg_keras.problems.poisson import stable_gd_step
from pg_keras.solving import gradient_descent
from pg_keras.training.compare import compare

TINY = {"ny": 16, "nx": 16, "bands": "1,2,4,8", "levels": 2, "filters": 4, "cg_rtol": 1e-6}


@pytest.fixture(scope="module")
def problem():
    return get_problem("poisson", TINY)


@pytest.fixture(scope="module")
def batch(problem):
    return problem.generate(3, tf.constant([0, 7], tf.int64))


def test_analytic_pg_recovers_x_star_in_one_step(problem, batch):
    """A unit step along the PG from any x lands on x* (noise-free data)."""
    rule = problem.scheme("inverse-physics").rule
    x = tf.random.stateless_normal([3, 16, 16], [3, 4])
    y, residuals = physics_forward(x, lambda z: problem.simulate(z, {}), rule)
    delta = physics_backward(residuals, y - batch["y_target"], rule, "sum")
    x_true = batch["x_target"].numpy()
    np.testing.assert_allclose(x - delta, x_true, atol=1e-3 * np.abs(x_true).max())


def test_a_solve_that_hits_the_cap_is_an_error_naming_the_settings():
    capped = get_problem("poisson", {**TINY, "cg_max_iterations": 2})
    source = tf.random.stateless_normal([2, 16, 16], [5, 6])
    with pytest.raises(tf.errors.InvalidArgumentError, match="cg_max_iterations=2"):
        capped.simulate(source, {})


def test_sgd_scheme_uses_momentum_and_the_papers_tiny_rate(problem):
    scheme = problem.scheme("sgd-momentum")
    assert (scheme.optimizer, scheme.learning_rate) == ("sgd-momentum", 1e-9)
    assert not scheme.rule.is_physical


def test_x_error_is_the_l1_norm(problem, batch):
    np.testing.assert_allclose(problem.x_error(batch["x_target"] - 2.0, batch), np.full(3, 512.0))


def test_image_summary_shape(problem, batch):
    image = problem.image_summary(batch, batch["x_target"], batch["y_target"])
    assert image.shape == (3, 16, 4 * 17 - 1, 1)


def test_the_inverse_physics_scheme_learns_where_the_papers_sgd_does_not(tmp_path):
    """Both schemes start from the same weights on the same batches. In 12 steps the PG
    scheme (Adam 1e-3) lowers the held-out error below the SGD scheme's, whose 1e-9 rate
    (the paper's) leaves the network where it started."""
    config = CompareConfig(
        "poisson", ("sgd-momentum", "inverse-physics"), 12, batch_size=2, spec=TINY
    )
    report = compare(config, tmp_path, verbose=0)
    sgd, pg = (report["results"][name]["runs"][0] for name in config.gradients)
    assert sgd["curve"][0] == pg["curve"][0]  # the first step is measured before any update
    for metric in ("x_mae", "y_loss"):
        assert pg["inference"][metric] < 0.998 * sgd["inference"][metric], metric


def test_gradient_descent_takes_the_largest_step_that_shrinks_every_mode():
    # The step is λ², λ the Laplacian's eigenvalue of least magnitude: P amplifies the
    # smoothest mode by exactly 1/λ (checked through the physics, with dx != 1), and
    # gradient descent from zero then lowers the objective at every iteration, where
    # 2.5 times the step (beyond 2/L) diverges.
    problem = get_problem("poisson", {"ny": 16, "nx": 12, "dx": 0.5, "bands": (1, 2, 4)})
    step = stable_gd_step(problem.spec)
    i, j = np.arange(1, 17), np.arange(1, 13)
    mode = np.outer(np.sin(np.pi * i / 17), np.sin(np.pi * j / 13))[None]
    y = problem.simulate(tf.constant(mode), {}).numpy()
    np.testing.assert_allclose(y, -mode / np.sqrt(step), rtol=1e-4)

    batch = problem.generate(2, tf.constant([3, 4], tf.int64))
    x0 = problem.initial_guess(batch)

    def objectives(learning_rate):
        history = []
        y_target = tf.cast(batch["y_target"], tf.float64)
        for iterations in (1, 2, 4, 8, 16):
            x = gradient_descent(learning_rate)(problem, batch, x0, iterations).x
            y = problem.simulate(tf.cast(x, tf.float64), batch)
            history.append(float(tf.reduce_max(problem.objective(y, y_target))))
        return history

    stable = objectives(step)
    assert all(later < earlier for earlier, later in zip(stable, stable[1:], strict=False))
    assert objectives(2.5 * step)[-1] > 100 * stable[0]
    # The problem's own `gd` (pg-keras solve, Table 1) is this one.
    ours = problem.solvers()["gd"](problem, batch, x0, 3).x
    np.testing.assert_array_equal(ours, gradient_descent(step)(problem, batch, x0, 3).x)
