"""Every command with a tiny budget, and the one-line errors for bad input."""

import json

import pytest

from pg_keras.cli import main
from scripts import demo


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_names_problems_and_rules(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert "sin:" in out and "--gradient inverse-physics" in out and "--gradient newton" in out


def test_train_runs_and_says_where_the_logs_are(capsys, tmp_path):
    logdir = tmp_path / "run"
    code, out, _ = run(
        capsys,
        "train",
        "sin",
        "--gradient",
        "newton",
        "--steps",
        "2",
        "--log-every",
        "1",
        "--optimizer",
        "sgd-momentum",
        "--logdir",
        str(logdir),
        "--quiet",
    )
    assert code == 0
    assert f"tensorboard --logdir {logdir}" in out
    assert json.loads((logdir / "config.json").read_text())["optimizer"] == "sgd-momentum"


def test_compare_writes_report_and_plot(capsys, tmp_path):
    report, plot = tmp_path / "r.json", tmp_path / "c.png"
    code, out, _ = run(
        capsys,
        "compare",
        "sin",
        "--gradients",
        "adjoint,supervised",
        "--steps",
        "4",
        "--seeds",
        "5,6",
        "--lr-schedule",
        "cosine",
        "--optimizer",
        "sgd-momentum",
        "--logdir",
        str(tmp_path / "logs"),
        "--report",
        str(report),
        "--plot",
        str(plot),
        "--quiet",
    )
    assert code == 0
    written = json.loads(report.read_text())
    assert written["seeds"] == [5, 6] and written["lr_schedule"] == "cosine"
    assert written["optimizer"] == "sgd-momentum"
    stored = json.loads((tmp_path / "logs" / "supervised" / "seed6" / "config.json").read_text())
    assert stored["lr_schedule"] == "cosine" and stored["optimizer"] == "sgd-momentum"
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert "supervised" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "heatx", "--gradient", "adjoint"], "Unknown problem 'heatx'. Expected one of"),
        (["train", "sin", "--gradient", "magic"], "Unknown gradient 'magic' for problem 'sin'"),
        (["train", "sin", "--gradient", "adjoint", "--steps", "0"], "received 0"),
        (["compare", "sin", "--gradients", "adjoint", "--steps", "-3"], "received -3"),
        (["train", "sin", "--gradient", "adjoint", "--spec", "colour=red"], "Unknown spec field"),
        (["train", "sin", "--gradient", "adjoint", "--lr", "abc"], "received 'abc'"),
        (["train", "sin", "--gradient", "adjoint", "--lr-schedule", "linear"], "'linear'"),
        (["compare", "sin", "--gradients", "adjoint", "--optimizer", "rmsprop"], "'rmsprop'"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(capsys, argv, expected):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_unwritable_logdir_is_one_line(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(
        capsys,
        "train",
        "sin",
        "--gradient",
        "adjoint",
        "--steps",
        "2",
        "--logdir",
        str(blocker / "run"),
    )
    assert code == 2
    assert "Cannot write to log directory" in err and len(err.strip().splitlines()) == 1


def test_demo_script_with_a_tiny_budget(capsys, tmp_path):
    assert demo.main(["--steps", "4", "--logdir", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "tensorboard --logdir" in out
    assert (tmp_path / "demo" / "curves.png").exists()


@pytest.mark.parametrize(
    ("old", "new"), [("query", "pg-model-server query"), ("bench-serving", "pg-model-server bench")]
)
def test_the_servers_commands_say_where_they_moved(capsys, old, new):
    code, _, err = run(capsys, old, "sin", "--server", "grpc://127.0.0.1:1")
    assert code == 2 and new in err and len(err.strip().splitlines()) == 1


def test_list_shows_hooks_solvers_and_a_problem_from_a_file(capsys, tmp_path, monkeypatch):
    (tmp_path / "tiny_problem.py").write_text(TINY_PROBLEM)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "list", "tiny_problem:Tiny")
    assert code == 0
    # Built-ins show their optional hooks; the file's problem has none and no solvers.
    assert "optional hooks: inverse, initial_guess, observation_shape" in out
    block = out[out.index("tiny_problem:Tiny:") :]
    assert "--gradient adjoint" in block and "inverse-physics" not in block
    assert "solvers: none (no initial_guess)" in block and "optional hooks: none" in block


def test_a_problem_from_a_file_trains_and_bad_references_are_one_line(
    capsys, tmp_path, monkeypatch
):
    (tmp_path / "tiny_problem.py").write_text(TINY_PROBLEM)
    monkeypatch.chdir(tmp_path)
    argv = ["train", "tiny_problem:Tiny", "--gradient", "adjoint", "--steps", "2", "--quiet"]
    code, out, err = run(capsys, *argv, "--log-every", "1")
    assert code == 0, err
    assert (tmp_path / "runs" / "tiny_problem.Tiny" / "adjoint-seed0" / "config.json").exists()
    for reference, message in [
        ("no_such_module:Tiny", "Cannot import module 'no_such_module'"),
        ("tiny_problem:Nope", "Module 'tiny_problem' has no 'Nope'"),
        ("tiny_problem:NotAProblem", "Expected a subclass of pg_keras.problems.Problem"),
        ("tiny_problem:", "Expected a problem reference MODULE:CLASS"),
    ]:
        code, _, err = run(capsys, "train", reference, "--gradient", "adjoint")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_an_unconverged_poisson_solve_stops_training_with_one_line(capsys, tmp_path):
    spec = ["ny=16", "nx=16", "levels=2", "filters=4", "bands=1,2,4", "cg_max_iterations=3"]
    argv = ["train", "poisson", "--gradient", "adjoint", "--steps", "2", "--batch", "2"]
    argv += [arg for item in spec for arg in ("--spec", item)]
    code, _, err = run(capsys, *argv, "--logdir", str(tmp_path), "--quiet")
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "cg_max_iterations=3" in err and "Traceback" not in err


TINY_PROBLEM = """
import keras
import tensorflow as tf

from pg_keras.batch import X_TARGET, Y_TARGET
from pg_keras.problems import Problem


class Tiny(Problem):
    \"\"\"y = 2 x, from a file beside the command.\"\"\"

    name = "tiny"

    def simulate(self, x, context):
        return 2.0 * x

    def generate(self, batch_size, seed):
        x = tf.random.stateless_uniform([batch_size, 3], seed)
        return {Y_TARGET: 2.0 * x, X_TARGET: x}

    def build_network(self):
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)])


class NotAProblem:
    pass
"""


def test_a_spec_override_without_a_value_is_refused_by_name(capsys):
    # Every command and script with `--spec` shares `add_spec_flag`: an item with no `=` is
    # an argparse error naming what was received, before anything is built.
    code, _, err = run(capsys, "train", "sin", "--spec", "physics_dtype")
    assert code == 2
    assert "expected KEY=VALUE, received 'physics_dtype'" in err
