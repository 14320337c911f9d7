"""The recent findings that the board and `GET /api/v1/findings` show: a bounded buffer, so a
storm of findings costs memory once and the oldest simply fall out."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from sentinel.core.engine.findings import Finding


class RecentFindings:
    """The last `capacity` findings, in the order they were raised."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self._findings: deque[Finding] = deque(maxlen=capacity)

    def append(self, finding: Finding) -> None:
        self._findings.append(finding)

    def extend(self, findings: list[Finding]) -> None:
        self._findings.extend(findings)

    def __len__(self) -> int:
        return len(self._findings)

    def __iter__(self) -> Iterator[Finding]:
        """Oldest first."""
        return iter(self._findings)

    def newest(self, limit: int | None = None, since: float | None = None) -> list[Finding]:
        """Newest first: at most `limit`, raised at or after `since` (epoch seconds)."""
        chosen: list[Finding] = []
        for finding in reversed(self._findings):
            if limit is not None and len(chosen) >= limit:
                break
            if since is None or finding.at >= since:
                chosen.append(finding)
        return chosen
