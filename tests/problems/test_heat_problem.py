"""The heat problem on a 16 × 16 grid: data, mean shift, metric, schemes, solvers, training."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.config import CompareConfig
from pg_keras.physical_gradient import physics_backward, physics_forward
from pg_keras.physics import heat as physics
from pg_keras.problems import get_problem
from pg_keras.problems.heat import HeatSpec
from pg_keras.rules import BackwardContext
from pg_keras.solving import solve
from pg_keras.training.compare import compare

TINY = {"ny": 16, "nx": 16, "max_half_size": 4.0, "levels": 2, "filters": 4, "nu_t": 2.0}


@pytest.fixture(scope="module")
def problem():
    return get_problem("heat", TINY)


@pytest.fixture(scope="module")
def batch(problem):
    return problem.generate(4, tf.constant([0, 5], tf.int64))


def test_batch_is_float64_and_y_is_the_diffused_x(problem, batch):
    assert batch["y_target"].dtype == tf.float64 and batch["x_target"].shape == (4, 16, 16)
    np.testing.assert_allclose(problem.simulate(batch["x_target"], {}), batch["y_target"])


def test_postprocess_shifts_the_mean_to_the_observation(problem, batch):
    x = tf.random.stateless_normal([4, 16, 16], [1, 2], dtype=tf.float64)
    shifted = problem.postprocess(x, batch)
    np.testing.assert_allclose(
        tf.reduce_mean(shifted, [1, 2]), tf.reduce_mean(batch["y_target"], [1, 2]), atol=1e-12
    )


def test_x_error_is_the_l1_norm(problem, batch):
    x = batch["x_target"] + 0.5
    np.testing.assert_allclose(problem.x_error(x, batch), np.full(4, 0.5 * 256))


def test_pg_rule_through_the_layer_is_the_probabilistic_inverse(problem, batch):
    rule = problem.scheme("inverse-physics").rule
    x = problem.initial_guess(batch)
    y, residuals = physics_forward(x, lambda z: problem.simulate(z, {}), rule)
    dy = y - batch["y_target"]  # a sum-reduced ½‖y − y*‖²
    delta = physics_backward(residuals, dy, rule, "sum")
    expected = x - physics.probabilistic_inverse(x, y, batch["y_target"], 2.0)
    np.testing.assert_allclose(delta, expected, atol=1e-12)


def test_spec_refuses_float32_physics():
    with pytest.raises(ValueError, match="float64.*physics_dtype='float32'"):
        HeatSpec(physics_dtype="float32")


@pytest.fixture(scope="module")
def paper_problem():
    return get_problem("heat")


@pytest.mark.parametrize("solver", ["gd", "scipy-lbfgsb", "inverse-physics"])
def test_solvers_lower_the_error_and_give_a_curve(paper_problem, solver):
    """On the paper's 64 × 64 grid, ν t = 8 (the inverse's amplitude prior assumes it)."""
    batch = paper_problem.generate(2, tf.constant([0, 9], tf.int64))
    result = solve(paper_problem, solver, batch, iterations=5)
    assert result.curve.shape[1] == 2 and result.curve.shape[0] >= 2
    assert (result.x_error < result.initial_x_error).all()
    assert set(result.status) <= {"converged", "max_iterations"}


def test_image_summary_is_four_fields_on_one_scale(problem, batch):
    x = batch["y_target"]
    image = problem.image_summary(batch, x, problem.simulate(x, {}))
    assert image.shape == (4, 16, 4 * 17 - 1, 1)
    assert float(tf.reduce_min(image)) >= 0 and float(tf.reduce_max(image)) <= 1


def test_every_scheme_trains_two_steps(tmp_path):
    config = CompareConfig(
        "heat",
        ("inverse-physics", "lbfgs"),
        2,
        batch_size=2,
        spec={**TINY, "lbfgs_iterations": 2},
    )
    report = compare(config, tmp_path, verbose=0)
    curves = {name: np.array(r["runs"][0]["curve"]) for name, r in report["results"].items()}
    pg, lbfgs = curves["inverse-physics"], curves["lbfgs"]
    assert pg.shape == lbfgs.shape == (2, 3) and np.isfinite([pg, lbfgs]).all()
    # Same weights and batch at the first point; each scheme's own rule moves them after.
    np.testing.assert_array_equal(pg[0], lbfgs[0])
    assert not np.allclose(pg[1, 1:], lbfgs[1, 1:], rtol=1e-5, atol=0)
    for result in report["results"].values():
        assert np.isfinite(list(result["runs"][0]["inference"].values())).all()


def test_field_figures_script_runs_on_a_tiny_compare(tmp_path):
    from pg_keras.training.compare import write_report
    from scripts import field_figures

    logdir = tmp_path / "cmp"
    config = CompareConfig("heat", ("inverse-physics",), 2, batch_size=2, spec=TINY)
    report = compare(config, logdir, verbose=0)
    write_report(report, logdir / "report.json")
    out = tmp_path / "img"
    args = ["heat", "--logdir", str(logdir), "--out", str(out), "--events", "2"]
    args += ["--solvers", "gd,inverse-physics", "--solver-events", "1", "--iterations", "2"]
    assert field_figures.main(args) == 0
    for name in ("heat_curves.png", "heat_examples.png", "heat_solvers.png", "heat_solvers.json"):
        assert (out / name).stat().st_size > 0


def test_spec_network_fields_reach_the_unet():
    plain = get_problem("heat", TINY).build_network()
    assert not plain.get_layer("x_map").kernel.numpy().any()  # starts at zero by default
    keras_like = get_problem(
        "heat", {**TINY, "network_init": "glorot", "network_output_init": "glorot"}
    ).build_network()
    assert keras_like.get_layer("x_map").kernel.numpy().any()
    assert not keras_like.get_layer("down0_conv0").bias.numpy().any()
    with pytest.raises(ValueError, match="network_dtype='float16'"):
        HeatSpec(network_dtype="float16")
    with pytest.raises(ValueError, match="box_edges='soft'"):
        HeatSpec(box_edges="soft")


@pytest.mark.parametrize("dx", [1.0, 0.5])
def test_inverse_lands_on_x_star_when_each_residual_mode_is_signal(dx):
    """The heat equation damps a Fourier mode of wavenumber k (cycles per unit length) by
    exp(−(2π)²|k|² ν t); `y*` is built from that closed form, not from `simulate`. Its modes
    stand far above the inverse's noise scale (1e-6·‖y* − y‖), so each is inverted exactly
    and one inverse step from a uniform `x` lands on `x*`, for any cell size."""
    n, nu_t = 16, 2.0
    problem = get_problem("heat", {**TINY, "dx": dx})
    j = np.arange(n)
    modes = [((1, 0), 0.3), ((1, 2), 0.2)]  # (wavenumbers along y and x, in cycles), amplitude
    x_star = np.full((n, n), 1.5)
    y_star = np.full((n, n), 1.5)  # the mean (k = 0) does not decay
    for (my, mx), amplitude in modes:
        wave = amplitude * np.outer(np.cos(2 * np.pi * my * j / n), np.cos(2 * np.pi * mx * j / n))
        squared_k = (my**2 + mx**2) / (n * dx) ** 2
        x_star += wave
        y_star += wave * np.exp(-((2 * np.pi) ** 2) * squared_k * nu_t)
    x = tf.fill([1, n, n], tf.constant(1.5, tf.float64))  # uniform: P(x) = x
    context = BackwardContext(
        x=x, y=x, y_target=tf.constant(y_star[None]), scaled_dy=None, simulate=None
    )
    np.testing.assert_allclose(problem.inverse(context)[0], x_star, atol=1e-10)
