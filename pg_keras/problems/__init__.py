"""The problem registry: the CLI and benchmarks only talk to this."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pg_keras.problems.base import Problem, Scheme
from pg_keras.problems.fluid import FluidProblem
from pg_keras.problems.heat import HeatProblem
from pg_keras.problems.poisson import PoissonProblem
from pg_keras.problems.sin import SinProblem
from pg_keras.problems.wavepacket import WavePacketProblem

PROBLEMS: dict[str, type[Problem]] = {
    SinProblem.name: SinProblem,
    WavePacketProblem.name: WavePacketProblem,
    FluidProblem.name: FluidProblem,
    HeatProblem.name: HeatProblem,
    PoissonProblem.name: PoissonProblem,
}


def get_problem(name: str, spec: Mapping[str, Any] | None = None) -> Problem:
    """An instance of the registered problem `name`; `spec` overrides spec fields."""
    if name not in PROBLEMS:
        raise ValueError(
            f"Unknown problem {name!r}. Expected one of: {', '.join(sorted(PROBLEMS))}"
        )
    problem_class = PROBLEMS[name]
    if not spec:
        return problem_class()
    return problem_class(make_spec(problem_class.spec_class, spec))


def make_spec(spec_class: type, overrides: Mapping[str, Any]):
    """`spec_class` with `overrides` applied; string values (from the CLI) are parsed
    to the type of the field's default."""
    defaults = spec_class()
    fields = {f.name for f in dataclasses.fields(spec_class)}
    values = {}
    for key, value in overrides.items():
        if key not in fields:
            raise ValueError(
                f"Unknown spec field {key!r} for {spec_class.__name__}. "
                f"Expected one of: {', '.join(sorted(fields))}"
            )
        values[key] = _parse_like(getattr(defaults, key), value, key)
    return dataclasses.replace(defaults, **values)


def _parse_like(default: Any, value: Any, key: str) -> Any:
    if not isinstance(value, str) or isinstance(default, str):
        return tuple(value) if isinstance(default, tuple) else value
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return value.lower() in ("true", "1")
        if isinstance(default, tuple):
            return tuple(type(default[0])(v) for v in value.split(",")) if default else ()
        return type(default)(value)
    except ValueError:
        raise ValueError(
            f"Cannot parse spec field {key}={value!r}. "
            f"Expected a value like {default!r} ({type(default).__name__})"
        ) from None


__all__ = ["PROBLEMS", "Problem", "Scheme", "get_problem"]
