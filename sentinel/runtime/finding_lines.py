"""Findings as JSON lines: the pipeline's output in `sentinel run` (standard output, or the
demo's readable printer), written inside each batch's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sentinel.core.engine.findings import Finding


class LineSink(Protocol):
    """Where findings go as JSON lines: standard output, or the demo's readable printer."""

    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


class FindingLines:
    """The pipeline's output live: each new finding as one JSON line, flushed with its batch."""

    def __init__(self, out: LineSink) -> None:
        self.out = out

    def write_findings(self, findings: Sequence[Finding]) -> None:
        self.out.write("".join(finding.to_json_line() for finding in findings))
        self.out.flush()
