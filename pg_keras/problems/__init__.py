"""The problem registry: the CLI and benchmarks only talk to this.

A problem is named in one of three ways, wherever a problem name is taken
(`pg-keras train NAME`, `TrainingConfig.problem`, `get_problem`):

* a built-in name, `PROBLEMS` (adding one: its module and one line here);
* `MODULE:CLASS`, a `Problem` subclass importable from the current directory (or
  anywhere on `sys.path`), e.g. `pg-keras train own_problem:OwnProblem` in
  docs/examples: nothing in the package changes;
* a name another package registers in the `pg_keras.problems` entry-point group,
  e.g. in its pyproject.toml:

      [project.entry-points."pg_keras.problems"]
      advection = "my_package.advection:AdvectionProblem"

Built-in names win over entry points of the same name. What a problem must and may
implement is in `pg_keras.problems.base`.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import os
import sys
from collections.abc import Mapping
from typing import Any

from pg_keras.problems.base import OPTIONAL_HOOKS, Problem, Scheme
from pg_keras.problems.fluid import FluidProblem
from pg_keras.problems.heat import HeatProblem
from pg_keras.problems.poisson import PoissonProblem
from pg_keras.problems.sin import SinProblem
from pg_keras.problems.wavepacket import WavePacketProblem

__all__ = [
    "ENTRY_POINT_GROUP",
    "OPTIONAL_HOOKS",
    "PROBLEMS",
    "Problem",
    "Scheme",
    "get_problem",
    "make_spec",
    "problem_class",
    "registered_names",
]

PROBLEMS: dict[str, type[Problem]] = {
    SinProblem.name: SinProblem,
    WavePacketProblem.name: WavePacketProblem,
    FluidProblem.name: FluidProblem,
    HeatProblem.name: HeatProblem,
    PoissonProblem.name: PoissonProblem,
}

ENTRY_POINT_GROUP = "pg_keras.problems"


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def registered_names() -> list[str]:
    """Built-in names, then the names packages register as entry points."""
    return [*PROBLEMS, *sorted(set(_entry_points()) - set(PROBLEMS))]


def problem_class(name: str) -> type[Problem]:
    """The problem class `name` refers to: built-in, `MODULE:CLASS` or an entry point."""
    if name in PROBLEMS:
        return PROBLEMS[name]
    if ":" in name:
        return _checked(_import_class(name), name)
    entry_point = _entry_points().get(name)
    if entry_point is None:
        raise ValueError(
            f"Unknown problem {name!r}. Expected one of: {', '.join(sorted(registered_names()))}"
            ", or MODULE:CLASS importable from the current directory"
        )
    try:
        loaded = entry_point.load()
    except (ImportError, AttributeError) as error:
        raise ValueError(
            f"Cannot load problem {name!r} from entry point {entry_point.value!r} "
            f"({type(error).__name__}: {error}). Expected an importable Problem subclass"
        ) from None
    return _checked(loaded, name)


def _import_class(reference: str) -> type:
    module_name, _, class_name = reference.partition(":")
    if not module_name or not class_name or ":" in class_name:
        raise ValueError(f"Expected a problem reference MODULE:CLASS. Received: {reference!r}")
    # Console scripts do not put the current directory on the path; a problem file
    # next to where the command runs should import as it would in `python -c`.
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"Cannot import module {module_name!r} for problem {reference!r} ({error}). "
            f"Expected a module importable from {here}"
        ) from None
    if not hasattr(module, class_name):
        raise ValueError(
            f"Module {module_name!r} has no {class_name!r}. Expected the problem class "
            f"of {reference!r}"
        )
    return getattr(module, class_name)


def _checked(found: Any, name: str) -> type[Problem]:
    if not (isinstance(found, type) and issubclass(found, Problem)):
        raise ValueError(
            f"Problem {name!r} is {found!r}. Expected a subclass of pg_keras.problems.Problem"
        )
    return found


def get_problem(name: str, spec: Mapping[str, Any] | None = None) -> Problem:
    """An instance of the problem `name` refers to; `spec` overrides spec fields."""
    found = problem_class(name)
    if not spec:
        return found()
    return found(make_spec(found.spec_class, spec))


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
                f"Expected one of: {', '.join(sorted(fields)) or 'none (the spec is empty)'}"
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
