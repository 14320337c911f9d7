"""Writer and reader schemas in the pipeline (contract section 10), with a registry in memory:
what is checked against which, what a change of schema says, and what waits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.helpers import MIN, T0, event, kinds, user_service

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.writer_schemas import Need, Writer
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.envelope import Envelope
from sentinel.core.events.framing import IdKind, SchemaRef
from sentinel.core.events.records import Partition, Record
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore

from .helpers import P0, P1, as_bytes

SHIPPED_SCHEMAS = SchemaRegistry.load(Path(__file__).resolve().parents[2] / "expectations/schemas")
SCHEMA = {"rollout_id": "r1", "schema_version": "2", "migration_id": "m-1"}
RENAMED = {"rollout_id": "r1", "version": "2.0.0", "replica_count": 3}  # `replicas` renamed


def requires(field: str) -> Any:
    """A writer schema's check: the written value's data must have `field`."""

    def check(value: Any) -> list[str]:
        data = value.get("data", value) if isinstance(value, dict) else None
        return [] if isinstance(data, dict) and field in data else [f'/: "{field}" is required']

    return check


class Registry:
    """A WriterLookup in memory: schemas by id; `asked` counts what the pipeline needed."""

    def __init__(self, schemas: dict[int, Writer]) -> None:
        self.schemas = schemas
        self.asked: list[Need] = []

    def writer(self, item: Envelope, topic: str) -> Writer | Need | None:
        ref = item.schema_ref
        if ref is None:
            return None
        if ref.value not in self.schemas:
            return Need(ref=ref)
        return self.schemas[ref.value]


def framed(
    event_type: str, data: dict[str, Any], schema_id: int, offset: int, at: float = T0
) -> Record:
    """A record as a Confluent serializer frames it: 0x00, a 4-byte id, then the JSON."""
    item = event(event_type, at, str(data.get("rollout_id")), **data)
    value = b"\x00" + schema_id.to_bytes(4, "big") + as_bytes(item)
    return Record(P0, offset, value)


def pipeline(registry: Registry) -> Pipeline:
    engine = Engine([user_service()], SHIPPED_SCHEMAS)
    return Pipeline(engine, MemoryStore(), BusDecoder(registry=True), writers=registry)


V1 = Writer(1, "UserServiceV2_Running", 1, requires("replicas"))
V2 = Writer(2, "UserServiceV2_Running", 2, requires("replica_count"))
READY = Writer(7, "SchemaV2_Ready", 1, requires("migration_id"))


def test_an_event_failing_its_writer_schema_is_reported_against_it_and_advances_nothing() -> None:
    sentinel = pipeline(Registry({1: V1, 7: READY}))
    bad = {"rollout_id": "r1", "schema_version": "2"}  # no migration_id
    found = sentinel.process([framed("SchemaV2_Ready", bad, 7, 0)], WallClock(T0)).findings
    assert [(f.kind, f.against) for f in found] == [("schema_violation", "writer")]
    assert sentinel.engine.view("user-service-v2", "r1") is None


def test_a_renamed_field_passes_the_new_writer_schema_and_fails_the_reader_schema() -> None:
    sentinel = pipeline(Registry({1: V1, 2: V2, 7: READY}))
    running = {"rollout_id": "r1", "version": "2.0.0", "replicas": 3}
    records = [
        framed("SchemaV2_Ready", SCHEMA, 7, 0),
        framed("UserServiceV2_Running", {**running, "rollout_id": "r0"}, 1, 1),
        framed("UserServiceV2_Running", RENAMED, 2, 2),
        framed("UserServiceV2_Running", {**RENAMED, "rollout_id": "r2"}, 2, 3),
    ]
    found = sentinel.process(records, WallClock(T0)).findings
    changed = [f for f in found if f.kind == "schema_changed"]
    assert len(changed) == 1, "once per (type, new id)"
    assert (changed[0].schema_id, changed[0].previous_schema_id) == (2, 1)
    assert (changed[0].subject, changed[0].version, changed[0].event_source) == (
        "UserServiceV2_Running",
        2,
        "/tests",
    )
    assert changed[0].owner == "team-users"  # the owner of the step that waits for the type
    violations = [(f.against, f.rollout) for f in found if f.kind == "schema_violation"]
    assert violations == [("reader", "r1"), ("reader", "r2")]
    # To the rollout, the renamed event never arrived: its step stalls.
    later = sentinel.process([], WallClock(T0 + 11 * MIN)).findings
    assert [(f.kind, f.rollout, f.step) for f in later if f.rollout == "r1"] == [
        ("stall", "r1", "UserServiceV2_Running")
    ]


def restarted(registry: Registry, path: Path) -> Pipeline:
    """A sentinel started on the state file at `path`, as after a restart."""
    engine = Engine([user_service()], SHIPPED_SCHEMAS)
    store = SqliteStore(path)
    sentinel = Pipeline(engine, store, BusDecoder(registry=True), writers=registry)
    sentinel.restore()
    return sentinel


def changes_said(found: list[Finding]) -> list[tuple[object, object]]:
    return [(f.previous_schema_id, f.schema_id) for f in found if f.kind == "schema_changed"]


def test_a_schema_changed_while_the_sentinel_was_down_is_reported_after_its_restart(
    tmp_path: Path,
) -> None:
    registry = Registry({1: V1, 2: V2, 7: READY})
    running = {"rollout_id": "r0", "version": "2.0.0", "replicas": 3}
    first = restarted(registry, tmp_path / "state.db")
    first.process([framed("UserServiceV2_Running", running, 1, 0)], WallClock(T0))
    first.store.close()

    second = restarted(registry, tmp_path / "state.db")
    renamed = framed("UserServiceV2_Running", RENAMED, 2, 1, T0 + MIN)
    found = second.process([renamed], WallClock(T0 + MIN)).findings
    assert changes_said(found) == [(1, 2)]


def test_a_schema_change_said_before_a_restart_is_not_said_again_after_it(tmp_path: Path) -> None:
    # A rolling deploy: old and new producers write side by side, across the restart.
    registry = Registry({1: V1, 2: V2, 7: READY})
    old = {"rollout_id": "r0", "version": "2.0.0", "replicas": 3}
    first = restarted(registry, tmp_path / "state.db")
    found = first.process(
        [
            framed("UserServiceV2_Running", old, 1, 0),
            framed("UserServiceV2_Running", RENAMED, 2, 1),
        ],
        WallClock(T0),
    ).findings
    assert changes_said(found) == [(1, 2)]
    first.store.close()

    second = restarted(registry, tmp_path / "state.db")
    found = second.process(
        [
            framed("UserServiceV2_Running", old, 1, 2, T0 + MIN),
            framed("UserServiceV2_Running", RENAMED, 2, 3, T0 + MIN),
        ],
        WallClock(T0 + MIN),
    ).findings
    assert changes_said(found) == [(2, 1)], "back to 1 is new; 2 was said before the restart"


def test_a_record_naming_an_unknown_id_is_schema_not_found_and_advances_nothing() -> None:
    missing = Writer(9, None, None, None, "the registry has no schema id 9")
    sentinel = pipeline(Registry({9: missing}))
    found = sentinel.process([framed("SchemaV2_Ready", SCHEMA, 9, 0)], WallClock(T0)).findings
    assert kinds(found) == ["schema_not_found"]
    assert (found[0].schema_id, found[0].reason) == (9, "the registry has no schema id 9")
    assert sentinel.engine.view("user-service-v2", "r1") is None


def test_a_record_whose_schema_was_never_read_waits_with_the_rest_of_its_partition() -> None:
    registry = Registry({})
    sentinel = pipeline(registry)
    other = Record(P1, 0, as_bytes(event("SchemaV2_Ready", T0, **{**SCHEMA, "rollout_id": "r9"})))
    records = [
        framed("SchemaV2_Ready", SCHEMA, 7, 4),
        framed("UserServiceV2_Running", RENAMED, 2, 5),
        other,
    ]
    kept = sentinel.process(records, WallClock(T0))
    assert kept.waiting == {P0: 4}
    assert kept.needs == [Need(ref=SchemaRef(IdKind.CONFLUENT_ID, 7))]
    assert kept.offsets == {P1: 1}, "nothing of the waiting partition is committed"
    assert sentinel.engine.view("user-service-v2", "r9") is not None
    # Once the registry answered, the same records go through from where they waited.
    registry.schemas.update({7: READY, 2: V2})
    again = sentinel.process(records, WallClock(T0 + 1))
    assert again.waiting == {}
    assert again.offsets == {P0: 6}
    assert [f.against for f in again.findings if f.kind == "schema_violation"] == ["reader"]


def test_without_a_registry_a_framed_record_is_malformed_and_says_what_to_configure() -> None:
    engine = Engine([user_service()], SHIPPED_SCHEMAS)
    sentinel = Pipeline(engine, MemoryStore(), BusDecoder())
    found = sentinel.process([framed("SchemaV2_Ready", SCHEMA, 7, 0)], WallClock(T0)).findings
    assert kinds(found) == ["malformed"]
    assert "no registry is configured" in (found[0].reason or "")
    assert found[0].event_source == f"{Partition('rollout.events', 0)}@0"
