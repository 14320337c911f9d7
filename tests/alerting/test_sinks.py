"""A sink is one record in one place: every sink of SINKS is read from the documented config,
routed, planned and delivered by its own transport, and a sink added to SINKS (here a test-only
one) goes through the real config, router, alerter, outbox and sender with nothing else."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from sentinel.alerting import sinks
from sentinel.alerting.alerter import Alerter
from sentinel.alerting.grouper import Context, EventGroup, Plan, RolloutGroup
from sentinel.alerting.router import route
from sentinel.alerting.settings import AlertingSettings
from sentinel.alerting.settings_parser import parse_alerting
from sentinel.alerting.sinks import SINKS, sink_of
from sentinel.alerting.sinks.base import Sink
from sentinel.configkit import Section
from sentinel.core.engine.findings import Finding
from sentinel.core.errors import ConfigError
from sentinel.core.ports.outbox import (
    NOISE_PRIORITY,
    ROLLOUT_PRIORITY,
    Item,
    Outbox,
    Thread,
    item_key,
)
from sentinel.store.sqlite_outbox import SqliteOutbox

from .helpers import (
    OWNER,
    T0,
    documented_settings,
    eventually,
    schema_violation,
    sending,
    settle,
    stall,
    view,
    views_of,
)

ALERTING = Path(__file__).resolve().parents[2] / "sentinel" / "alerting"
NOW = T0 + 600.0


@pytest.mark.parametrize("sink", SINKS, ids=lambda sink: sink.key)
async def test_each_sink_is_read_from_the_docs_routed_planned_and_has_a_transport(
    sink: Sink[Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    documented = documented_settings(monkeypatch, tmp_path)
    [configured] = [target for target in documented.sinks if sink_of(target) is sink]
    assert isinstance(configured, sink.settings)
    assert configured.name == sink.name
    # Only this sink, and none of the example's silences: the stall is the example's own.
    settings = replace(documented, sinks=(configured,), silences=(), silences_file=None)
    outbox = SqliteOutbox(":memory:")
    alerter = Alerter(settings, outbox)
    alerter.accept([stall(), schema_violation("e1")], views_of(view()), NOW)
    alerter.flush_due(NOW)
    if sink.human:  # held for the grouping window, so that a burst is one message
        assert outbox.lanes(sink.name) == {}
        alerter.flush_due(NOW + settings.window)
    due = NOW + settings.window
    items = [
        item
        for lane in outbox.lanes(sink.name)
        for item in outbox.take_due(sink.name, lane, due, 10)
    ]
    # The stall's delivery goes ahead of the one about the event-level finding.
    assert sorted(item.priority for item in items) == [ROLLOUT_PRIORITY, NOISE_PRIORITY]
    assert {item.sink for item in items} == {sink.name}
    assert set(alerter.status()) == {sink.name}
    transport = sink.transport(configured)
    assert transport.name == sink.name
    await transport.aclose()


def test_the_sinks_people_read_are_the_chats() -> None:
    assert {sink.name for sink in SINKS if sink.human} == {"slack", "slack_webhook", "teams"}


def test_every_sink_module_exports_its_record_and_names_are_unique() -> None:
    exported = [
        module.SINK
        for info in pkgutil.iter_modules(sinks.__path__)
        for module in (importlib.import_module(f"{sinks.__name__}.{info.name}"),)
        if hasattr(module, "SINK")
    ]
    assert sorted(sink.name for sink in exported) == sorted(sink.name for sink in SINKS)
    assert all(any(sink is listed for listed in SINKS) for sink in exported)
    for field in ("name", "key", "settings"):
        values = [getattr(sink, field) for sink in SINKS]
        assert len(set(values)) == len(values), field


def test_nothing_outside_the_sinks_names_a_sink() -> None:
    """What the router used to hard-code (`sink in {"slack", "slack_webhook"}`) is a sink's
    record now: no other module of the alerting may name one."""
    names = {sink.name for sink in SINKS} | {sink.key for sink in SINKS}
    for path in sorted(ALERTING.glob("*.py")):
        literals = {
            node.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        assert not literals & names, f"{path.name} names {sorted(literals & names)}"


# A sink that exists only here: its settings, the parser of its section, its plan and its
# transport, and one line added to SINKS (the `pager` fixture). Nothing else is told about it.


@dataclass(frozen=True, slots=True)
class PagerSettings:
    routing_key: str
    name: str = "pager"


def parse_pager(section: Section, name: str) -> PagerSettings:
    settings = PagerSettings(routing_key=section.string("routing_key"), name=name)
    section.done()
    return settings


def plan_pages(
    rollouts: Sequence[RolloutGroup],
    events: Sequence[EventGroup],
    threads: Mapping[str, Thread],
    ctx: Context,
) -> Plan:
    """A page per rollout group in its lane, one per digest."""
    result = Plan()
    for rollout in rollouts:
        result.items.append(_page(rollout.findings, rollout.destination, ctx))
    for group in events:
        result.items.append(_page(group.findings, group.destination, ctx))
    return result


def _page(findings: Sequence[Finding], lane: str, ctx: Context) -> Item:
    return Item(
        key=item_key(findings, ctx.sink, "page"),
        sink=ctx.sink,
        payload={"kinds": [str(finding.kind) for finding in findings]},
        enqueued_at=ctx.now,
        next_at=ctx.now,
        lane=lane,
    )


class PagerTransport:
    refresh_interval: float | None = None

    def __init__(self, settings: PagerSettings, pages: list[tuple[str, str, Item]]) -> None:
        self.name = settings.name
        self._key = settings.routing_key
        self._pages = pages

    async def deliver(self, item: Item, outbox: Outbox, now: float) -> None:
        self._pages.append((self._key, item.lane, item))

    async def refresh(self, outbox: Outbox, now: float) -> None:
        pass

    async def aclose(self) -> None:
        pass


@pytest.fixture
def pages(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, Item]]]:
    """The pager sink added to SINKS; the pages its transport delivered."""
    delivered: list[tuple[str, str, Item]] = []
    pager = Sink(
        name="pager",
        settings=PagerSettings,
        parse=parse_pager,
        plan=plan_pages,
        transport=lambda settings: PagerTransport(settings, delivered),
        human=True,
        destination=lambda settings, finding: finding.owner or "nobody",
    )
    monkeypatch.setattr(sinks, "SINKS", (*SINKS, pager))
    yield delivered


def read(text: str) -> AlertingSettings:
    return parse_alerting(Section(yaml.safe_load(text), "alerting", "config"))


@pytest.mark.usefixtures("pages")
def test_a_new_sink_is_read_from_its_section_with_the_same_errors() -> None:
    settings = read("pager: {routing_key: abc}\nwebhooks: [{url: 'http://x'}]")
    assert settings.sink_names == ("webhook", "pager")  # in the order of SINKS
    for text, message in [
        ("pager: {routing_kye: abc}", "alerting.pager.routing_key: is required"),
        (
            "pager: {routing_key: abc, routing_kye: abc}",
            "alerting.pager.routing_kye: unknown key (did you mean 'routing_key'?)",
        ),
        ("pagr: {routing_key: abc}", "alerting.pagr: unknown key (did you mean 'pager'?)"),
        (
            "webhooks: [{url: 'http://x', name: pager}]",
            "alerting.webhooks[0].name: 'pager' is already the name of another sink",
        ),
    ]:
        with pytest.raises(ConfigError) as caught:
            read(text)
        assert str(caught.value) == f"config: {message}"


def test_the_settings_of_a_sink_missing_from_sinks_are_refused_not_ignored() -> None:
    settings = AlertingSettings(sinks=(PagerSettings("abc"),))
    with pytest.raises(LookupError, match="PagerSettings is the settings of no sink in SINKS"):
        route([stall()], settings, (), NOW)


async def test_a_new_sink_goes_through_the_alerter_outbox_and_sender(
    pages: list[tuple[str, str, Item]],
) -> None:
    settings = replace(read("pager: {routing_key: abc}"), window=0.2)
    [routed] = route([stall()], settings, (), NOW).routed
    assert (routed.sink, routed.destination, routed.window) == ("pager", OWNER, 0.2)
    alerter = Alerter(settings, SqliteOutbox(":memory:"))
    async with sending(alerter):
        alerter.accept([stall(), schema_violation("e1")], views_of(view()), time.time())
        await eventually(lambda: len(pages) == 2)
        await settle(0.3)
        status = alerter.status()
    assert sorted((key, lane, item.payload["kinds"]) for key, lane, item in pages) == [
        ("abc", "nobody", ["schema_violation"]),  # a digest: the lane of its destination
        ("abc", OWNER, ["stall"]),
    ]
    assert status["pager"]["ok"] is True
    assert (status["pager"]["pending"], status["pager"]["failed"]) == (0, 0)
