"""The audit report as CSV for a spreadsheet: one row per step of each rollout, then one per
on-call action on it (its `action` column filled, the step's empty), a header row.
Cells that a spreadsheet would run as a formula are defused (OWASP's CSV injection advice)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

COLUMNS = (
    "expectation",
    "rollout",
    "phase",
    "opened_at",
    "closed_at",
    "duration_s",
    "step",
    "state",
    "due",
    "seen_at",
    "event_id",
    "source",
    "owner",
    "stalled",
    # An on-call action's row (contract section 14): what, who, from where, until, the note;
    # `seen_at` is when it was taken.
    "action",
    "by",
    "via",
    "until",
    "note",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def render(report: Mapping[str, Any]) -> str:
    """The rows, `\\r\\n`-terminated as RFC 4180 says."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for entry in report["rollouts"]:
        stalled = {f["step"] for f in entry["findings"] if f["kind"] == "stall"}
        for step in entry["steps"]:
            row = (
                entry["expectation"],
                entry["rollout"],
                entry["phase"],
                entry["opened_at"],
                entry["closed_at"],
                entry["duration_s"],
                step["step"],
                step["state"],
                step["due"],
                step["seen_at"],
                step.get("event_id"),
                step.get("source"),
                step["owner"],
                "yes" if step["step"] in stalled or step.get("stalled") else "no",
                None,
                None,
                None,
                None,
                None,
            )
            writer.writerow([cell(value) for value in row])
        for action in entry.get("actions") or ():
            acted = (
                *(entry[name] for name in COLUMNS[:6]),
                *(None,) * 3,
                action["at"],
                *(None,) * 4,
                action["verb"],
                action["by"],
                action["via"],
                action["until"],
                action["note"],
            )
            writer.writerow([cell(value) for value in acted])
    return out.getvalue()


def cell(value: object) -> str:
    """A value as a cell; text that starts like a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
