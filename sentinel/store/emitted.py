"""The ids of the findings already emitted, in memory: every store asks them the same question."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sentinel.core.engine.findings import Finding
from sentinel.core.engine.retention import forget_before


class EmittedIds:
    """Finding id -> clock when emitted, oldest first; one retention's worth."""

    def __init__(self, kept: Iterable[tuple[str, float]] = ()) -> None:
        self._at: dict[str, float] = dict(kept)

    def fresh(self, findings: Sequence[Finding]) -> list[Finding]:
        """The findings whose id was never emitted, the first of each id only."""
        fresh: list[Finding] = []
        taken: set[str] = set()
        for finding in findings:
            finding_id = finding.id
            if finding_id not in self._at and finding_id not in taken:
                taken.add(finding_id)
                fresh.append(finding)
        return fresh

    def rows(self, findings: Sequence[Finding]) -> list[tuple[str, float]]:
        """(id, at) of findings about to be committed (a finding keeps its id once computed)."""
        return [(finding.id, finding.at) for finding in findings]

    def kept(self, rows: Iterable[tuple[str, float]], horizon: float) -> None:
        """The rows are committed; ids emitted before the horizon are forgotten."""
        times = self._at
        for finding_id, at in rows:
            times.setdefault(finding_id, at)
        forget_before(times, horizon)
