"""The JSON shapes of the rollout API (contract section 11), built from rollout views.

Purely computational: the HTTP layer passes views, findings and expectations in and writes out
what comes back. Times are RFC 3339 strings, null where absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from sentinel.core.durations import format_duration
from sentinel.core.engine.actions import Verb
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.snapshots import Phase, RolloutView, StepState, StepStatus
from sentinel.core.rules.expectations import Expectation, Step
from sentinel.core.rules.graph import to_mermaid
from sentinel.core.timefmt import format_rfc3339
from sentinel.status.board_words import describe_finding
from sentinel.status.trace_links import TraceLinks

OPEN_PHASES = frozenset({Phase.OPEN.value, Phase.ROLLING_BACK.value})


def summary(view: RolloutView, links: TraceLinks | None = None) -> dict[str, Any]:
    """One rollout as `GET /api/v1/rollouts` lists it; steps in graph order. With `links`
    (`tracing.trace_url`), the link to its trace."""
    data: dict[str, Any] = {
        "expectation": view.expectation,
        "rollout": view.rollout,
        "phase": str(view.phase),
        "owner": view.owner,
        "opened_at": _time(view.opened_at),
        "closed_at": _time(view.closed_at),
        "deadline": _time(view.deadline_at),
        "problems": open_problems(view),
        "steps": [_step(step, full=False) for step in graph_order(view.steps)],
        # During a rollback the board shows what is due now: the compensation's event.
        "compensation": None if view.compensation is None else _step(view.compensation, False),
    }
    if links is not None:
        data["trace_url"] = links.rollout(view)
    # What people said of it (section 14), for the board's row: null while nobody did.
    data["acknowledged_by"], data["snoozed_until"] = _acted(view)
    return data


def full(
    view: RolloutView, findings: Iterable[Finding], links: TraceLinks | None = None
) -> dict[str, Any]:
    """One rollout in full: the summary, its trace id, the event counted for each seen step
    and its trace context, its findings. With `links`, the rollout, each step and each
    finding link to the trace."""
    data = summary(view, links)
    data["trace_id"] = view.trace_id
    data["steps"] = [_full_step(view, step, links) for step in graph_order(view.steps)]
    compensation = view.compensation
    data["compensation"] = None if compensation is None else _full_step(view, compensation, links)
    ordered = sorted(findings, key=lambda finding: finding.at)
    data["findings"] = [finding.to_json_dict() for finding in ordered]
    # What on-call did about it, oldest first (contract section 14): who, when, what.
    data["actions"] = [action.to_json_dict() for action in view.actions]
    if links is not None:
        for finding in data["findings"]:
            link = links.finding(view, finding)
            if link is not None:
                finding["trace_url"] = link
    return data


def _acted(view: RolloutView) -> tuple[str | None, str | None]:
    """Who acknowledged the rollout's open problems: the latest acknowledgement, while the
    rollout is open and no step stalled after it (a later stall is a new problem, told again);
    and the end of its latest snooze, also once passed (compare it with the list's `clock`)."""
    if not view.actions:
        return None, None
    acked = None
    if view.phase in (Phase.OPEN, Phase.ROLLING_BACK):
        acks = [action for action in view.actions if action.verb is Verb.ACKNOWLEDGE]
        latest = max(acks, key=lambda action: action.at, default=None)
        steps = [*view.steps, *([view.compensation] if view.compensation else [])]
        later = latest is not None and any(
            step.state is StepState.STALLED and (step.due_at or 0.0) > latest.at for step in steps
        )
        acked = None if latest is None or later else latest.by
    snoozes = [action for action in view.actions if action.verb is Verb.SNOOZE]
    snooze = max(snoozes, key=lambda action: action.at, default=None)
    return acked, None if snooze is None else _time(snooze.until)


def open_problems(view: RolloutView) -> list[str]:
    """The problem kinds still open: a stalled step not seen yet, a passed deadline, a rollback."""
    problems = []
    steps = [*view.steps, *([view.compensation] if view.compensation else [])]
    if any(step.state is StepState.STALLED for step in steps):
        problems.append("stall")
    if view.deadline_exceeded:
        problems.append("deadline_exceeded")
    if view.phase is Phase.ROLLING_BACK:
        problems.append("rollback")
    return problems


def graph_order(steps: Sequence[StepStatus]) -> list[StepStatus]:
    """Prerequisites before the steps that wait for them; otherwise as declared."""
    declared = {step.step for step in steps}
    placed: set[str] = set()
    ordered: list[StepStatus] = []
    remaining = list(steps)
    while remaining:
        ready = next(
            (
                step
                for step in remaining
                if all(prereq in placed or prereq not in declared for prereq in step.after)
            ),
            remaining[0],  # only a cycle gets here, and the loader refuses cycles
        )
        remaining.remove(ready)
        placed.add(ready.step)
        ordered.append(ready)
    return ordered


def rollout_list(
    clock: float,
    summaries: Iterable[Mapping[str, Any]],
    partial: Sequence[str] = (),
    total: int | None = None,
    with_problems: int = 0,
    next_page: str | None = None,
) -> dict[str, Any]:
    """The body of `GET /api/v1/rollouts`; `partial` names the peers that did not answer.
    Beside the contract's fields, a page's: how many rollouts pass the filters in all (null
    when the history is read: it is not counted), how many of them need someone, and the
    cursor of the next page (`after`), null on the last."""
    return {
        "clock": _time(clock),
        "rollouts": list(summaries),
        "partial": list(partial),
        "total": total,
        "with_problems": with_problems,
        "next": next_page,
    }


def finding_list(
    clock: float, findings: Iterable[Mapping[str, Any]], partial: Sequence[str] = ()
) -> dict[str, Any]:
    """The body of `GET /api/v1/findings`: contract finding objects, newest first."""
    return {"clock": _time(clock), "findings": list(findings), "partial": list(partial)}


def error_body(status: int, message: str, partial: Sequence[str] = ()) -> dict[str, Any]:
    """The body of a 400 or 404: what was wrong, in one sentence."""
    return {"status": status, "error": message, "partial": list(partial)}


def stream_message(finding: Finding) -> bytes:
    """One finding as a server-sent event of `GET /api/v1/stream` (`event: finding`): the
    contract's object, and beside its fields the `sentence` the board shows for it (the
    board's script words nothing itself)."""
    data = finding.to_json_dict()
    data["sentence"] = describe_finding(data, finding.at)
    return b"event: finding\ndata: " + orjson.dumps(data) + b"\n\n"


# A comment line: send one every ~15 s so proxies keep an idle stream open.
STREAM_KEEPALIVE = b": keepalive\n\n"


def expectation_list(expectations: Iterable[Expectation]) -> dict[str, Any]:
    """The body of `GET /api/v1/expectations`."""
    return {"expectations": [expectation_json(exp) for exp in expectations]}


def expectation_json(exp: Expectation) -> dict[str, Any]:
    """One expectation as its YAML says it, with its step graph as Mermaid text."""
    return {
        "name": exp.name,
        "owner": exp.owner,
        "description": exp.description,
        "correlate": exp.correlate,
        "deadline": _duration(exp.deadline),
        "deadline_s": exp.deadline,
        "steps": [_expected_step(exp, step) for step in exp.steps],
        "compensation": [
            {
                "trigger": comp.trigger,
                "expect": comp.expect,
                "within": _duration(comp.within),
                "within_s": comp.within,
            }
            for comp in exp.compensation
        ],
        "mermaid": _mermaid(exp),
    }


def _expected_step(exp: Expectation, step: Step) -> dict[str, Any]:
    return {
        "step": step.event,
        "after": list(step.after),
        "within": _duration(step.within),
        "within_s": step.within,
        "owner": exp.owner_of(step.event),
    }


def _mermaid(exp: Expectation) -> str:
    # `to_mermaid` writes a fenced Markdown block; the API gives the diagram itself.
    lines = to_mermaid([exp]).strip().splitlines()
    return "\n".join(lines[1:-1]) + "\n"


def _step(step: StepStatus, full: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "step": step.step,
        "state": str(step.state),
        "due": _time(step.due_at),
        "seen_at": _time(step.seen_at),
        "owner": step.owner,
        "after": list(step.after),
        "stalled": step.stalled,  # it stalled once, even if it was seen later
    }
    if full:
        data["event_id"] = step.event_id
        data["source"] = step.source
    return data


def _full_step(view: RolloutView, step: StepStatus, links: TraceLinks | None) -> dict[str, Any]:
    data = _step(step, full=True)
    # The producer's trace behind the counted event: where it was created, else the last hop
    # (the only context a Kafka instrumentation gives when the event names none).
    data["traceparent"] = step.traceparent or step.hop
    if links is not None:
        data["trace_url"] = links.step(view, step.step)
    return data


def _time(epoch: float | None) -> str | None:
    return None if epoch is None else format_rfc3339(epoch)


def _duration(seconds: float | None) -> str | None:
    return None if seconds is None else format_duration(seconds)
