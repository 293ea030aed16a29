"""What `export_run` names, numbers and copies, without training or exporting (fast): model
names that land in a path and in `/v1/models/NAME`, version directories as TF Serving reads them
(the integer-named children of the model's directory, the largest served), and the metrics it
takes from the run's learning curve."""

from __future__ import annotations

import json

import pytest

from pg_keras.export import ExportError, check_model_name, export_run, next_version, versions


@pytest.mark.parametrize("name", ["sin", "S1", "0", "a_b.c-d", "a" * 128])
def test_a_model_name_of_up_to_128_path_and_url_safe_characters_is_taken(name):
    assert check_model_name(name) == name


@pytest.mark.parametrize("name", ["", "a" * 129, "_sin", ".hidden", "-x", "a/b", "a b", "é"])
def test_any_other_model_name_is_refused_by_name(name):
    with pytest.raises(ExportError, match=f"Received: name={name!r}"):
        check_model_name(name)


def test_versions_are_the_integer_named_directories_in_numeric_order(tmp_path):
    model_dir = tmp_path / "sin"
    assert versions(model_dir) == [] and next_version(model_dir) == 1  # no directory yet
    model_dir.mkdir()
    assert versions(model_dir) == [] and next_version(model_dir) == 1
    for name in ("2", "10", "9", "not-a-version", ".export-abc", "-3"):
        (model_dir / name).mkdir()
    (model_dir / "11").write_text("a file, not a version")
    assert versions(model_dir) == [2, 9, 10]
    assert next_version(model_dir) == 11
    assert versions(tmp_path / "sin" / "2" / "missing") == []


def test_the_exported_metrics_are_the_curves_last_point_at_the_checkpoint(tmp_path):
    """assets.extra/metrics.json: the learning curve's point at the exported checkpoint's step
    (a curve that ran past the checkpoint, as a run stopped between saves leaves it, is cut
    there), or only the step when the run has no curve."""
    from pg_keras.export._export import _final_metrics

    points = [{"step": step, "y_loss": 1.0 / step} for step in (10, 20, 30, 40)]
    (tmp_path / "curve.json").write_text(json.dumps(points))
    assert _final_metrics(tmp_path, 30) == {"checkpoint_step": 30, "step": 30, "y_loss": 1 / 30}
    assert _final_metrics(tmp_path, 5) == {"checkpoint_step": 5}
    (tmp_path / "curve.json").unlink()
    assert _final_metrics(tmp_path, 30) == {"checkpoint_step": 30}


def test_export_run_refuses_a_bad_name_before_it_reads_the_run(tmp_path):
    with pytest.raises(ExportError, match="Received: name='bad/name'"):
        export_run(tmp_path / "no-run", "bad/name", tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_a_version_taken_meanwhile_is_skipped_and_other_rename_errors_raise(tmp_path, monkeypatch):
    """Publishing renames the staged version to the next free number; when another export
    takes that number first, it tries the next one. Any other failure is raised as it is."""
    from pg_keras.export import _export

    model_dir = tmp_path / "sin"
    (model_dir / "1").mkdir(parents=True)
    (model_dir / "1" / "saved_model.pb").write_text("another export's")
    staging = model_dir / ".export-x"
    staging.mkdir()
    numbers = iter([1, 2])
    monkeypatch.setattr(_export, "next_version", lambda _: next(numbers))
    assert _export._publish(staging, model_dir) == model_dir / "2"
    assert not staging.exists() and (model_dir / "1" / "saved_model.pb").exists()
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError):
        _export._publish(model_dir / ".export-missing", model_dir)
