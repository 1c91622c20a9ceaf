"""Small components with one job: no function in ``hw/`` or ``golden/`` over 120 lines."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_LINES = 120


def long_functions(path: pathlib.Path, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """(name, lines) of every function or method in ``path`` longer than ``limit`` lines,
    counted from its ``def`` (decorators excluded) to its last line."""
    tree = ast.parse(path.read_text(), str(path))
    return [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


@pytest.mark.parametrize("package", ["hw", "golden"])
def test_no_function_over_the_limit(package):
    found = [f"{path.relative_to(ROOT)}: {name} has {lines} lines"
             for path in sorted((ROOT / package).rglob("*.py")) for name, lines in long_functions(path)]
    assert not found, "\n".join(found)


def test_checker_sees_a_long_function(tmp_path):
    """The counter does find a long method and a long nested function, and spares a short one."""
    lines = [f"x{i} = {i}" for i in range(MAX_LINES)]
    method = "\n".join("        " + line for line in lines)
    inner = "\n".join("        " + line for line in lines)
    src = tmp_path / "long.py"
    src.write_text(f"def short():\n    pass\n\n\nclass C:\n    def long(self):\n{method}\n\n\n"
                   f"def outer():\n    def inner():\n{inner}\n    return inner\n")
    assert sorted(long_functions(src)) == [("inner", MAX_LINES + 1), ("long", MAX_LINES + 1), ("outer", MAX_LINES + 3)]
