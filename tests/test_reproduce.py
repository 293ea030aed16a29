"""`pg-keras reproduce` end to end on tiny specs, and the pieces it is made of."""

import json
import pathlib

import numpy as np
import pytest

from pg_keras.cli import main
from pg_keras.cli._reproduce import format_summary
from pg_keras.problems import get_problem
from pg_keras.problems.fluid import FluidProblem
from pg_keras.reproduce.experiments import Comparison, Experiment, Horizon, SolverTable
from pg_keras.reproduce.paper_points import at_step, paper_points
from pg_keras.reproduce.progress import PlannedRun, Progress, format_duration
from pg_keras.reproduce.run import add_steps_to_reach
from pg_keras.reproduce.solver_table import reach, solver_table
from pg_keras.training.compare import steps_to_reach


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def progress_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("[")]


def test_sin_tiny_runs_every_comparison_writes_the_report_and_resumes(capsys, tmp_path):
    code, out, _ = run(capsys, "reproduce", "sin", "--horizon", "tiny", "--logdir", str(tmp_path))
    assert code == 0
    lines = progress_lines(out)
    assert [line.split("]")[0] for line in lines] == [f"[{k}/7" for k in range(1, 8)]
    assert all("4 steps in" in line and "ETA" in line for line in lines)
    report = json.loads((tmp_path / "paper_sin_tiny.json").read_text())
    assert set(report["comparisons"]) == {"float32", "float64"}
    float32 = report["comparisons"]["float32"]
    assert set(float32["results"]) == {
        "adjoint",
        "newton",
        "inverse-gradient",
        "inverse-physics",
        "supervised",
    }
    assert float32["paper_points"]["checkpoints"]["4"]["adjoint"]["reference_over_this"] == 1
    assert report["comparisons"]["float64"]["spec"] == {"physics_dtype": "float64"}
    assert report["machine"]["cpus"] >= 1
    for figure in report["figures"]:
        assert pathlib.Path(figure).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "sin" / "tiny" / "float32" / "report.json").read_text())

    code, out, _ = run(capsys, "reproduce", "sin", "--horizon", "tiny", "--logdir", str(tmp_path))
    assert code == 0
    assert all("resumed done" in line for line in progress_lines(out))
    again = json.loads((tmp_path / "paper_sin_tiny.json").read_text())
    assert again["comparisons"]["float32"]["results"] == float32["results"]

    code, out, _ = run(
        capsys, "reproduce", "sin", "--horizon", "tiny", "--logdir", str(tmp_path), "--dry-run"
    )
    assert code == 0 and out.count(": 4/4 steps in") == 7


