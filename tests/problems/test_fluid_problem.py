"""The fluid problem (paper 3.4, B.5) on a 16 × 16 grid: data, loss, PG rule, solvers, CLI."""

import json

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.batch import context_of
from pg_keras.cli import main
from pg_keras.problems import get_problem
from pg_keras.problems._fluid_data import top_of_masked_noise
from pg_keras.problems.fluid import MARKER0, FluidProblem, FluidSpec
from pg_keras.reproduce.experiments import FLUID
from pg_keras.rules.base import BackwardContext
from pg_keras.solving import solve_fresh

TINY = FLUID.tiny_spec  # the one tiny spec (also `pg-keras reproduce fluid --horizon tiny`)
TINY_ARGS = [arg for key, value in TINY.items() for arg in ("--spec", f"{key}={value}")]


@pytest.fixture(autouse=True, scope="module")
def without_xla():
    """XLA compiles of a 16 × 16 grid would take longer than the tests themselves."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FluidProblem, "physics_jit_compile", False)
        yield


@pytest.fixture(scope="module")
def problem():
    return get_problem("fluid", TINY)


@pytest.fixture(scope="module")
def batch(problem):
    return problem.generate(4, tf.constant([3, 0], tf.int64))


def test_generate_is_deterministic_and_follows_the_recipe(problem, batch):
    again = problem.generate(4, tf.constant([3, 0], tf.int64))
    for key in batch:
        np.testing.assert_array_equal(batch[key].numpy(), again[key].numpy())
    marker0 = batch[MARKER0].numpy()
    assert set(np.unique(marker0)) <= {0.0, 1.0}
    marked = marker0.sum(axis=(1, 2))
    # At most the top 15% of the domain's 256 cells, and never outside the 9 × 9 box.
    assert (marked >= 1).all() and (marked <= round(0.15 * 256)).all()
    assert batch["x_target"].shape == (4, 16, 16, 2)
    assert batch["y_target"].shape == (4, 16, 16)
    assert not np.allclose(batch["y_target"].numpy(), marker0)


def test_marker_is_the_top_fraction_of_the_domain_within_the_box():
    """The authors' ranking: a fraction of all cells of noise · box; negatives never."""
    noise = tf.constant(np.arange(16.0).reshape(1, 4, 4) - 8.0)  # 8 negative, 8 >= 0
    box = tf.constant(np.ones((1, 4, 4), bool))
    top = top_of_masked_noise(noise, box, tf.constant([0.25], tf.float64)).numpy()
    np.testing.assert_array_equal(top[0].ravel(), np.arange(16) >= 12)  # 4 of 16 cells
    half = top_of_masked_noise(noise, box, tf.constant([0.75], tf.float64)).numpy()
    np.testing.assert_array_equal(half[0].ravel(), np.arange(16) >= 8)  # capped at >= 0
    corner = np.zeros((1, 4, 4), bool)
    corner[0, :2, :2] = True  # holds only negative noise: its largest cell is kept
    lone = top_of_masked_noise(noise, tf.constant(corner), tf.constant([0.5], tf.float64))
    np.testing.assert_array_equal(np.argwhere(lone.numpy()[0]), [[1, 1]])


def test_objective_is_at_its_floor_only_for_a_match(problem, batch):
    y = batch["y_target"]
    floor = 16 * 16 * np.sqrt(1e-5)
    np.testing.assert_allclose(problem.objective(y, y).numpy(), floor, rtol=1e-5)
    assert (problem.objective(batch[MARKER0], y).numpy() > 2 * floor).all()


def test_inverse_physics_pg_points_toward_the_truth(problem, batch):
    x = tf.zeros_like(batch["x_target"])
    context = BackwardContext(
        x=x,
        y=None,
        y_target=batch["y_target"],
        scaled_dy=None,
        simulate=None,
        extras=context_of(batch),
    )
    rule = problem.scheme("inverse-physics").rule
    x_tilde = x - rule.delta_x(context)
    before = problem.x_error(x, batch).numpy()
    after = problem.x_error(x_tilde, batch).numpy()
    assert (after < before).all() and after.mean() < 0.5 * before.mean(), (before, after)


def test_network_maps_two_markers_to_a_velocity():
    network = get_problem("fluid").build_network()
    trainable = sum(int(np.prod(w.shape)) for w in network.trainable_weights)
    assert trainable == 49_570  # B.5's count
    assert network.output_shape == (None, 64, 64, 2)


