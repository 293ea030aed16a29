"""Per-event solvers: recovery on noise-free events, status classification, the solve CLI."""

import json
import time

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.cli import main
from pg_keras.problems import get_problem
from pg_keras.problems.wavepacket import WavePacketProblem
from pg_keras.solving import SolverOutput, solve
from scripts import wavepacket_figures


@pytest.fixture(scope="module")
def quiet_problem():
    return get_problem("wavepacket", {"noise": "0"})


def _batch(problem, x):
    x = tf.constant(x, tf.float64)
    return {"y_target": problem.simulate(x, {}), "x_target": x}


@pytest.mark.parametrize("solver", ["scipy-lbfgsb", "levenberg-marquardt", "tfp-lbfgs"])
def test_solvers_recover_noise_free_packets_near_the_initial_guess(quiet_problem, solver):
    batch = _batch(quiet_problem, [[127.0, 3.0], [129.5, 1.5]])
    result = solve(quiet_problem, solver, batch, iterations=200)
    np.testing.assert_allclose(result.x, batch["x_target"].numpy(), atol=1e-3)
    assert list(result.status) == ["converged", "converged"]
    assert not result.farther_than_start.any()


def test_lbfgsb_curve_starts_at_the_initial_error_and_ends_at_the_final(quiet_problem):
    batch = _batch(quiet_problem, [[126.0, 3.0], [40.0, 2.0]])
    result = solve(quiet_problem, "scipy-lbfgsb", batch, iterations=100)
    np.testing.assert_allclose(result.curve[0], result.initial_x_error)
    np.testing.assert_allclose(result.curve[-1], result.x_error)
    report = result.report()
    assert report["groups"]["near"]["events"] == 1 and report["groups"]["far"]["events"] == 1
    assert report["events"][1]["x_target"] == [40.0, 2.0]


class _Scripted(WavePacketProblem):
    """A wave-packet problem whose only solver returns fixed answers, to test classification."""

    def solvers(self):
        def scripted(problem, batch, x0, iterations):
            x = np.array([[127.0, 3.0], [np.nan, 1.0], [900.0, 1.0], [128.5, 2.0]])
            return SolverOutput(
                x, np.array([True, True, True, False]), np.array([3, 4, 5, 9]), np.ones(4) * 0.1
            )

        return {"scripted": scripted}


def test_statuses_nan_diverged_converged_max_iterations(quiet_problem):
    problem = _Scripted(quiet_problem.spec)
    batch = _batch(problem, [[127.0, 3.0], [128.0, 2.0], [128.0, 2.0], [140.0, 2.0]])
    result = solve(problem, "scripted", batch, iterations=9)
    assert list(result.status) == ["converged", "nan", "diverged", "max_iterations"]
    counts = result.summary()
    assert counts["status"] == {"converged": 1, "max_iterations": 1, "diverged": 1, "nan": 1}
    assert counts["diverged_fraction"] == 0.25 and counts["failed"] == 3
    assert counts["farther_than_start"] == 2  # the NaN and the one that left the window
    np.testing.assert_allclose(counts["x_mae"], np.mean(result.x_error[[0, 3]]))


def test_solve_rejects_bad_events_before_solving(quiet_problem):
    batch = _batch(quiet_problem, [[127.0, 3.0], [129.5, 1.5]])
    y = batch["y_target"].numpy()
    y[1, 5] = np.inf
    with pytest.raises(ValueError, match="Event 1 holds 1 NaN or infinite samples of 256"):
        solve(quiet_problem, "scipy-lbfgsb", {"y_target": y})
    with pytest.raises(ValueError, match="Unknown solver 'magic'.*Expected one of: gauss-newton"):
        solve(quiet_problem, "magic", batch)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_solve_cli_writes_per_event_report(capsys, tmp_path):
    path = tmp_path / "solve.json"
    code, out, _ = run(
        capsys,
        "solve",
        "wavepacket",
        "--solver",
        "scipy-lbfgsb",
        "--events",
        "3",
        "--report",
        str(path),
    )
    assert code == 0, out
    report = json.loads(path.read_text())
    assert len(report["events"]) == 3 and report["summary"]["events"] == 3
    assert set(report["summary"]["status"]) == {"converged", "max_iterations", "diverged", "nan"}
    assert {"x_error", "xi0_mae", "iterations", "wall_time_s", "status"} <= set(report["events"][0])
    assert "near" in out or "far" in out