@pytest.mark.slow
def test_fluid_tiny_trains_tables_and_draws(capsys, tmp_path, monkeypatch):
    # XLA compiles of a 16 x 16 grid would take longer than the runs themselves.
    monkeypatch.setattr(FluidProblem, "physics_jit_compile", False)
    code, out, _ = run(capsys, "reproduce", "fluid", "--horizon", "tiny", "--logdir", str(tmp_path))
    assert code == 0, out
    report = json.loads((tmp_path / "paper_fluid_tiny.json").read_text())
    assert report["comparisons"]["adam-pg"]["spec"]["resolution"] == 16
    table = report["solver_table"]
    assert set(table["solvers"]) == {"inverse-physics", "gd"}
    assert table["network"]["batched_time_per_event_s"] > 0
    assert "inverse-physics/seed0" in table["network_run"]
    for row in table["solvers"].values():
        assert len(row["curve_x_mae"]) == 3 and row["iterations_cap"] == 2
    names = {pathlib.Path(f).name for f in report["figures"]}
    assert names == {"adam-pg_curves.png", "sequences.png", "solvers.png"}
    assert "Table 1 (2 events)" in out


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["heat", "poisson", "wavepacket"])
def test_the_other_experiments_run_tiny(capsys, tmp_path, experiment):
    code, out, _ = run(
        capsys, "reproduce", experiment, "--horizon", "tiny", "--logdir", str(tmp_path)
    )
    assert code == 0, out
    report = json.loads((tmp_path / f"paper_{experiment}_tiny.json").read_text())
    assert report["figures"] and not report["figures_skipped"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["reproduce", "sine"], "invalid choice: 'sine'"),
        (["reproduce", "sin", "--horizon", "forever"], "invalid choice: 'forever'"),
        (["reproduce", "sin", "--seeds", "a"], "received 'a'"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(capsys, argv, expected):
    code, _, err = run(capsys, *argv)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1


def fake_report() -> dict:
    def runs(curves):
        return [
            {
                "seed": s,
                "final": {"x_mae": c[-1][1], "y_loss": 0.0},
                "inference": {"x_mae": 2 * c[-1][1], "y_loss": 0.0},
                "curve_columns": ["step", "x_mae"],
                "curve": c,
            }
            for s, c in enumerate(curves)
        ]

    adjoint = [[[50, 8.0], [100, 4.0], [150, 2.0]], [[50, 10.0], [100, 6.0], [150, 3.0]]]
    pg = [[[50, 4.0], [100, 1.0], [150, 0.5]], [[50, 2.0], [100, 1.0], [150, 1.5]]]
    return {
        "steps": 150,
        "results": {
            "adjoint": {"final": {"x_mae": 2.5}, "runs": runs(adjoint)},
            "pg": {"final": {"x_mae": 1.0}, "runs": runs(pg)},
        },
        "steps_to_match": {"adjoint": {"pg": None}, "pg": {"adjoint": 50}},
    }


def test_paper_points_read_the_nearest_logged_step_with_median_and_range():
    points = paper_points(fake_report(), checkpoints=(60, 1000), reference="adjoint")
    assert list(points["checkpoints"]) == ["60", "150"]  # 1000 > steps; the end always
    at60 = points["checkpoints"]["60"]
    assert at60["adjoint"] == {
        "step": 50,
        "median": 9.0,
        "min": 8.0,
        "max": 10.0,
        "reference_over_this": 1.0,
    }
    assert at60["pg"]["median"] == 3.0 and at60["pg"]["reference_over_this"] == 3.0
    assert points["final"]["pg"] == {"median": 1.0, "min": 0.5, "max": 1.5}
    assert points["best"]["pg"] == {"median": 0.75, "min": 0.5, "max": 1.0}
    assert points["inference"]["adjoint"]["max"] == 6.0
    assert points["steps_to_reach_reference_final"] == {"level": 2.5, "pg": 50}


def test_a_comparison_that_reaches_another_gets_the_steps_to_its_reference_final():
    # The heat L-BFGS PG is trained apart; its steps are counted against the main
    # comparison's adjoint final error (the paper's 628), from the median curve.
    main_report, slow = fake_report(), fake_report()
    del slow["results"]["pg"]
    slow["results"] = {"lbfgs": slow["results"].pop("adjoint")}
    comparisons = {
        "main": {**main_report, "paper_points": {"checkpoints": {}, "reference": "adjoint"}},
        "slow": {**slow, "paper_points": {"checkpoints": {}, "reference": "adjoint"}},
    }
    experiment = Experiment(
        name="e",
        problem="heat",
        section="",
        comparisons=(
            Comparison("main", ("adjoint", "pg"), {"long": Horizon(150, (0, 1))}),
            Comparison("slow", ("lbfgs",), {"long": Horizon(150, (0, 1))}, reaches="main"),
        ),
        checkpoints=(),
    )
    add_steps_to_reach(experiment, "long", comparisons)
    assert "steps_to_reach_other" not in comparisons["main"]["paper_points"]
    # Median curve of the lbfgs runs: 9.0, 5.0, 2.5 at steps 50, 100, 150; the main
    # comparison's adjoint final is 2.5, reached only below it: never.
    assert comparisons["slow"]["paper_points"]["steps_to_reach_other"] == {
        "comparison": "main",
        "scheme": "adjoint",
        "level": 2.5,
        "lbfgs": None,
    }
    lines = format_summary({"experiment": "e", "comparisons": comparisons})
    assert "  steps to reach main's adjoint final 2.5: lbfgs None" in lines
    assert steps_to_reach(main_report, 5.5) == {"adjoint": 100, "pg": 50}
    assert steps_to_reach(main_report, 2.5) == {"adjoint": None, "pg": 100}


def test_a_comparison_that_reaches_one_the_experiment_lacks_is_refused_by_name():
    with pytest.raises(ValueError, match=r"Received: reaches='adam-gp'") as error:
        Experiment(
            name="e",
            problem="heat",
            section="",
            comparisons=(
                Comparison("adam-pg", ("adjoint",), {"long": Horizon(10, (0,))}),
                Comparison("lbfgs-pg", ("lbfgs",), {"long": Horizon(10, (0,))}, reaches="adam-gp"),
            ),
            checkpoints=(),
        )
    assert "'lbfgs-pg'" in str(error.value) and "(adam-pg, lbfgs-pg)" in str(error.value)


def test_at_step_takes_the_earlier_point_on_a_tie_and_refuses_an_empty_curve():
    assert at_step([[50, 1.0], [70, 2.0]], 60) == (50, 1.0)
    assert at_step([[50, 1.0], [70, 2.0]], 65) == (70, 2.0)
    with pytest.raises(ValueError, match="empty curve"):
        at_step([], 60)


def test_progress_estimates_the_time_left_from_the_steps_trained(tmp_path):
    lines, now = [], [0.0]
    plan = [PlannedRun(f"run {k}", tmp_path / f"r{k}", 100) for k in range(3)]
    progress = Progress(plan, clock=lambda: now[0], emit=lines.append)
    assert progress.eta_seconds() is None
    progress.record(tmp_path / "r0", 100, 50.0, {"x_mae": 1.0})
    assert progress.eta_seconds() == 100.0  # 200 steps left at 0.5 s a step
    progress.record(tmp_path / "r1", 0, 1.0, {"x_mae": 1.0})  # resumed: trained nothing
    assert progress.eta_seconds() == 100.0
    assert lines[0] == "[1/3] run 0: 100 steps in 50s, x_mae 1; ETA 1m40s for 2 runs left"
    assert "resumed done" in lines[1]


def test_format_duration():
    assert [format_duration(s) for s in (None, 5, 65, 3725)] == ["unknown", "5s", "1m05s", "1h02m"]


class FakeResult:
    def __init__(self, curve):
        self.curve = None if curve is None else np.asarray(curve, float)


def test_reach_is_the_first_iteration_at_or_below_the_level_of_the_mean():
    result = FakeResult([[4.0, 6.0], [2.0, 3.0], [1.0, 1.0]])  # means 5, 2.5, 1
    assert reach(result, 2.5) == 1
    assert reach(result, 0.5) is None
    assert reach(FakeResult(None), 1.0) is None


def test_solver_table_times_the_network_and_each_solver_to_its_level():
    problem = get_problem("wavepacket")
    network = problem.build_network()
    spec = SolverTable("adjoint", {"gd": 3, "scipy-lbfgsb": 3}, events=3, single=1)
    table = solver_table(problem, network, spec, seed=0, network_run="untrained")
    level = table["network"]["x_mae"]
    assert table["network"]["batched_time_per_event_s"] > 0
    assert table["network"]["single_time_per_event_s"] > 0
    for row in table["solvers"].values():
        curve = row["curve_x_mae"]
        assert len(curve) == 4 and row["x_mae_start"] == curve[0]
        below = [k for k, value in enumerate(curve) if value <= level]
        assert row["iterations_to_reach"] == (below[0] if below else None)
        for mode in ("batched", "single"):
            per_iteration = row[f"{mode}_time_per_iteration_s"]
            assert per_iteration > 0
            assert row[f"{mode}_time_per_event_at_cap_s"] == pytest.approx(3 * per_iteration)
            if below:
                expected = below[0] * per_iteration / table["network"][f"{mode}_time_per_event_s"]
                assert row["ratio_to_network"][mode] == pytest.approx(expected)
