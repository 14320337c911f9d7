"""What reaches a terminal is shown, never obeyed (issue 22): rollout keys, event types and
reasons come from the bus, so `sentinel replay --format text` and the demo's readable lines show
escape sequences, fake newlines and bidirectional overrides as visible escapes."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from sentinel.commands.demo_command import _ReadableFindings
from sentinel.core.engine.findings import Finding, Kind
from sentinel.status.timeline import printable

ROOT = Path(__file__).resolve().parents[2]
EXPECTATIONS = ROOT / "expectations"
HOSTILE = (
    "\x1b[2J\x1b]8;;http://x\x07click\x1b]8;;\x07\r\nFAKE 00:00 COMPLETED\u202egnp.exe\x7f\x9b"
)
# What a terminal would act on: C0 but newline, DEL, C1, line separators, bidi controls.
OBEYED = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def test_control_characters_are_shown_as_their_escapes() -> None:
    assert printable("r-1\x1b[2J\x07") == "r-1\\x1b[2J\\x07"
    assert printable("a\nb\r\tc") == "a\\nb\\r\\tc"
    assert printable("\x7f\x9b\u202e\u2066\u2028") == "\\x7f\\x9b\\u202e\\u2066\\u2028"
    assert printable("plain r-1002 é ✓ 🔴") == "plain r-1002 é ✓ 🔴"


def test_replay_text_shows_a_hostile_key_and_type_without_obeying_them() -> None:
    events = [
        {"type": "SchemaV2_Ready", "data": {"schema_version": "2", "migration_id": "m"}},
        {"type": "Rollback_Initiated" + HOSTILE, "data": {}},
    ]
    log = "\n".join(
        json.dumps({"specversion": "1.0", "source": "/t", "id": f"e{n}",
                    "time": f"2026-11-25T10:0{n}:00Z", **item,
                    "data": {"rollout_id": HOSTILE, **item["data"]}})
        for n, item in enumerate(events)
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "sentinel", "replay", "--format", "text",
         "--expectations", str(EXPECTATIONS / "user-service-v2.yaml"),
         "--schemas", str(EXPECTATIONS / "schemas"), "--until", "2026-11-25T11:00:00Z", "-"],
        capture_output=True, text=True, input=log, timeout=60, check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    assert OBEYED.search(result.stdout) is None, repr(result.stdout)
    assert not any(line.startswith("FAKE") for line in result.stdout.splitlines())
    assert "\\x1b[2J\\x1b]8;;http://x\\x07click" in result.stdout  # still tells what came
    assert "\\r\\nFAKE 00:00 COMPLETED\\u202egnp.exe" in result.stdout


@pytest.mark.parametrize("kind", [Kind.STALL, Kind.MALFORMED, Kind.SCHEMA_VIOLATION])
def test_the_demos_readable_lines_show_a_hostile_finding_without_obeying_it(kind: Kind) -> None:
    finding = Finding(
        kind=kind,
        at=1_795_600_800.0,
        expectation="user-service-v2",
        rollout=HOSTILE,
        step="Step" + HOSTILE,
        owner="team" + HOSTILE,
        event_type="Type" + HOSTILE,
        deadline=1_795_601_400.0,
        errors=("bad" + HOSTILE,) if kind == Kind.SCHEMA_VIOLATION else None,
        reason="why" + HOSTILE,
    )
    out = io.StringIO()
    _ReadableFindings(out).write(orjson.dumps(finding.to_json_dict()).decode() + "\n")
    shown = out.getvalue()
    assert OBEYED.search(shown) is None, repr(shown)
    assert shown.count("\n") == 1  # one finding, one line
    assert "\\x1b[2J" in shown
