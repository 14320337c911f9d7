"""The running rule set (expectations + schemas): loading it, and noticing when its files change."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sentinel.expectation_loader import load_expectations
from sentinel.expectations import Expectation
from sentinel.schemas import SchemaRegistry


@dataclass(frozen=True)
class Rules:
    """Expectations and schemas that were valid together when loaded."""

    expectations: tuple[Expectation, ...]
    schemas: SchemaRegistry
    warnings: tuple[str, ...] = ()

    @property
    def known_types(self) -> frozenset[str]:
        """Event types that may be metric label values: named by an expectation or a schema."""
        named = {t for exp in self.expectations for t in exp.event_types}
        return frozenset(named | self.schemas.types)


def load_rules(expectations: Path, schemas: Path) -> Rules:
    """Both or neither: raises ExpectationFileError or SchemaDirError with every problem."""
    loaded = load_expectations([expectations])
    registry = SchemaRegistry.load(schemas)
    return Rules(loaded.expectations, registry, loaded.warnings)


def fingerprint(*roots: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times below `roots`: changes when any file changes.

    Kubernetes updates a ConfigMap volume by swapping a symlink, which this notices too.
    """
    entries = []
    for root in roots:
        paths = [root] if root.is_file() else sorted(root.rglob("*")) if root.exists() else []
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                continue
            if path.is_file():
                entries.append((os.fspath(path), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)
