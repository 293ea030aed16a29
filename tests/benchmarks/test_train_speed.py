"""bench-train runs with a tiny budget and reports every part; timings are not asserted."""

import json

from pg_keras.benchmarks.train_speed import bench_train, format_report
from pg_keras.cli import main


def test_report_has_every_part():
    report = bench_train("sin", "inverse-physics", batch_size=64, steps=10, steps_per_call=2)
    for name in ("with_data", "without_data"):
        entry = report["ms_per_step"][name]
        assert 0 < entry["min"] <= entry["median"] <= entry["max"]
    for name in ("data", "network", "physics_forward", "gradient_backward"):
        assert report["parts_ms"][name]["samples"] == 10
    assert report["examples_per_second"] > 0
    assert "gradient_backward" in format_report(report)


def test_supervised_has_no_gradient_backward():
    report = bench_train("sin", "supervised", batch_size=64, steps=4, steps_per_call=2)
    assert report["parts_ms"]["gradient_backward"] is None


def test_cli_writes_the_report(tmp_path, capsys):
    path = tmp_path / "bench.json"
    code = main(
        ["bench-train", "sin", "--gradient", "adjoint", "--batch", "32", "--steps", "4",
         "--steps-per-call", "2", "--report", str(path)]
    )  # fmt: skip
    assert code == 0
    assert json.loads(path.read_text())["gradient"] == "adjoint"
    assert "step with_data" in capsys.readouterr().out


def test_too_few_steps_is_a_clear_error(capsys):
    code = main(["bench-train", "sin", "--steps", "3", "--steps-per-call", "2"])
    assert code == 2
    assert "Expected `steps` >= 2 * steps_per_call" in capsys.readouterr().err


def test_several_rules_in_one_process_print_ratios(tmp_path, capsys):
    path = tmp_path / "bench.json"
    code = main(
        ["bench-train", "sin", "--gradient", "inverse-physics,adjoint", "--batch", "32",
         "--steps", "4", "--steps-per-call", "2", "--report", str(path)]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "inverse-physics step / adjoint step:" in out
    runs = json.loads(path.read_text())["runs"]
    ratios = runs[0]["ratio_to"]
    assert ratios["gradient"] == "adjoint" and ratios["with_data"] > 0
    # The backward ratio, where the adjoint's backward median is not clipped to 0 (sin's
    # backward is a few µs).
    parts = [run["parts_ms"]["gradient_backward"]["median"] for run in runs]
    if parts[1] > 0:
        assert ratios["gradient_backward"] == parts[0] / parts[1]
        assert "inverse-physics backward / adjoint backward:" in out
    else:
        assert ratios["gradient_backward"] is None


def test_thread_settings_apply_in_a_fresh_process(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "pg_keras.cli", "bench-train", "sin", "--gradient", "adjoint",
         "--batch", "32", "--steps", "4", "--steps-per-call", "2", "--intra-op-threads", "1",
         "--inter-op-threads", "2", "--report", str(path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(path.read_text())["threads"] == {"intra_op": 1, "inter_op": 2}


def test_thread_settings_after_tensorflow_started_are_a_clear_error(capsys):
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # the runtime is up in this process
    code = main(["bench-train", "sin", "--steps", "4", "--steps-per-call", "2",
                 "--intra-op-threads", "3"])  # fmt: skip
    assert code == 2
    assert "need a process where TensorFlow has not run yet" in capsys.readouterr().err


def test_rules_are_timed_in_turns(monkeypatch):
    from pg_keras.benchmarks import train_speed

    order = []
    original = train_speed._RuleBench.step_ms

    def recording(self, i):
        order.append(self.gradient)
        return original(self, i)

    monkeypatch.setattr(train_speed._RuleBench, "step_ms", recording)
    train_speed.bench_rules("sin", ["adjoint", "newton"], batch_size=32, steps=4, steps_per_call=2)
    timed = order[2:]  # after one untimed call each
    assert timed[:4] == ["adjoint", "newton", "newton", "adjoint"]
