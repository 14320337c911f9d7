"""The package's shape that review asks for and nothing else checks: every module says why it
exists, and none grows past what one reader holds in mind (issue 9: 500 lines)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sentinel"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 500


def test_the_package_has_modules() -> None:
    assert len(MODULES) > 50


@pytest.mark.parametrize("module", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_a_module_says_why_it_exists_and_stays_small(module: Path) -> None:
    source = module.read_text()
    docstring = ast.get_docstring(ast.parse(source))
    assert docstring, f"{module}: a module docstring saying why it exists"
    lines = source.count("\n")
    assert lines <= MAX_LINES, f"{module}: {lines} lines; split it by what its parts are for"


def _compiled() -> list[Path]:
    """The modules setup.py compiles (its COMPILED list, read without running it)."""
    tree = ast.parse((PACKAGE.parent / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "COMPILED" for target in node.targets
        ):
            return [PACKAGE.parent / item.value for item in node.value.elts]  # type: ignore[attr-defined]
    raise AssertionError("setup.py has no COMPILED list")


@pytest.mark.parametrize("module", _compiled(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_a_compiled_modules_constants_are_final(module: Path) -> None:
    """mypyc reads a module-level name from the module's dict on every use, unless it is
    `Final` (then from a C static, or inlined): on the hot path that was 3% of the live
    pipeline's instructions. Constants are the names written in capitals."""
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            annotation = ast.unparse(node.annotation)
            if annotation == "Final" or annotation.startswith("Final["):
                continue
            names = [node.target.id]
        else:
            continue
        for name in names:  # type aliases (CamelCase) are not constants
            assert not name.isupper(), (
                f"{module.name}: {name} is a constant of a compiled module: annotate it Final"
            )
