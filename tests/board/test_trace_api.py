"""Trace ids and links on the real server (contract section 13): the full rollout's `trace_id`
and each seen step's producer context; with `tracing.trace_url`, the links of the rollouts
listed (open and from the history), of the full rollout, its steps and findings, and of the
summaries and findings the stream carries; without it, no link anywhere."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from engine.helpers import MIN, T0, event

from sentinel.core.engine.tracing import (
    TraceOptions,
    finding_span_id,
    root_span_id,
    step_span_id,
    trace_id_of,
)
from sentinel.core.events.envelope import Envelope

from .conftest import NAME, StartSentinel
from .server import Sentinel, get
from .test_stream import next_event

TEMPLATE = (
    "https://tempo.example/trace/{trace_id}?span={span_id}&step={step}&from={start_ms}&to={end_ms}"
)
CREATED = "00-" + "a1" * 16 + "-" + "b2" * 8 + "-01"
HOP = "00-" + "c3" * 16 + "-" + "d4" * 8 + "-01"


def link(url: str) -> tuple[str, dict[str, str]]:
    """(trace id in the path, the query) of a link made from TEMPLATE."""
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return parts.path.removeprefix("/trace/"), query


def traced(event_type: str, at: float, rollout: str, **context: str) -> Envelope:
    """An event with trace context: `traceparent` (the producer's, a CloudEvents attribute)
    and/or `hop` (the record's W3C header)."""
    plain = event(event_type, at, rollout)
    attributes = {"traceparent": context["traceparent"]} if "traceparent" in context else {}
    return Envelope(
        plain.type, plain.id, plain.source, at, plain.data, attributes, hop=context.get("hop")
    )


async def started(start: StartSentinel, template: str | None = TEMPLATE) -> Sentinel:
    """`traced` opened at T0 with a creation context, UserServiceV2_Running seen at T0+1m with
    only a hop; `plain` opened at T0 stalls at T0+10m; `done` completed at T0+3m."""
    sentinel = await start(tracing=TraceOptions(url=template))
    sentinel.events(
        [
            traced("SchemaV2_Ready", T0, "traced", traceparent=CREATED),
            traced("UserServiceV2_Running", T0 + MIN, "traced", hop=HOP),
            event("SchemaV2_Ready", T0, "plain"),
            event("SchemaV2_Ready", T0, "done"),
            event("UserServiceV2_Running", T0 + MIN, "done"),
            event("MessagingService_Reconfigured", T0 + 3 * MIN, "done"),
        ],
        T0 + 3 * MIN,
    )
    sentinel.advance(T0 + 12 * MIN)
    return sentinel


async def test_listed_rollouts_link_their_traces_root_span_open_ones_up_to_now(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await started(start_sentinel)
    status, body, _ = await get(sentinel.url, "/api/v1/rollouts", phase="all")
    assert status == 200
    rows = {row["rollout"]: row for row in body["rollouts"]}
    assert set(rows) == {"traced", "plain", "done"}
    for key, row in rows.items():
        trace, query = link(row["trace_url"])
        assert trace == trace_id_of(NAME, key, T0)
        assert query["span"] == root_span_id(trace)
        assert "step" not in query  # empty on a rollout's link
        assert int(query["from"]) == T0 * 1000
    ends = {key: int(link(row["trace_url"])[1]["to"]) for key, row in rows.items()}
    # Open ones up to the sentinel's clock; the closed one (from the history) at its closing.
    assert ends == {"traced": (T0 + 12 * MIN) * 1000, "plain": (T0 + 12 * MIN) * 1000,
                    "done": (T0 + 3 * MIN) * 1000}  # fmt: skip


async def test_the_full_rollout_names_its_trace_its_producers_and_links_steps_and_findings(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await started(start_sentinel)
    status, body, _ = await get(sentinel.url, f"/api/v1/rollouts/{NAME}/traced")
    assert status == 200
    trace = trace_id_of(NAME, "traced", T0)
    assert body["trace_id"] == trace
    assert link(body["trace_url"])[0] == trace
    assert link(body["trace_url"])[1]["span"] == root_span_id(trace)
    steps = {step["step"]: step for step in body["steps"]}
    assert steps["SchemaV2_Ready"]["traceparent"] == CREATED
    assert steps["UserServiceV2_Running"]["traceparent"] == HOP  # no creation context: the hop
    assert steps["MessagingService_Reconfigured"]["traceparent"] is None  # not seen
    for name, step in steps.items():
        assert link(step["trace_url"])[1]["span"] == step_span_id(trace, name)
        assert link(step["trace_url"])[1]["step"] == name

    _, plain, _ = await get(sentinel.url, f"/api/v1/rollouts/{NAME}/plain")
    [stall] = plain["findings"]
    assert stall["kind"] == "stall"
    assert stall["trace_id"] == plain["trace_id"]
    found = link(stall["trace_url"])
    assert found[0] == plain["trace_id"]
    assert found[1]["span"] == stall["span_id"] == finding_span_id(stall["id"])
    assert found[1]["step"] == "UserServiceV2_Running"


async def test_the_stream_carries_linked_findings_and_summaries(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await started(start_sentinel)
    async with (
        aiohttp.ClientSession() as session,
        session.get(sentinel.url + "/api/v1/stream") as stream,
    ):
        sentinel.events([event("SchemaV2_Ready", T0 + 12 * MIN, "late")], T0 + 12 * MIN)
        name, summary = await next_event(stream)
        sentinel.advance(T0 + 23 * MIN)  # its next step was due at T0+22m
        kind, finding = await next_event(stream)
    assert (name, summary["rollout"]) == ("rollout", "late")
    trace = trace_id_of(NAME, "late", T0 + 12 * MIN)
    assert link(summary["trace_url"])[0] == trace
    assert (kind, finding["kind"], finding["rollout"]) == ("finding", "stall", "late")
    assert link(finding["trace_url"])[0] == trace
    _, listed, _ = await get(sentinel.url, "/api/v1/findings")
    assert [row["trace_url"] for row in listed["findings"] if row["rollout"] == "late"] == [
        finding["trace_url"]
    ]


async def test_without_a_template_the_ids_are_there_and_nothing_links(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await started(start_sentinel, template=None)
    _, listed, _ = await get(sentinel.url, "/api/v1/rollouts", phase="all")
    _, body, _ = await get(sentinel.url, f"/api/v1/rollouts/{NAME}/plain")
    _, findings, _ = await get(sentinel.url, "/api/v1/findings")
    assert body["trace_id"] == trace_id_of(NAME, "plain", T0)
    parts: list[dict[str, Any]] = [
        *listed["rollouts"],
        body,
        *body["steps"],
        *body["findings"],
        *findings["findings"],
    ]
    assert all("trace_url" not in part for part in parts)
