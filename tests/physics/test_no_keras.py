"""Physics, rules, the PG core, batches, specs and the per-event solvers are pure TF: neither
they nor what they import use Keras."""

import ast
import pathlib

import pytest

from tests._ast_imports import runtime_nodes

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "pg_keras"
PURE = ["physics", "rules", "physical_gradient.py", "batch.py", "specs.py", "solving"]


def imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def module_file(name: str) -> pathlib.Path | None:
    relative = pathlib.Path(*name.split(".")[1:])
    for candidate in (PACKAGE / relative.with_suffix(".py"), PACKAGE / relative / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def keras_chain(path: pathlib.Path, seen: set) -> list[str] | None:
    """The import chain from `path` to keras, or None."""
    if path in seen:
        return None
    seen.add(path)
    for name in imported_modules(path):
        if name == "keras" or name.startswith("keras.") or name.startswith("tf_keras"):
            return [str(path.relative_to(PACKAGE)), name]
        if name.startswith("pg_keras"):
            target = module_file(name)
            chain = target and keras_chain(target, seen)
            if chain:
                return [str(path.relative_to(PACKAGE)), *chain]
    return None


@pytest.mark.parametrize("entry", PURE)
def test_pure_tf_modules_do_not_reach_keras(entry):
    root = PACKAGE / entry
    files = [root] if root.is_file() else sorted(root.rglob("*.py"))
    for path in files:
        chain = keras_chain(path, set())
        assert chain is None, " -> ".join(chain)


def test_the_check_sees_a_keras_import():
    assert keras_chain(PACKAGE / "physics_layer.py", set()) is not None
