"""The clock order is one contract, live and in replay: the same records on the same clock
trace give the same findings through the watcher's loop (fake source, fake wall clock, any
batching, a rebalance anywhere) and through `sentinel replay`."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.core.engine.engine import Engine
from sentinel.core.events.records import Partition
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.pipeline.replay import replay_lines
from sentinel.core.rules.loader import load_expectations
from sentinel.core.timefmt import parse_rfc3339

from .fake_source import Clock, FakeSource, fake_watcher
from .watcher_support import (
    FAST_EXPECTATION,
    MESSAGING,
    SCHEMA,
    SERVICE,
    SHIPPED_SCHEMAS,
    cloud_event,
)

T0 = 1_795_600_800.0
P0 = Partition("rollout.events", 0)
STEPS = {
    "SchemaV2_Ready": SCHEMA,
    "UserServiceV2_Running": SERVICE,
    "MessagingService_Reconfigured": MESSAGING,
    "Rollback_Initiated": {"reason": "errors", "initiated_by": "oncall"},
    "Rollback_Complete": {"restored_version": "1.9"},
}


TRACEPARENTS = (
    None,
    None,
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # invalid: ignored, counted
)


@st.composite
def logs(draw: st.DrawFn) -> list[tuple[bytes, float | None]]:
    """Lines of a few rollouts (windows of 2s): on time, late, out of order, repeated,
    rolled back, untimed, malformed; with the event time of each (None when untimed)."""
    lines: list[tuple[bytes, float | None]] = []
    clock = T0
    for number in range(draw(st.integers(min_value=1, max_value=30))):
        # The first line has a time: a log that starts untimed puts replay's clock on the
        # wall clock, which no live run shares (docs/reference.md, "The clock").
        kinds = ("event", "event", "event", "untimed", "malformed") if number else ("event",)
        kind = draw(st.sampled_from(kinds))
        if kind == "malformed":
            lines.append((b"{not json", None))
            continue
        clock += draw(st.sampled_from((0.0, 0.5, 1.0, 1.5, 3.0)))
        at = clock - draw(st.sampled_from((0.0, 0.0, 1.0, 4.0)))  # sometimes late on the bus
        event_type = draw(st.sampled_from(sorted(STEPS)))
        rollout = draw(st.sampled_from(("r1", "r2", "r3")))
        event_id = draw(st.sampled_from((f"e{number}", f"e{number}", "again")))
        line = cloud_event(event_type, rollout, event_id, at=at, **STEPS[event_type])
        # Trace context (valid, invalid or none) rides along: ids must agree too.
        traceparent = draw(st.sampled_from(TRACEPARENTS))
        if traceparent is not None:
            line = line[:-1] + b',"traceparent":"' + traceparent.encode() + b'"}'
        if kind == "untimed":
            line = line.replace(b'"time":', b'"_time":')
            lines.append((line, None))
        else:
            lines.append((line, at))
    return lines


def clock_trace(lines: list[tuple[bytes, float | None]]) -> list[float]:
    """Replay's clock as each line is read: the largest event time so far, or the wall clock
    (T0 here) for a line read before any timed one (contract section 4)."""
    trace: list[float] = []
    clock: float | None = None
    for _, at in lines:
        if at is None:
            clock = clock if clock is not None else T0
        else:
            clock = at if clock is None else max(clock, at)
        trace.append(clock)
    return trace


def live_batches(trace: list[float], cuts: list[int]) -> list[tuple[int, int]]:
    """(start, end) batches at the cuts and wherever the clock moves: a live batch is read on
    one reading of the wall clock."""
    bounds = {0, len(trace)} | {cut for cut in cuts if 0 < cut < len(trace)}
    bounds |= {i for i in range(1, len(trace)) if trace[i] != trace[i - 1]}
    ordered = sorted(bounds)
    return list(itertools.pairwise(ordered))


async def live(
    folder: Path, lines: list[tuple[bytes, float | None]], cuts: list[int], rebalance: int
) -> list[dict[str, object]]:
    source, clock = FakeSource([P0]), Clock(T0)
    watcher, findings = fake_watcher(folder, SHIPPED_SCHEMAS, source, clock)
    await watcher.open()
    trace = clock_trace(lines)
    for number, (start, end) in enumerate(live_batches(trace, cuts)):
        if number == rebalance:
            await source.assign([P0])  # handed over and back: state goes through the store
        for line, _ in lines[start:end]:
            source.append(P0, line)
        clock.now = trace[start]
        await watcher.step()
    clock.now = trace[-1] + 60  # `--until`: every window has passed
    await watcher.step()
    await watcher.close()
    return findings.items


def replayed(folder: Path, lines: list[tuple[bytes, float | None]]) -> list[dict[str, object]]:
    engine = Engine(load_expectations([folder]).expectations, SchemaRegistry.load(SHIPPED_SCHEMAS))
    until = clock_trace(lines)[-1] + 60
    found = replay_lines([line for line, _ in lines], engine, lambda: T0, until=until, batch=7)
    return [finding.to_json_dict() for finding in found]


@pytest.mark.slow  # the property, many examples: `make test` runs it, not `make unit`
@settings(max_examples=60, deadline=None)
@given(
    lines=logs(),
    cuts=st.lists(st.integers(min_value=1, max_value=30), max_size=6),
    rebalance=st.integers(min_value=-1, max_value=8),
)
def test_live_and_replay_raise_the_same_findings_on_the_same_clock_trace(
    lines: list[tuple[bytes, float | None]], cuts: list[int], rebalance: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        (folder / "fast.yaml").write_text(FAST_EXPECTATION)
        expected = replayed(folder, lines)
        observed = asyncio.run(live(folder, lines, cuts, rebalance))
    strip = ("event_source",)  # where a malformed record was read: a line, or an offset
    assert _in_clock_order(observed, strip) == _in_clock_order(expected, strip)


def _in_clock_order(
    findings: list[dict[str, object]], strip: tuple[str, ...]
) -> list[dict[str, object]]:
    """The findings by clock reading, and by content within one reading: the order inside one
    may differ. A handover forgets what event time the partition had shown (its watermark,
    contract section 4), so a deadline that replay fires at once may wait for a later record
    of the same live batch, which is read on the same clock reading."""
    kept = [_without(finding, strip) for finding in findings]
    return sorted(
        kept,
        key=lambda f: (parse_rfc3339(str(f["at"])), orjson.dumps(f, option=orjson.OPT_SORT_KEYS)),
    )


def _without(finding: dict[str, object], keys: tuple[str, ...]) -> dict[str, object]:
    kept = {key: value for key, value in finding.items() if key not in keys}
    if finding["kind"] == "malformed":
        kept.pop("id")  # computed from event_source
    return kept
