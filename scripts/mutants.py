"""Mutation testing of the core: small plausible bugs, one at a time, against the mapped tests.

    python -m scripts.mutants [--module PATH ...] [--max-per-module N] [--report FILE]

Each mutant changes one AST node of one module (an operator, a comparison, a constant, a
condition, a call statement), is written over the module's file, and the module's mapped
test files run with `pytest -x` under a timeout; the file is restored in a `finally`, so an
interrupted run never leaves a mutant in the tree. A mutant is *killed* when the tests fail
(or time out), and *survives* when they pass.

Runs are slow (TensorFlow starts in seconds on 2 shared cores), so they are resumable: each
result is cached in the report under a key of the module's source, the mapped tests' sources
and the mutation, and a rerun only runs what changed. A killed mutant stays killed while its
module's source is unchanged (tests are added to kill survivors, not removed); `--fresh`
reruns everything. TensorFlow and pytest are imported once
here and each mutant runs in a forked child, which imports the project afresh from disk.

Survivors explained as equivalent (the program means the same) are listed, with the reason,
in `docs/reports/mutants_equivalent.json`, keyed by module, source line and mutation; the
report's score is killed / (made − equivalent).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import dataclasses
import hashlib
import json
import os
import pathlib
import signal
import sys
import time
from collections.abc import Iterator

ROOT = pathlib.Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "reports" / "mutants.json"
EQUIVALENT = ROOT / "docs" / "reports" / "mutants_equivalent.json"
VERSION = 1  # bump when the operators change, so cached outcomes are not reused

_PG = ["tests/test_physics_layer_reduction.py", "tests/test_physical_gradient.py"]
_RULES = ["tests/rules/test_rules.py", "tests/rules/test_rule_safeguards.py"]
_CODEC = [
    "tests/serving/test_serving_tensor_proto.py",
    "tests/serving/test_codec_against_tensorflow.py",
    "tests/serving/test_codec_limits.py",
]

#: module -> its test files, fastest first (pytest -x stops at the first failure), in the
#: order the modules are run: the core first.
TESTS: dict[str, list[str]] = {
    "pg_keras/physical_gradient.py": [
        *_PG,
        "tests/test_rule_update.py",
        *_RULES,
        "tests/training/test_distributed_reduction_scale.py",
    ],
    "pg_keras/physics_layer.py": _PG,
    "pg_keras/rules/base.py": [*_RULES, *_PG],
    "pg_keras/rules/newton.py": _RULES,
    "pg_keras/rules/gradient_descent.py": [*_RULES, *_PG],
    "pg_keras/rules/inverse_gradient.py": [*_RULES, "tests/physics/test_sin.py"],
    "pg_keras/rules/lbfgs.py": _RULES,
    "pg_keras/rules/adjoint.py": [*_RULES, *_PG],
    "pg_keras/rules/inverse_physics.py": _RULES,
    "pg_keras/physics/heat.py": [
        "tests/physics/test_heat_inverse_modes.py",
        "tests/physics/test_heat.py",
    ],
    "pg_keras/physics/poisson.py": [
        "tests/physics/test_poisson_cell_size.py",
        "tests/physics/test_poisson.py",
    ],
    "serving/errors.py": ["tests/serving/test_http_status_of_error_codes.py"],
    "serving/_tensor_proto.py": _CODEC,
    "serving/_json_tensor.py": ["tests/serving/test_serving_json_format.py"],
    "pg_keras/physics/fields.py": [
        "tests/physics/test_fields.py",
        "tests/physics/test_poisson.py",
        "tests/physics/test_heat.py",
    ],
    "pg_keras/physics/sin.py": ["tests/physics/test_sin.py"],
    "pg_keras/physics/wavepacket.py": ["tests/physics/test_wavepacket.py"],
    "pg_keras/physics/iterative.py": ["tests/problems/test_wavepacket_problem.py"],
    "pg_keras/training/model.py": ["tests/training/test_faults.py", "tests/training/test_run.py"],
    "pg_keras/export/_export.py": ["tests/test_export.py"],
    "pg_keras/export/_module.py": ["tests/test_export.py"],
    "serving/manager.py": ["tests/serving/test_serving_lifecycle.py"],
    "serving/batching.py": ["tests/serving/test_serving_batching.py"],
}

_BINARY = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
}
_COMPARE = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BOOL = {ast.And: ast.Or, ast.Or: ast.And}


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One change to one node: the `index`-th node of the module's walk, `kind` of change."""

    index: int
    kind: str
    line: int
    description: str


