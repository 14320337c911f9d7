"""The audit report of `sentinel report` (contract section 11): per expectation, how its
rollouts went; then every rollout of the period, step by step, with its findings.

`build_report` turns full rollouts (the API's `full()` shape, from the history or from a
replayed log) into one plain dict, which is the JSON format and what each renderer reads.
Purely computational."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from sentinel.core.engine.kinds import spec_of
from sentinel.core.timefmt import format_rfc3339, parse_rfc3339
from sentinel.status import report_csv, report_html, report_md
from sentinel.status.period import Period

FORMATS = ("html", "md", "csv", "json")


def build_report(
    rollouts: Iterable[Mapping[str, Any]], period: Period, source: str = ""
) -> dict[str, Any]:
    """The report of the rollouts opened in `period`; `source` says where they came from."""
    chosen = [rollout for rollout in rollouts if period.holds(parse_rfc3339(rollout["opened_at"]))]
    chosen.sort(
        key=lambda rollout: (
            parse_rfc3339(rollout["opened_at"]),
            rollout["expectation"],
            rollout["rollout"],
        )
    )
    by_expectation: dict[str, list[Mapping[str, Any]]] = {}
    for rollout in chosen:
        by_expectation.setdefault(rollout["expectation"], []).append(rollout)
    return {
        "period": {
            "from": None if period.start is None else format_rfc3339(period.start),
            "to": None if period.end is None else format_rfc3339(period.end),
        },
        "source": source,
        "expectations": [
            _expectation_figures(name, by_expectation[name]) for name in sorted(by_expectation)
        ],
        "rollouts": [_rollout_entry(rollout) for rollout in chosen],
    }


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest rank: the smallest value that at least `share` of the values do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def duration_s(rollout: Mapping[str, Any]) -> float | None:
    """From the opening to the last step (as the closing finding says), for closed rollouts."""
    for finding in rollout["findings"]:
        spec = spec_of(finding["kind"])
        if spec is not None and spec.closes and finding["duration_s"] is not None:
            return float(finding["duration_s"])
    if rollout["closed_at"] is None:
        return None
    return parse_rfc3339(rollout["closed_at"]) - parse_rfc3339(rollout["opened_at"])


def _expectation_figures(name: str, rollouts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    phases = Counter(rollout["phase"] for rollout in rollouts)
    completed = [
        seconds
        for rollout in rollouts
        if rollout["phase"] == "completed" and (seconds := duration_s(rollout)) is not None
    ]
    stalls: Counter[str] = Counter()
    owners: dict[str, str | None] = {}
    stalled_rollouts = 0
    for rollout in rollouts:
        # A stall finding, or the step's own mark (a history may have lost old findings).
        stalled_steps = {f["step"]: f["owner"] for f in rollout["findings"] if f["kind"] == "stall"}
        for step in _all_steps(rollout):
            if step.get("stalled"):
                stalled_steps.setdefault(step["step"], step["owner"])
        stalled_rollouts += bool(stalled_steps)
        for step_name, owner in stalled_steps.items():
            if step_name:
                owners.setdefault(step_name, owner)
                stalls[step_name] += 1
    by_step = [
        {"step": step, "owner": owners.get(step), "stalls": count}
        for step, count in sorted(stalls.items(), key=lambda item: (-item[1], item[0]))
    ]
    return {
        "expectation": name,
        "owner": rollouts[0]["owner"],
        "rollouts": len(rollouts),
        "completed": phases["completed"],
        "rolled_back": phases["rolled_back"],
        "abandoned": phases["abandoned"],  # called off by a person (contract section 14)
        "stalled": stalled_rollouts,
        "open": phases["open"] + phases["rolling_back"],
        "duration_p50_s": percentile(completed, 0.50),
        "duration_p95_s": percentile(completed, 0.95),
        "durations_s": sorted(completed),
        "most_stalled_step": by_step[0] if by_step else None,
        "stalls_by_step": by_step,
    }


def _all_steps(rollout: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*rollout["steps"], *([rollout["compensation"]] if rollout["compensation"] else [])]


def _rollout_entry(rollout: Mapping[str, Any]) -> dict[str, Any]:
    steps = _all_steps(rollout)
    seen = [step for step in steps if step["seen_at"] is not None]
    seen.sort(key=lambda step: parse_rfc3339(step["seen_at"]))
    return {
        "expectation": rollout["expectation"],
        "rollout": rollout["rollout"],
        "phase": rollout["phase"],
        "owner": rollout["owner"],
        "opened_at": rollout["opened_at"],
        "closed_at": rollout["closed_at"],
        "trace_id": rollout.get("trace_id"),  # contract section 13; none before it
        "duration_s": duration_s(rollout),
        "sequence": [
            {
                "step": step["step"],
                "at": step["seen_at"],
                "event_id": step.get("event_id"),
                "source": step.get("source"),
            }
            for step in seen
        ],
        "steps": steps,
        "findings": list(rollout["findings"]),
        # Who did what about it, when (contract section 14); none from a log or an older peer.
        "actions": list(rollout.get("actions") or ()),
    }


def render_report(report: Mapping[str, Any], fmt: str) -> str:
    """The report in one of FORMATS."""
    if fmt == "html":
        return report_html.render(report)
    if fmt == "md":
        return report_md.render(report)
    if fmt == "csv":
        return report_csv.render(report)
    if fmt == "json":
        return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n"
    raise ValueError(f"unknown report format {fmt!r}; known: {', '.join(FORMATS)}")
