"""Dependencies point one way: golden <- hw <- sim <- CLI (and golden <- evaluation)."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = {"golden": "golden", "hw": "hw", "sim": "sim", "evaluation": "evaluation", "memornn": "memornn"}

# What each package may import of memornn (as dotted prefixes after "memornn.").
ALLOWED = {
    "golden": {"golden"},
    # The generator takes only the numerics and the model format (with its error type).
    "hw": {"hw", "golden.numerics", "golden.qmodel", "golden.errors"},
    "sim": {"sim", "hw", "golden"},
    "evaluation": {"evaluation", "golden"},
}


def _module_parts(path: pathlib.Path, package: str) -> list[str]:
    return [package] + list(path.relative_to(ROOT / PACKAGES[package]).with_suffix("").parts)


def _memornn_imports(path: pathlib.Path, module_parts: list[str]):
    """Names (after ``memornn.``) imported by the module ``memornn.<module_parts>`` at ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_parts[:len(module_parts) - node.level]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("memornn."):
                target = node.module[len("memornn."):]
            else:
                continue
            # An imported name may be a submodule (from ..golden import numerics).
            yield from (f"{target}.{alias.name}".lstrip(".") for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("memornn."):
                    yield alias.name[len("memornn."):]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_point_one_way(package):
    bad = []
    for path in sorted((ROOT / PACKAGES[package]).rglob("*.py")):
        for name in _memornn_imports(path, _module_parts(path, package)):
            if name == "" or name.startswith("__"):  # memornn.__version__ and the like
                continue
            if not any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED[package]):
                bad.append(f"{path.relative_to(ROOT)} imports memornn.{name}")
    assert not bad, "\n".join(bad)


def test_checker_sees_a_violation(tmp_path):
    """The import parser does see relative imports of a forbidden package."""
    bad = tmp_path / "bad.py"
    bad.write_text("from ..hw import core\nfrom .numerics import saturate\nfrom .. import __version__\n")
    names = list(_memornn_imports(bad, ["golden", "bad"]))
    assert names == ["hw.core", "golden.numerics.saturate", "__version__"]
