"""The fluid Table 1 and sequence-figure scripts run end to end on a 16 × 16 grid."""

import json

import pytest
import tensorflow as tf

from pg_keras.problems import get_problem
from scripts import fluid_figures, fluid_table
from tests.problems.test_fluid_problem import TINY, without_xla  # noqa: F401


@pytest.mark.slow
def test_table_and_figure_scripts_with_a_tiny_budget(tmp_path):
    spec_args = [arg for key, value in TINY.items() for arg in ("--spec", f"{key}={value}")]
    problem = get_problem("fluid", TINY)
    for scheme in ("adjoint", "inverse-physics"):
        network = problem.build_network()
        tf.train.Checkpoint(network=network).save(
            str(tmp_path / scheme / "seed0" / "checkpoints" / "ckpt")
        )
    out = tmp_path / "table.json"
    argv = ["--network", str(tmp_path / "inverse-physics" / "seed0"), "--events", "2"]
    argv += ["--inverse-iterations", "2", "--gd-iterations", "2", "--timing-batch", "2"]
    argv += ["--batch-statistics", "--single-events", "2", "--single-iterations", "1"]
    assert fluid_table.main([*argv, "--out", str(out), *spec_args]) == 0
    table = json.loads(out.read_text())
    assert len(table["inverse-physics"]["curve_x_mae"]) == 3
    alone = table["one_at_a_time"]
    assert alone["events"] == 2 and alone["network"]["min"] > 0
    assert alone["inverse-physics"]["time_per_iteration_s"]["median"] > 0
    step = table["simulation_step"]
    assert step["fft"]["step_ns_per_cell"] > 0 and step["cg"]["step_ns_per_cell"] > 0
    assert step["cg"]["warm_start_iterations_mean"] >= 0
    figure = tmp_path / "sequences.png"
    assert (
        fluid_figures.main(
            ["--compare", str(tmp_path), "--out", str(figure), "--examples", "1", *spec_args]
        )
        == 0
    )
    assert figure.stat().st_size > 0
