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
