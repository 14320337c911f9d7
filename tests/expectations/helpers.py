"""Write expectation YAML into the current (temporary) folder and load it back."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sentinel.core.errors import ExpectationFileError
from sentinel.core.rules.loader import LoadedExpectations, load_expectations


def write(path: str, text: str) -> str:
    """Write dedented `text` to `path`, creating folders; return `path` for the assertions."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(*paths: str | Path) -> LoadedExpectations:
    return load_expectations(paths)


def problems(*paths: str | Path) -> tuple[str, ...]:
    """The problems that loading `paths` raises (the test fails if it loads)."""
    with pytest.raises(ExpectationFileError) as caught:
        load_expectations(paths)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def only_problem(*paths: str | Path) -> str:
    found = problems(*paths)
    assert len(found) == 1, found
    return found[0]
