"""How the audit report says an on-call action (contract section 14), from the API's JSON of
one: who did what, from where, until when, and what they wrote."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def action_line(action: Mapping[str, Any]) -> str:
    """`acknowledged by ana via slack`, `snoozed by bo via board until 2026-...: why`: one
    action as the audit says it (its time stands beside it)."""
    done = {"acknowledge": "acknowledged", "snooze": "snoozed", "note": "noted"}
    verb = str(action.get("verb"))
    line = f"{done.get(verb, verb + 'ed')} by {action.get('by')} via {action.get('via')}"
    if action.get("until"):
        line += f" until {action['until']}"
    return f"{line}: {action['note']}" if action.get("note") else line
