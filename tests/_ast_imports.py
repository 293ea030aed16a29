"""Reading a module's imports from its source, for the import-graph tests."""

import ast


def runtime_nodes(tree: ast.AST):
    """Every node but those under `if TYPE_CHECKING:` (type hints only, never imported)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))
