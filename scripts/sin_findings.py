"""Reads `compare sin` reports and prints what they say about the paper's 1000x claim.

    python -m scripts.sin_findings r.json [r_float64.json ...]

Per scheme and seed: x_mae at a few checkpoints of training, the final value
(mean over the last logged interval), the median over the last 10% of
training, and the best point; then the ratio of the adjoint's x_mae to the
inverse-physics PG's at each checkpoint (median over seeds).
"""

from __future__ import annotations

import json
import pathlib
import statistics
import sys

from pg_keras.training.curves import curve as metric_curve

CHECKPOINTS = (1000, 2000, 5000, 10000, 20000)


def _at(curve, step):
    return min(curve, key=lambda point: abs(point[0] - step))


def summarise(report: dict) -> None:
    steps = report["steps"]
    checkpoints = [c for c in CHECKPOINTS if c <= steps] or [steps]
    spec = report.get("spec", {})
    print(
        f"\n{report['problem']} {spec or ''}: {steps} steps, batch {report['batch']}, "
        f"seeds {report['seeds']}"
    )
    header = " ".join(f"{'@' + str(c):>9}" for c in checkpoints)
    print(f"{'scheme':<17}{'seed':>5} {header} {'final':>9} {'last10%':>9} {'best':>9}   x_mae")
    medians: dict[str, dict[int, float]] = {}
    for name, result in report["results"].items():
        per_checkpoint = {c: [] for c in checkpoints}
        for run in result["runs"]:
            curve = metric_curve(run, "x_mae")
            tail = [value for step, value in curve if step > 0.9 * steps]
            values = [_at(curve, c)[1] for c in checkpoints]
            for c, v in zip(checkpoints, values, strict=True):
                per_checkpoint[c].append(v)
            cells = " ".join(f"{v:>9.2e}" for v in values)
            print(
                f"{name:<17}{run['seed']:>5} {cells} {run['final']['x_mae']:>9.2e} "
                f"{statistics.median(tail):>9.2e} {min(value for _, value in curve):>9.2e}"
            )
        medians[name] = {c: statistics.median(v) for c, v in per_checkpoint.items()}
    if "adjoint" in medians and "inverse-physics" in medians:
        ratios = " ".join(
            f"@{c}: {medians['adjoint'][c] / medians['inverse-physics'][c]:.3g}x"
            for c in checkpoints
        )
        print(f"adjoint x_mae / inverse-physics x_mae (medians over seeds): {ratios}")
    times = {n: r["step_time_ms"]["median"] for n, r in report["results"].items()}
    if "adjoint" in times:
        print(
            "step time relative to adjoint: "
            + ", ".join(f"{n} {t / times['adjoint']:.2f}x" for n, t in times.items())
        )


def main(argv=None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("usage: python -m scripts.sin_findings REPORT.json [...]", file=sys.stderr)
        return 2
    for path in paths:
        summarise(json.loads(pathlib.Path(path).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
