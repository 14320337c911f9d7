"""The audit report lists what on-call did about each rollout (contract section 14): who,
when, what, from where, until when and the note, in each of its formats."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from engine.helpers import MIN, T0, event, user_service
from pipeline.helpers import record

from sentinel.commands.main import read_history
from sentinel.core.engine.acting import act
from sentinel.core.engine.actions import Requested, make_action
from sentinel.core.engine.engine import Engine
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.status.api_json import full
from sentinel.status.period import Period
from sentinel.status.report import build_report, render_report
from sentinel.store.sqlite import SqliteStore

NAME = "user-service-v2"


def abandoned_rollout() -> dict:  # type: ignore[type-arg]
    """A rollout acknowledged from Slack, snoozed and then abandoned from the board."""
    engine = Engine([user_service()])
    engine.apply(event("SchemaV2_Ready", T0, "r1"), T0)
    findings = engine.advance(T0 + 11 * MIN)
    act(engine, NAME, "r1", make_action("acknowledge", "ana", T0 + 12 * MIN, "slack"))
    snooze = make_action("snooze", "bo", T0 + 13 * MIN, "board", snooze_s=3600.0)
    act(engine, NAME, "r1", snooze)
    why = make_action("abandon", "bo", T0 + 14 * MIN, "board", note="bad image, | *rebuilt*")
    findings += act(engine, NAME, "r1", why)
    view = engine.view(NAME, "r1")
    assert view is not None
    return full(view, findings)


def test_every_format_lists_who_did_what_and_when() -> None:
    report = build_report([abandoned_rollout()], Period())
    assert [a["verb"] for a in report["rollouts"][0]["actions"]] == [
        "acknowledge",
        "snooze",
        "abandon",
    ]
    assert report["expectations"][0]["abandoned"] == 1
    md = render_report(report, "md")
    assert "- 2026-11-25T10:12:00Z acknowledged by ana via slack" in md
    assert "snoozed by bo via board until 2026-11-25T11:13:00Z" in md
    assert "abandoned by bo via board: bad image, \\| \\*rebuilt\\*" in md
    html = render_report(report, "html")
    assert "abandoned by bo via board: bad image, | *rebuilt*" in html
    rows = list(csv.DictReader(io.StringIO(render_report(report, "csv"))))
    acted = [row for row in rows if row["action"]]
    assert [(r["action"], r["by"], r["via"], r["seen_at"]) for r in acted] == [
        ("acknowledge", "ana", "slack", "2026-11-25T10:12:00Z"),
        ("snooze", "bo", "board", "2026-11-25T10:13:00Z"),
        ("abandon", "bo", "board", "2026-11-25T10:14:00Z"),
    ]
    assert acted[1]["until"] == "2026-11-25T11:13:00Z"
    assert all(row["step"] == "" for row in acted)
    assert all(row["action"] == "" for row in rows if row["step"])


def test_the_report_of_a_state_file_lists_the_actions_its_history_kept(tmp_path: Path) -> None:
    """`sentinel report --state`: the history of a SQLite file, written by the pipeline."""
    store = SqliteStore(tmp_path / "state.db")
    sentinel = Pipeline(Engine([user_service()]), store, BusDecoder())
    sentinel.restore()
    sentinel.process([record(event("SchemaV2_Ready", T0, "r1"), 0)], WallClock(T0 + MIN))
    why = make_action("abandon", "ana", T0 + 2 * MIN, "board", note="called off")
    sentinel.process([], WallClock(T0 + 2 * MIN), actions=[Requested(NAME, "r1", why)])
    store.close()
    report = build_report(read_history(tmp_path / "state.db"), Period())
    [entry] = report["rollouts"]
    assert (entry["phase"], [a["by"] for a in entry["actions"]]) == ("abandoned", ["ana"])
    assert "abandoned by ana via board: called off" in render_report(report, "md")