def _skipped(node: ast.AST) -> bool:
    """Nodes whose mutants say nothing about the tests: messages, docs, names, types."""
    if isinstance(node, ast.Raise | ast.JoinedStr | ast.Import | ast.ImportFrom | ast.Assert):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return True  # a docstring
    if isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
    ):
        return True
    return isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)


def _children(node: ast.AST) -> Iterator[ast.AST]:
    """Child nodes, leaving out annotations (types are not run)."""
    for name, value in ast.iter_fields(node):
        if name in ("annotation", "returns", "type_comment", "decorator_list"):
            continue
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ast.AST):
                yield child


def walk(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node that may be mutated, in a fixed order (depth first)."""
    if _skipped(tree):
        return
    yield tree
    for child in _children(tree):
        yield from walk(child)


def _kinds(node: ast.AST, parent_is_compare: bool) -> list[str]:
    """The mutations that apply to `node`."""
    if isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in _BINARY:
        return ["operator"]
    if isinstance(node, ast.Compare):
        return [f"compare{i}" for i, op in enumerate(node.ops) if type(op) in _COMPARE]
    if isinstance(node, ast.BoolOp):
        return ["bool"]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
        return ["drop-unary"]
    if isinstance(node, ast.If) and not isinstance(node.test, ast.Compare):
        return ["negate-if"]  # a comparison's own flip already negates it
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return ["drop-call"]
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or (
            isinstance(value, int | float) and not isinstance(value, bool)
        ):
            return ["constant"]
        if isinstance(value, str) and parent_is_compare:
            return ["constant"]
    return []


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def mutants(source: str) -> list[Mutant]:
    """Every mutant of a module's source, in a fixed order."""
    tree = ast.parse(source)
    parents = _parents(tree)
    found = []
    for index, node in enumerate(walk(tree)):
        parent_is_compare = isinstance(parents.get(id(node)), ast.Compare)
        for kind in _kinds(node, parent_is_compare):
            mutated = _apply(copy.deepcopy(node), kind)
            description = f"{_brief(node)} -> {_brief(mutated)}"
            found.append(Mutant(index, kind, getattr(node, "lineno", 0), description))
    return found


def _brief(node: ast.AST) -> str:
    text = ast.unparse(node).splitlines()
    return text[0] if len(text) == 1 else f"{text[0]} ..."


def _constant(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        return f"XX{value}"
    if isinstance(value, int):
        return value + 1
    return value * 2 if value else 1.0


def _apply(node: ast.AST, kind: str) -> ast.AST:
    """`node` with mutation `kind` applied (the node itself, changed, or its replacement)."""
    if kind == "operator":
        node.op = _BINARY[type(node.op)]()
    elif kind.startswith("compare"):
        i = int(kind[len("compare") :])
        node.ops[i] = _COMPARE[type(node.ops[i])]()
    elif kind == "bool":
        node.op = _BOOL[type(node.op)]()
    elif kind == "drop-unary":
        return node.operand
    elif kind == "negate-if":
        node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
    elif kind == "drop-call":
        return ast.Pass()
    elif kind == "constant":
        node.value = _constant(node.value)
    return node


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, replacement: ast.AST):
        self.target, self.replacement = target, replacement

    def generic_visit(self, node):
        if node is self.target:
            return self.replacement
        return super().generic_visit(node)


def mutated_source(source: str, mutant: Mutant) -> str:
    """The module's source with `mutant` applied."""
    tree = ast.parse(source)
    target = next(node for i, node in enumerate(walk(tree)) if i == mutant.index)
    replacement = _apply(target, mutant.kind)
    tree = _Replace(target, replacement).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def mutant_key(source: str, mutant: Mutant) -> str:
    """What a mutant is: the harness version, the module's source and the mutation."""
    return hashlib.sha256(f"{VERSION}|{mutant.index}|{mutant.kind}|{source}".encode()).hexdigest()[
        :20
    ]


def cache_key(source: str, tests: list[str], mutant: Mutant, root: pathlib.Path = ROOT) -> str:
    """What a cached outcome depends on: the mutant and the sources of the tests it met."""
    digest = hashlib.sha256(mutant_key(source, mutant).encode())
    for path in sorted(tests):
        digest.update(path.encode() + b"\0" + (root / path).read_bytes())
    for conftest in sorted(root.glob("tests/**/conftest.py")):
        digest.update(conftest.read_bytes())
    return digest.hexdigest()[:20]


@contextlib.contextmanager
def mutant_in_place(path: pathlib.Path, text: str) -> Iterator[None]:
    """`path` holds `text` inside the block and its original bytes and mtime after it.

    The mutant gets an mtime of its own so that no cached bytecode of the original (or of
    an earlier mutant of the same size) is used for it.
    """
    original = path.read_bytes()
    stat = path.stat()
    try:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + time.time_ns() % 10**9 + 10**9))
        yield
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def run_tests(tests: list[str], timeout: float, log: pathlib.Path) -> tuple[str, str]:
    """`("killed"|"survived", detail)` for one pytest -x run in a forked child."""
    pid = os.fork()
    if pid == 0:  # the child: fresh project imports, output to `log`
        _child(tests, log)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # as the child does, whichever runs first
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pid = None
                return _outcome(os.waitstatus_to_exitcode(status), log)
            time.sleep(0.2)
        return "killed", f"timeout after {timeout:.0f} s"
    finally:
        if pid is not None:  # a timeout, or the harness itself interrupted
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _child(tests: list[str], log: pathlib.Path) -> None:
    code = 3
    try:
        os.setpgid(0, 0)  # so a timeout ends the tests' own subprocesses too
        sys.dont_write_bytecode = True
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        import pytest

        os.chdir(ROOT)
        code = int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-m", "not slow", *tests]))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _outcome(code: int, log: pathlib.Path) -> tuple[str, str]:
    if code == 0:
        return "survived", ""
    failed = [line for line in log.read_text(errors="replace").splitlines() if "FAILED" in line]
    detail = failed[0].split(" - ")[0].replace("FAILED ", "") if failed else f"pytest exit {code}"
    return "killed", detail


