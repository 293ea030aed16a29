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
        "--logdir",
        str(logdir),
        "--quiet",
    )
    assert code == 0
    assert f"tensorboard --logdir {logdir}" in out
    assert (logdir / "config.json").exists()


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
        "--logdir",
        str(tmp_path / "logs"),
        "--report",
        str(report),
        "--plot",
        str(plot),
        "--quiet",
    )
    assert code == 0
    assert json.loads(report.read_text())["seeds"] == [5, 6]
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


def test_bench_serving_is_dispatched_to_the_serving_benchmark(capsys):
    # --help answers without starting anything; it proves the subcommand reaches serving.bench.
    try:
        code = main(["bench-serving", "--help"])
    except SystemExit as stop:
        code = stop.code
    assert code == 0
    assert "--concurrency" in capsys.readouterr().out
