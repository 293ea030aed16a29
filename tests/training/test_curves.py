"""Curves in compare reports are read by name, in today's reports and in the committed ones."""

import json
import pathlib

import pytest

from pg_keras.plotting import curves_title, plot_learning_curves
from pg_keras.training.compare import steps_to_match
from pg_keras.training.curves import curve, curve_metrics, curve_rows

REPORTS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "reports"


def test_a_report_from_before_the_column_names_reads_in_the_old_order(tmp_path):
    report = json.loads((REPORTS / "compare_heat_pg300_before_speed.json").read_text())
    for entry in report["results"].values():
        run = entry["runs"][0]
        assert "curve_columns" not in run
        assert curve(run, "x_mae")[-1][1] == run["final"]["x_mae"]
        assert curve(run, "y_loss")[-1][1] == run["final"]["y_loss"]
    assert steps_to_match(report) == report["steps_to_match"]
    plot_learning_curves(report, tmp_path / "old.png")
    assert (tmp_path / "old.png").stat().st_size > 0


def test_columns_are_found_by_name_whatever_their_order():
    points = [{"step": 5, "y_loss": 0.5, "x_mae": 2.0}, {"step": 10, "y_loss": 0.25, "x_mae": 1.0}]
    run = curve_rows(points)
    assert curve(run, "x_mae") == [[5, 2.0], [10, 1.0]]
    shuffled = {"curve_columns": ["x_mae", "step", "y_loss"], "curve": [[2.0, 5, 0.5]]}
    assert curve(shuffled, "y_loss") == [[5, 0.5]] and curve(shuffled, "x_mae") == [[5, 2.0]]
    with_extra = {**run, "extra_curves": {"xi0_mae": [[5, 3.0]]}}
    assert curve_metrics(with_extra) == ["y_loss", "x_mae", "xi0_mae"]
    assert curve(with_extra, "xi0_mae") == [[5, 3.0]]
    with pytest.raises(KeyError, match="No curve of 'pg_norm'.*y_loss, x_mae"):
        curve(run, "pg_norm")


def test_the_curves_title_names_what_the_comparison_changed_from_the_paper():
    report = {"problem": "fluid", "batch": 16, "seeds": [0, 1]}
    assert curves_title(report) == "fluid: batch 16, seeds 0, 1 (thick: median)"
    changed = {**report, "learning_rate": 0.002, "lr_schedule": "cosine", "optimizer": "adam"}
    assert curves_title(changed) == (
        "fluid: batch 16, lr 0.002, cosine lr schedule, adam, seeds 0, 1 (thick: median)"
    )