def equivalent_reasons(path: pathlib.Path = EQUIVALENT) -> dict[str, str]:
    return json.loads(path.read_text()) if path.exists() else {}


def equivalence_key(module: str, source_line: str, mutant: Mutant) -> str:
    return f"{module}::{source_line.strip()}::{mutant.description}"


def summarise(module: str, results: list[dict], reasons: dict[str, str]) -> dict:
    """A module's counts, score and survivors (each with its equivalence reason, if any)."""
    survivors = []
    for result in results:
        if result["outcome"] == "survived":
            reason = reasons.get(result["equivalence_key"])
            survivors.append({**result, "equivalent": reason})
    equivalent = sum(1 for s in survivors if s["equivalent"])
    killed = sum(1 for r in results if r["outcome"] == "killed")
    live = len(results) - equivalent
    return {
        "mutants": len(results),
        "killed": killed,
        "survived": len(survivors),
        "equivalent": equivalent,
        "score": round(killed / live, 4) if live else None,
        "survivors": survivors,
    }


def _load(report: pathlib.Path) -> dict:
    return json.loads(report.read_text()) if report.exists() else {"modules": {}}


#: Modules of the core this harness leaves out, and why.
LEFT_OUT = {
    "serving/rest.py": "rewritten by another change in the same session; map it once that lands",
}


