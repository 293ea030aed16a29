"""The registry: built-in names, `MODULE:CLASS`, and the `pg_keras.problems` entry points."""

import pathlib
import sys

import pytest

from pg_keras.cli import main
from pg_keras.problems import ENTRY_POINT_GROUP, PROBLEMS, get_problem, registered_names

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A distribution on sys.path, as pip would leave it, registering the example problem
    as `advection` (and a broken entry), found by importlib.metadata's real lookup."""
    info = tmp_path / "pg_keras_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pg-keras-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "advection = own_problem:OwnProblem\n"
        "broken = own_problem:NoSuchClass\n"
        "heat = own_problem:OwnProblem\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return tmp_path


def test_an_entry_point_names_a_problem_of_another_package(installed, capsys):
    problem = get_problem("advection", {"cells": "32"})
    assert type(problem).__name__ == "OwnProblem" and problem.spec.cells == 32
    assert "advection" in registered_names()
    # `pg-keras list` shows it, and says what is wrong with an entry that does not load.
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "advection: Source of a 1D advection" in out
    assert "broken: Cannot load problem 'broken'" in out


def test_built_in_names_win_over_entry_points(installed):
    assert type(get_problem("heat")) is PROBLEMS["heat"]
    assert registered_names().count("heat") == 1


def test_a_broken_entry_point_is_one_clear_error(installed):
    with pytest.raises(ValueError, match="Cannot load problem 'broken' from entry point"):
        get_problem("broken")


def test_without_the_distribution_the_name_is_unknown():
    with pytest.raises(ValueError, match="Unknown problem 'advection'.*MODULE:CLASS"):
        get_problem("advection")


def test_module_class_imports_from_the_current_directory(monkeypatch):
    # A console script's sys.path lacks the current directory; the registry adds it.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(EXAMPLES))])
    monkeypatch.delitem(sys.modules, "own_problem", raising=False)
    monkeypatch.chdir(EXAMPLES)
    problem = get_problem("own_problem:OwnProblem")
    assert problem.name == "own" and problem.has("inverse")
