"""scripts/sin_findings.py reads a `compare sin` report and prints the adjoint / PG ratios."""

import json

from scripts import sin_findings


def _run(seed, x_mae_at):
    curve = [[step, 0.5, x_mae_at(step)] for step in range(100, 2001, 100)]
    final = {"y_loss": 0.5, "x_mae": x_mae_at(2000)}
    return {
        "seed": seed,
        "curve_columns": ["step", "y_loss", "x_mae"],
        "curve": curve,
        "final": final,
    }


def test_findings_print_each_run_and_the_ratio_at_each_checkpoint(tmp_path, capsys):
    report = {
        "problem": "sin",
        "steps": 2000,
        "batch": 1000,
        "seeds": [1, 2],
        "results": {
            "adjoint": {
                "runs": [_run(s, lambda step: 1.0 / step) for s in (1, 2)],
                "step_time_ms": {"median": 3.0},
            },
            "inverse-physics": {
                "runs": [_run(s, lambda step: 1e-3 / step) for s in (1, 2)],
                "step_time_ms": {"median": 6.0},
            },
        },
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    assert sin_findings.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "sin : 2000 steps, batch 1000, seeds [1, 2]" in out
    assert "@1000: 1e+03x @2000: 1e+03x" in out  # checkpoints 1000 and 2000, not past the run
    # One line per scheme and seed: x_mae at 1000 and 2000, final, median of the last 10%
    # (steps 1900 and 2000), best.
    rows = [
        line.split()
        for line in out.splitlines()
        if line.split()[:1] == ["adjoint"] and line.split()[1].isdigit()
    ]
    assert [row[1] for row in rows] == ["1", "2"]
    expected = [1e-3, 5e-4, 5e-4, (1 / 1900 + 1 / 2000) / 2, 5e-4]
    assert [float(v) for v in rows[0][2:]] == [float(f"{v:.2e}") for v in expected]
    assert "step time relative to adjoint: adjoint 1.00x, inverse-physics 2.00x" in out


def test_no_report_is_a_usage_error(capsys):
    assert sin_findings.main([]) == 2
    assert "usage: python -m scripts.sin_findings" in capsys.readouterr().err
