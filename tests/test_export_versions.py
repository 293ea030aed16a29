"""What `export_run` names and numbers, without training or exporting (fast): model names that
land in a path and in `/v1/models/NAME`, and version directories as TF Serving reads them (the
integer-named children of the model's directory, the largest served)."""

from __future__ import annotations

import pytest

from pg_keras.export import ExportError, check_model_name, next_version, versions


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