def test_solve_cli_names_the_bad_event_in_an_input_file(capsys, tmp_path):
    events = np.zeros((3, 256))
    events[2, 0] = np.nan
    np.save(tmp_path / "bad.npy", events)
    code, _, err = run(
        capsys,
        "solve",
        "wavepacket",
        "--solver",
        "scipy-lbfgsb",
        "--input",
        str(tmp_path / "bad.npy"),
    )
    assert code == 2 and "Event 2 holds 1 NaN" in err and len(err.strip().splitlines()) == 1
    np.save(tmp_path / "short.npy", np.zeros((2, 100)))
    code, _, err = run(
        capsys, "solve", "wavepacket", "--solver", "gd", "--input", str(tmp_path / "short.npy")
    )
    assert code == 2 and "Event 0 has shape (100,); expected (256,)" in err
    code, _, err = run(capsys, "solve", "wavepacket", "--solver", "magic", "--events", "1")
    assert code == 2 and "Unknown solver 'magic'" in err


@pytest.mark.parametrize(
    ("problem", "old", "new"),
    [
        ("heat", "lbfgs", "'scipy-lbfgsb'"),
        ("wavepacket", "lbfgs", "'tfp-lbfgs'"),
        ("wavepacket", "lbfgsb", "'scipy-lbfgsb'"),
    ],
)
def test_the_old_lbfgs_solver_names_say_what_they_became(capsys, problem, old, new):
    # `lbfgs` was SciPy's L-BFGS-B for heat and TFP's L-BFGS elsewhere: no silent guess.
    code, _, err = run(capsys, "solve", problem, "--solver", old, "--events", "1")
    assert code == 2 and f"Solver {old!r} was renamed" in err and new in err
    assert len(err.strip().splitlines()) == 1


def test_compare_with_baseline_reports_crossings_and_extra_metrics(capsys, tmp_path):
    report_path, plot = tmp_path / "r.json", tmp_path / "c.png"
    code, out, err = run(
        capsys,
        "compare",
        "wavepacket",
        "--gradients",
        "adjoint,newton",
        "--steps",
        "2",
        "--log-every",
        "1",
        "--batch",
        "8",
        "--baseline",
        "scipy-lbfgsb",
        "--baseline-events",
        "3",
        "--logdir",
        str(tmp_path / "logs"),
        "--report",
        str(report_path),
        "--plot",
        str(plot),
        "--quiet",
    )
    assert code == 0, err
    report = json.loads(report_path.read_text())
    run_ = report["results"]["newton"]["runs"][0]
    assert [p[0] for p in run_["extra_curves"]["xi0_mae"]] == [1, 2]
    assert set(report["results"]["adjoint"]["final"]) == {"y_loss", "x_mae"}
    assert report["baseline"]["summary"]["events"] == 3
    assert set(report["baseline"]["crossing_step"]["adjoint"]) == {"x_mae", "xi0_mae", "amp_mae"}
    assert plot.read_bytes()[:4] == b"\x89PNG" and "Baseline scipy-lbfgsb" in out
    # Fig. 1 from the trained adjoint network of this comparison.
    figure = tmp_path / "fig1.png"
    logdir = str(tmp_path / "logs")
    assert wavepacket_figures.main(["--logdir", logdir, "--events", "2", "--out", str(figure)]) == 0
    assert figure.read_bytes()[:4] == b"\x89PNG"
    assert wavepacket_figures.main(["--logdir", str(tmp_path / "none")]) == 2


class _TraceLog(WavePacketProblem):
    """A wave packet whose simulator notes each time a graph traces it."""

    log: list[str] = []

    def simulate(self, x, context):
        if tf.inside_function():
            self.log.append("trace")
        return super().simulate(x, context)


@pytest.mark.parametrize(
    "solver", ["gd", "tfp-lbfgs", "scipy-lbfgsb", "gauss-newton", "levenberg-marquardt"]
)
def test_a_solvers_clock_starts_after_its_graph_is_traced(quiet_problem, solver, monkeypatch):
    """Table 1 compares solve times: tracing, seconds on a large graph, is not solving."""
    from pg_keras.solving import solvers

    problem, log = _TraceLog(quiet_problem.spec), []
    monkeypatch.setattr(_TraceLog, "log", log)

    class Clock:
        @staticmethod
        def perf_counter():
            log.append("clock")
            return time.perf_counter()

    monkeypatch.setattr(solvers, "time", Clock)
    batch = _batch(quiet_problem, [[127.0, 3.0], [128.5, 2.0]])
    solve(problem, solver, batch, iterations=3)
    clocks = [i for i, event in enumerate(log) if event == "clock"]
    assert clocks and len(clocks) % 2 == 0, log
    timed = [log[start:stop] for start, stop in zip(clocks[::2], clocks[1::2], strict=True)]
    assert "trace" in log[: clocks[0]] and not any("trace" in span for span in timed), log
