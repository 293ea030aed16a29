"""Mutant generation for `scripts/mutants.py`: which AST nodes change, and how.

Each mutant changes one node of one module (an operator, a comparison, a constant, a
condition, a call statement); messages, docstrings, `__all__`, imports and annotations are
left alone, since a change there says nothing about the tests.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import hashlib
from collections.abc import Iterator

VERSION = 1  # bump when the operators change, so cached outcomes are not reused

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
