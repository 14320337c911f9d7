"""The running rule set (expectations + schemas): loading it, and noticing when its files change."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sentinel.core.errors import ExpectationFileError, SchemaDirError
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.rules.expectations import Expectation
from sentinel.core.rules.loader import load_expectations


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


class RuleSet:
    """The running rules and their files: reload when the files change (or on SIGHUP), and
    keep the old set running when the new one is invalid."""

    def __init__(
        self,
        current: Rules,
        load: Callable[[], Rules],
        roots: Sequence[Path],
        poll_s: float,
    ) -> None:
        self.current = current
        self._load = load
        self._roots = tuple(roots)
        self._poll_s = poll_s
        self._fingerprint = fingerprint(*self._roots)
        self._next_check = time.monotonic() + poll_s
        self._requested = False
        # The new rules, valid together: put them to work (set by whoever runs them).
        self.on_reload: Callable[[Rules], None] = lambda rules: None
        # The problems of files that were not taken.
        self.on_refused: Callable[[Sequence[str]], None] = lambda problems: None

    def request(self) -> None:
        """Reload at the next check, whether the files changed or not (SIGHUP)."""
        self._requested = True

    def check(self) -> None:
        """Reload if asked to or if the files changed since the last look (at most every poll)."""
        if not self._requested and time.monotonic() < self._next_check:
            return
        forced, self._requested = self._requested, False
        self._next_check = time.monotonic() + self._poll_s
        current = fingerprint(*self._roots)
        if not forced and current == self._fingerprint:
            return
        self._fingerprint = current
        try:
            rules = self._load()
        except (ExpectationFileError, SchemaDirError) as error:
            self.on_refused(error.problems)
            return
        self.current = rules
        self.on_reload(rules)