def test_inverse_physics_solver_beats_the_initial_guess(problem):
    result = solve_fresh(problem, "inverse-physics", events=2, iterations=5)
    assert (result.x_error < result.initial_x_error).all()
    assert result.curve.shape == (6, 2)


def test_solve_cli_gd_writes_a_report(capsys, tmp_path):
    report = tmp_path / "gd.json"
    argv = ["solve", "fluid", "--solver", "gd", "--events", "2", "--iterations", "2"]
    assert main([*argv, "--report", str(report), *TINY_ARGS]) == 0
    written = json.loads(report.read_text())
    assert written["solver"] == "gd" and len(written["curve"]["iteration"]) == 3


def test_compare_runs_both_schemes_from_one_start_and_the_pg_leads(tmp_path):
    """The 300-step comparison of docs/fluid.md in miniature (20 steps, batch 4).

    Step 1 is measured before the first update, so both schemes' first points are
    the same weights on the same batch; `zero_mae` (the error of predicting zero)
    sits beside every point and beside the served errors. Both schemes see the
    same batches, so their points compare step by step: over the last 10 steps
    the PG's network is nearer the true velocity and fits the marker better than
    the adjoint's (x_mae 0.92 and y_loss 0.90 of the adjoint's; with the PG's
    sign flipped 1.20 and 1.08).
    """
    argv = ["compare", "fluid", "--gradients", "adjoint,inverse-physics", "--steps", "20"]
    argv += ["--batch", "4", "--log-every", "1", "--calibration-batches", "1"]
    assert main([*argv, "--logdir", str(tmp_path), "--quiet", *TINY_ARGS]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report["steps_to_match"]) == {"adjoint", "inverse-physics"}
    runs = {name: entry["runs"][0] for name, entry in report["results"].items()}
    curves = {name: np.array(run["curve"]) for name, run in runs.items()}
    zeros = {name: np.array(run["extra_curves"]["zero_mae"]) for name, run in runs.items()}
    for name in runs:
        assert curves[name].shape == (20, 3) and np.isfinite(curves[name]).all(), name
        assert zeros[name].shape == (20, 2) and (zeros[name][:, 1] > 0).all(), name
        assert np.isfinite(list(runs[name]["inference"].values())).all(), name
    np.testing.assert_array_equal(zeros["adjoint"], zeros["inverse-physics"])
    # As served, both networks meet the same held-out events, whose zero prediction is logged.
    held_out = [runs[name]["inference"]["zero_mae"] for name in runs]
    assert held_out[0] == held_out[1] > 0
    adjoint, pg = curves["adjoint"], curves["inverse-physics"]
    np.testing.assert_allclose(adjoint[0], pg[0], rtol=1e-5)
    assert not np.allclose(adjoint[1:, 1], pg[1:, 1], rtol=1e-3)
    late_pg, late_adjoint = pg[-10:, 1:].mean(axis=0), adjoint[-10:, 1:].mean(axis=0)
    assert (late_pg < 0.97 * late_adjoint).all(), (late_pg, late_adjoint)  # y_loss, x_mae


def test_spec_rejects_a_resolution_the_unet_cannot_pool():
    with pytest.raises(ValueError, match="multiple of 16. Received: resolution=20"):
        FluidSpec(resolution=20)


def test_image_summary_is_one_strip_per_example(problem, batch):
    x = batch["x_target"]
    images = problem.image_summary(batch, x, batch["y_target"]).numpy()
    assert images.shape == (4, 16, 5 * 17 - 1, 1)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_cg_pressure_solver_gives_the_fft_solvers_marker():
    with pytest.raises(ValueError, match="pressure_solver='lu'"):
        FluidSpec(pressure_solver="lu")
    fft = get_problem("fluid", {**TINY, "steps": 2})
    cg = get_problem("fluid", {**TINY, "steps": 2, "pressure_solver": "cg", "cg_rtol": 1e-6})
    batch = fft.generate(2, tf.constant([3, 4]))
    extras = {MARKER0: batch[MARKER0]}
    np.testing.assert_allclose(
        cg.simulate(batch["x_target"], extras).numpy(),
        fft.simulate(batch["x_target"], extras).numpy(),
        atol=1e-4,
    )
