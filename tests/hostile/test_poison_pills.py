"""Records any producer on the bus can write, sent through the real broker to a running
`sentinel run`: each is a `malformed` finding naming where it was read, the good rollout after
them completes, the process keeps running, and its board and API keep answering."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from board.test_peers import free_ports
from runtime.watcher_support import (
    MESSAGING,
    SCHEMA,
    SERVICE,
    Process,
    cloud_event,
    make_config,
    wait_for,
)

from sentinel.kafka.broker import EmbeddedBroker

from .producer import send_raw_headers

pytestmark = pytest.mark.broker

NOW = "2026-11-25T10:00:00Z"


# What each hostile record is, and a word its `malformed` reason must contain.
HOSTILE: list[tuple[str, bytes, list[tuple[str, bytes]], str]] = [
    (
        "a lone surrogate escape in the type",
        f'{{"specversion":"1.0","id":"h1","source":"/x","type":"\\ud800","time":"{NOW}"}}'.encode(),
        [],
        "surrogate",
    ),
    (
        "a lone surrogate escape in the rollout key",
        (
            '{"specversion":"1.0","id":"h2","source":"/x","type":"SchemaV2_Ready",'
            f'"time":"{NOW}","data":{{"rollout_id":"\\udfff","schema_version":"2",'
            '"migration_id":"m"}}'
        ).encode(),
        [],
        "surrogate",
    ),
    (
        "a ce_type header that is not UTF-8",
        b"{}",
        [("ce_specversion", b"1.0"), ("ce_id", b"h5"), ("ce_type", b"\xff\xfe")],
        "not UTF-8",
    ),
    ("JSON nested deeper than any parser goes", b"[" * 100_000 + b"]" * 100_000, [], "JSON"),
]


def timed(event_type: str, rollout: str, event_id: str, time: str, **data: Any) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0", "id": event_id, "source": "/x", "type": event_type,
            "time": time, "data": {"rollout_id": rollout, **data},
        }
    ).encode()  # fmt: skip


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("state", ["memory", "sqlite"])
async def test_no_record_stops_the_sentinel_and_the_good_rollout_after_them_completes(
    state: str, broker: EmbeddedBroker, topic_factory: Any, produce: Any, tmp_path: Path,
    processes: list[Process],
) -> None:  # fmt: skip
    topic = await topic_factory()
    [port] = free_ports(1)
    config = make_config(
        tmp_path, broker, topic, http=f"  listen: 127.0.0.1:{port}\n",
        state_path=tmp_path / "state.db" if state == "sqlite" else None,
    )  # fmt: skip
    process = Process(config.source, tmp_path, "sentinel")
    processes.append(process)
    await process.wait_ready()
    offsets: dict[int, str] = {}
    bad_name = await send_raw_headers(
        broker.bootstrap_servers, topic, b"{}", [(b"ce_\xff\xfe", b"x")], partition=0
    )
    offsets[bad_name] = "cannot read this record"
    for _, value, headers, word in HOSTILE[:2]:
        _, offset = await produce(topic, value, headers=headers)
        offsets[offset] = word
    for time in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z"):
        event = timed("SchemaV2_Ready", f"t{len(offsets)}", f"t{len(offsets)}", time, **SCHEMA)
        _, offset = await produce(topic, event)
        offsets[offset] = "outside"
    for _, value, headers, word in HOSTILE[2:]:
        _, offset = await produce(topic, value, headers=headers)
        offsets[offset] = word
    for event_type, number, data in (
        ("SchemaV2_Ready", 1, SCHEMA),
        ("UserServiceV2_Running", 2, SERVICE),
        ("MessagingService_Reconfigured", 3, MESSAGING),
    ):
        await produce(topic, cloud_event(event_type, "good", f"good-{number}", **data))
    await wait_for(lambda: "completed" in process.kinds(), 30, "the good rollout to complete")
    assert process.popen.poll() is None, "still running"
    malformed = {
        int(f["event_source"].rpartition("@")[2]): f["reason"]
        for f in process.findings()
        if f["kind"] == "malformed"
    }
    assert sorted(malformed) == sorted(offsets), process.findings()
    for offset, word in offsets.items():
        assert word in malformed[offset], (offset, malformed[offset])
    for finding in process.findings():
        assert finding["event_source"] is None or finding["event_source"].startswith(f"{topic}/0@")
    for path in ("/", "/api/v1/rollouts?phase=all", "/api/v1/findings", "/readyz", "/metrics"):
        status, _ = await asyncio.to_thread(get, f"http://127.0.0.1:{port}{path}")
        assert status == 200, path
    assert "Traceback" not in process.err.read_text()


def test_replay_reports_the_same_lines_as_malformed_and_exits_1(tmp_path: Path) -> None:
    log = tmp_path / "bus.jsonl"
    good = [
        cloud_event("SchemaV2_Ready", "good", "g1", **SCHEMA),
        cloud_event("UserServiceV2_Running", "good", "g2", **SERVICE),
    ]
    lines = [value for _, value, headers, _ in HOSTILE if not headers] + [
        timed("SchemaV2_Ready", "t", "t1", "9999-12-31T23:59:59Z", **SCHEMA),
        *good,
    ]
    log.write_bytes(b"\n".join(lines) + b"\n")
    expectations = Path(__file__).resolve().parents[2] / "expectations"
    result = subprocess.run(
        [
            sys.executable, "-m", "sentinel", "replay", "--expectations", str(expectations),
            "--schemas", str(expectations / "schemas"), str(log),
        ],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    findings = [json.loads(line) for line in result.stdout.splitlines()]
    malformed = [f for f in findings if f["kind"] == "malformed"]
    assert len(malformed) == len(lines) - len(good)
    assert b"Traceback" not in result.stderr
