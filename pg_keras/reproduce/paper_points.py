"""A compare report read at the paper's checkpoints: medians and ranges over seeds.

`paper_points(report, checkpoints, reference)` adds to a `pg-keras compare` report what
the paper quotes: each scheme's `x_mae` at the logged point nearest each checkpoint
(median, min and max over seeds, and the reference scheme's median over this one's),
the final, best (each run's lowest logged point) and as-served (inference-mode) errors
with their ranges, and the steps each
scheme's median curve needs to reach the reference's final error (the paper's "PG needs
138 iterations to reach Adam's 10k accuracy"; `steps_to_match` of the report).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from pg_keras.training.curves import curve

__all__ = ["at_step", "paper_points", "spread"]


def spread(values: Sequence[float]) -> dict:
    """`{"median", "min", "max"}` of values over seeds."""
    values = [float(v) for v in values]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def at_step(points: Sequence[Sequence[float]], step: int) -> tuple[int, float]:
    """`(logged step, value)` of the logged point nearest `step` (the earlier one on a tie)."""
    if not points:
        raise ValueError(f"Expected a curve with logged points. Received an empty curve at {step}")
    found = min(points, key=lambda point: (abs(point[0] - step), point[0]))
    return int(found[0]), float(found[1])


def _at_checkpoint(runs: list[dict], step: int, metric: str) -> dict:
    found = [at_step(curve(run, metric), step) for run in runs]
    return {"step": found[0][0], **spread([value for _, value in found])}


def _ratio(reference: float, value: float) -> float | None:
    return reference / value if value else None


def paper_points(
    report: dict, checkpoints: Sequence[int], reference: str, metric: str = "x_mae"
) -> dict:
    """The paper's view of `report`: see the module docstring.

    Checkpoints past the report's steps are left out; its final step is always in.
    """
    steps = sorted({c for c in checkpoints if c <= report["steps"]} | {report["steps"]})
    results = report["results"]
    has_reference = reference in results
    table: dict = {}
    for step in steps:
        row = {name: _at_checkpoint(entry["runs"], step, metric) for name, entry in results.items()}
        if has_reference:
            for cell in row.values():
                cell["reference_over_this"] = _ratio(row[reference]["median"], cell["median"])
        table[str(step)] = row
    out = {
        "metric": metric,
        "reference": reference,
        "checkpoints": table,
        "final": {n: spread([r["final"][metric] for r in e["runs"]]) for n, e in results.items()},
        "best": {
            n: spread([min(v for _, v in curve(r, metric)) for r in e["runs"]])
            for n, e in results.items()
        },
        "inference": {
            n: spread([r["inference"][metric] for r in e["runs"]])
            for n, e in results.items()
            if all("inference" in r for r in e["runs"])
        },
    }
    if has_reference:
        level = results[reference]["final"][metric]
        out["steps_to_reach_reference_final"] = {
            "level": level,
            **{
                name: matches.get(reference)
                for name, matches in report["steps_to_match"].items()
                if name != reference
            },
        }
    return out