def _save(report: pathlib.Path, data: dict) -> None:
    data["not_run"] = [module for module in TESTS if module not in data["modules"]]
    data["left_out"] = LEFT_OUT
    partial = report.with_suffix(".json.partial")
    partial.write_text(json.dumps(data, indent=1) + "\n")
    partial.replace(report)


def baseline_seconds(tests: list[str], log: pathlib.Path) -> float | None:
    """How long the unmutated tests take; None if they fail (the module cannot be judged)."""
    start = time.monotonic()
    outcome, _ = run_tests(tests, 900, log)
    return time.monotonic() - start if outcome == "survived" else None


def _reusable(data: dict, module: str, fresh: bool) -> dict[str, dict]:
    """Earlier outcomes by full key, and killed ones also by mutant key (see above)."""
    if fresh:
        return {}
    earlier = data["modules"].get(module, {}).get("results", [])
    reusable = {r["key"]: r for r in earlier}
    reusable.update({r["mutant_key"]: r for r in earlier if r["outcome"] == "killed"})
    return reusable


def run_module(
    module: str, report: pathlib.Path, limit: int | None, log: pathlib.Path, fresh: bool = False
) -> None:
    """Runs (or takes from the cache) every mutant of `module`, saving after each one."""
    tests = TESTS[module]
    path = ROOT / module
    source = path.read_text()
    lines = source.splitlines()
    cached = _reusable(_load(report), module, fresh)
    found = mutants(source)[:limit]
    baseline = None
    results = []
    for mutant in found:
        key = cache_key(source, tests, mutant)
        if mutant_key(source, mutant) in cached:
            key = mutant_key(source, mutant)
        elif key not in cached:
            if baseline is None:
                baseline = baseline_seconds(tests, log)
                if baseline is None:
                    print(f"{module}: its tests fail unmutated; skipped", flush=True)
                    return
            cached[key] = _run_one(module, path, source, mutant, key, tests, baseline, log)
            cached[key]["mutant_key"] = mutant_key(source, mutant)
            cached[key]["equivalence_key"] = equivalence_key(
                module, lines[mutant.line - 1] if mutant.line else "", mutant
            )
            print(
                f"{module}:{mutant.line} {mutant.description}: {cached[key]['outcome']}", flush=True
            )
        results.append(cached[key])
        _record(report, module, tests, results, len(found))


def _run_one(module, path, source, mutant, key, tests, baseline, log) -> dict:
    start = time.monotonic()
    with mutant_in_place(path, mutated_source(source, mutant)):
        outcome, detail = run_tests(tests, max(3 * baseline, baseline + 60), log)
    return {
        "key": key,
        "line": mutant.line,
        "description": mutant.description,
        "outcome": outcome,
        "detail": detail,
        "seconds": round(time.monotonic() - start, 1),
    }


def _record(report: pathlib.Path, module: str, tests: list[str], results: list[dict], made: int):
    data = _load(report)
    entry = summarise(module, results, equivalent_reasons())
    entry.update(tests=tests, planned=made, complete=len(results) == made, results=results)
    data["modules"][module] = entry
    data["command"] = "nice -n 10 .venv/bin/python -m scripts.mutants"
    _save(report, data)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=sorted(TESTS), help="default: all")
    parser.add_argument("--max-per-module", type=int, default=None)
    parser.add_argument("--report", type=pathlib.Path, default=REPORT)
    parser.add_argument("--fresh", action="store_true", help="reuse no earlier outcome")
    args = parser.parse_args(argv)
    if args.max_per_module is not None and args.max_per_module < 1:
        parser.error(f"expected --max-per-module >= 1. Received: {args.max_per_module}")
    import keras  # noqa: F401  # once here, so each forked child starts warm
    import tensorflow  # noqa: F401

    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, _interrupt)  # so the `finally` that restores the module runs

    log = ROOT / "runs" / "mutants.log"
    log.parent.mkdir(exist_ok=True)
    for module in args.module or list(TESTS):
        run_module(module, args.report, args.max_per_module, log, args.fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
