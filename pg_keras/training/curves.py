"""Reading learning curves out of compare reports, by metric name.

A run in a report holds `curve`, one row per logged point, whose columns
`curve_columns` names (`["step", "y_loss", "x_mae"]`; reports written before the
name list existed have that order too), and `extra_curves`, the problem's own
metrics as `{name: [[step, value], ...]}`. Everything that reads a report (the
comparison's crossings, the plots, the figure scripts) asks `curve(run, metric)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["CURVE_COLUMNS", "curve", "curve_metrics", "curve_rows"]

#: The columns of a run's `curve`, in order (and of reports that predate `curve_columns`).
CURVE_COLUMNS = ("step", "y_loss", "x_mae")


def curve_rows(points: Sequence[Mapping]) -> dict:
    """A run's `curve` and `curve_columns` from its logged points."""
    return {
        "curve_columns": list(CURVE_COLUMNS),
        "curve": [[point[name] for name in CURVE_COLUMNS] for point in points],
    }


def curve_metrics(run: Mapping) -> list[str]:
    """The metrics a run has curves of: the `curve` columns but `step`, then the extras."""
    columns = list(run.get("curve_columns", CURVE_COLUMNS))
    return [name for name in columns if name != "step"] + list(run.get("extra_curves", {}))


def curve(run: Mapping, metric: str) -> list[list[float]]:
    """`[[step, value], ...]` of `metric` for one run of a report.

    Raises:
        KeyError: the run has no curve of `metric`, naming those it has.
    """
    columns = list(run.get("curve_columns", CURVE_COLUMNS))
    if metric in columns and metric != "step":
        step, column = columns.index("step"), columns.index(metric)
        return [[row[step], row[column]] for row in run["curve"]]
    extra = run.get("extra_curves", {})
    if metric in extra:
        return [list(point) for point in extra[metric]]
    raise KeyError(
        f"No curve of {metric!r} in this run. Expected one of: {', '.join(curve_metrics(run))}"
    )
