"""The import graphs: no cycles among pg_keras modules nor among serving modules, and no
import of `serving` from pg_keras.

Imports inside functions count (hiding a cycle there is still a cycle); imports under
`if TYPE_CHECKING:` do not (they never run). An import of a package's module counts as
an import of that module, not of the package's `__init__`.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

from tests._ast_imports import runtime_nodes

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pg_keras"
SERVING = ROOT / "serving"


def module_name(path: pathlib.Path, base: pathlib.Path = ROOT) -> str:
    """The dotted name of the module at `path`, for a top package directly under `base`."""
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: pathlib.Path, known: set[str], base: pathlib.Path = ROOT) -> set[str]:
    """The modules `path` imports at run time, resolved to names in `known` where they are."""
    found = set()
    own = module_name(path, base)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    for node in runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return found


def graph(root: pathlib.Path = PACKAGE) -> dict[str, set[str]]:
    """`{module: the modules of the same package it imports}` for the package at `root`."""
    files = {module_name(path, root.parent): path for path in sorted(root.rglob("*.py"))}
    known = set(files)
    return {name: imports(path, known, root.parent) & known for name, path in files.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


@pytest.mark.parametrize("package", [PACKAGE, SERVING], ids=lambda path: path.name)
def test_package_has_no_import_cycle(package):
    cycle = find_cycle(graph(package))
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_check_sees_a_cycle_behind_a_function_level_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import B\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import A\n"
        "def f():\n    from pkg import a\n    return a\n"
    )
    assert find_cycle(graph(package)) == ["pkg.a", "pkg.b", "pkg.a"]
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n"
    )
    assert find_cycle(graph(package)) is None


def serving_imports(root: pathlib.Path) -> dict[str, set[str]]:
    """`{module: the serving modules it imports}` for every module under `root` that does."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        imported = imports(path, set(), root.parent)
        names = {n for n in imported if n == "serving" or n.startswith("serving.")}
        if names:
            found[module_name(path, root.parent)] = names
    return found


def test_no_pg_keras_module_imports_serving():
    assert serving_imports(PACKAGE) == {}


def test_the_serving_check_sees_an_import_inside_a_function(tmp_path):
    package = tmp_path / "pg_keras"
    package.mkdir()
    (package / "cli.py").write_text("def main():\n    from serving.client import Client\n")
    assert serving_imports(package) == {"pg_keras.cli": {"serving.client"}}


def test_the_cli_and_export_run_without_loading_serving():
    # The real import, not only the source: nothing pg_keras loads pulls the server in.
    code = (
        "import sys, pg_keras, pg_keras.cli, pg_keras.export, pg_keras.benchmarks.train_speed\n"
        "assert pg_keras.cli.main(['list']) == 0\n"
        "loaded = sorted(m for m in sys.modules if m == 'serving' or m.startswith('serving.'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
