"""The page of one rollout (`GET /rollouts/{expectation}/{rollout}`): where it stands, its step
graph, each step's counted event, and its timeline of steps and findings. Purely
computational; `board.js` keeps the steps live."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sentinel.core.rules.expectations import Expectation
from sentinel.status.actions_view import VERBS, VIEWER, Actor, actions_section
from sentinel.status.board_words import (
    PHASES,
    PROBLEMS,
    STEP_STATES,
    clock_text,
    describe_finding,
    epoch,
    is_good,
    kind_label,
    step_detail,
)
from sentinel.status.markup import acted, badge, esc, page, step_item, time_tag, trace_anchor
from sentinel.status.stepgraph import step_graph_svg

# At equal times a stall reads before the late arrival that recovers it (as in `timeline`).
_RANK = {"stall": -1}


def render_rollout_page(
    full: Mapping[str, Any],
    expectation: Expectation | None,
    clock: float,
    actor: Actor = VIEWER,
) -> str:
    """`full` is the API's full rollout; `expectation` its expectation (None if removed);
    `actor` who reads it (an operator gets the controls that act on it)."""
    steps = list(full["steps"])
    if full.get("compensation"):
        steps.append(full["compensation"])
    problems = "".join(badge("problem", PROBLEMS, kind) for kind in full["problems"])
    facts = [
        (
            "Phase",
            badge("phase", PHASES, full["phase"])
            + problems
            + f'<span class="acted-now" id="acted-now">{acted(full, clock)}</span>',
        ),
        ("Owner", esc(full["owner"] or "-")),
        ("Opened", time_tag(full["opened_at"], clock)),
        ("Deadline", time_tag(full["deadline"], clock)),
        ("Closed", time_tag(full["closed_at"], clock)),
    ]
    if expectation is not None and expectation.description:
        facts.append(("Expectation", esc(expectation.description)))
    if full.get("trace_id"):  # a peer of an older version names none
        facts.append(("Trace", _trace(full)))
    body = [
        '<nav class="crumbs"><a href="/">← All rollouts</a></nav>',
        f'<h1><span class="exp">{esc(full["expectation"])}</span> / '
        f'<span class="key">{esc(full["rollout"])}</span></h1>',
        '<dl class="facts">'
        + "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in facts)
        + "</dl>",
        f'<article class="rollout single" data-expectation="{esc(full["expectation"])}"'
        f' data-rollout="{esc(full["rollout"])}">'
        f'<ol class="steps">{"".join(step_item(step, clock) for step in steps)}</ol></article>',
        actions_section(full, clock, actor),
        '<section aria-labelledby="graph-h"><h2 id="graph-h">Step graph</h2>'
        '<div class="graph-wrap">'
        f"{step_graph_svg(full['steps'], full.get('compensation'), expectation, clock)}"
        "</div></section>",
        '<section aria-labelledby="steps-h"><h2 id="steps-h">Steps and the events counted</h2>'
        f'<div class="table-wrap">{_steps_table(full, clock)}</div></section>',
        '<section aria-labelledby="timeline-h"><h2 id="timeline-h">Timeline</h2>'
        f"{_timeline(full, clock)}</section>",
    ]
    title = f"{full['expectation']} / {full['rollout']} · Rollout sentinel"
    return page(title, "\n".join(body), clock, "rollout")


def _trace(full: Mapping[str, Any]) -> str:
    """The link to the rollout's trace (`tracing.trace_url`), and its id, small, to paste into
    a tracing UI (the only way there without a link)."""
    link = trace_anchor(full.get("trace_url"), "Open trace", "Open the rollout's trace")
    return f'{link}<code class="trace-id" title="Trace id">{esc(full["trace_id"])}</code>'


def _steps_table(full: Mapping[str, Any], clock: float) -> str:
    steps = [*full["steps"], *([full["compensation"]] if full.get("compensation") else [])]
    # With `tracing.trace_url`, each step links to its span in the rollout's trace.
    linked = any(step.get("trace_url") for step in steps)
    rows = []
    for step in steps:
        symbol, word = STEP_STATES.get(step["state"], ("•", step["state"]))
        span = f"Open {step['step']} in the trace"
        trace = f"<td>{trace_anchor(step.get('trace_url'), 'span', span)}</td>" if linked else ""
        rows.append(
            f'<tr class="state-{esc(step["state"])}"><th scope="row">{esc(step["step"])}</th>'
            f'<td><span class="sym" aria-hidden="true">{esc(symbol)}</span> {esc(word)}'
            f' <span class="detail">{esc(step_detail(step, clock))}</span></td>'
            f"<td>{time_tag(step['due'], clock)}</td><td>{time_tag(step['seen_at'], clock)}</td>"
            f"<td><code>{esc(step.get('event_id') or '-')}</code></td>"
            f"<td>{esc(step.get('source') or '-')}</td><td>{esc(step['owner'] or '-')}</td>"
            f"{trace}</tr>"
        )
    heading = '<th scope="col">Trace</th>' if linked else ""
    return (
        '<table class="steps-table"><thead><tr><th scope="col">Step</th>'
        '<th scope="col">State</th><th scope="col">Due</th><th scope="col">Seen</th>'
        '<th scope="col">Event id</th><th scope="col">Source</th><th scope="col">Owner</th>'
        f"{heading}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _timeline(full: Mapping[str, Any], clock: float) -> str:
    entries: list[tuple[float, int, str]] = []
    steps = [*full["steps"], *([full["compensation"]] if full.get("compensation") else [])]
    for step in steps:
        if step["seen_at"] is None:
            continue
        event = f" · event {step['event_id']}" if step.get("event_id") else ""
        source = f" from {step['source']}" if step.get("source") else ""
        entries.append(
            (
                epoch(step["seen_at"]) or 0.0,
                0,
                f"{time_tag(step['seen_at'], clock)}"
                f'<span class="badge state-seen"><span class="sym" aria-hidden="true">✓</span>'
                f' seen</span><span class="what">{esc(step["step"])}{esc(event)}{esc(source)}'
                "</span>",
            )
        )
    for finding in full["findings"]:
        symbol, word = kind_label(finding["kind"])
        tone = "good" if is_good(finding["kind"]) else "problem"
        entries.append(
            (
                epoch(finding["at"]) or 0.0,
                _RANK.get(finding["kind"], 1),
                f"{time_tag(finding['at'], clock)}"
                f'<span class="badge kind-{tone}"><span class="sym" aria-hidden="true">'
                f"{esc(symbol)}</span> {esc(word)}</span>"
                f'<span class="what">{esc(describe_finding(finding, clock))}</span>',
            )
        )
    for action in full.get("actions") or ():  # what people did, among what happened
        symbol, word = VERBS.get(action["verb"], ("•", str(action["verb"])))
        until = f" until {clock_text(action['until'], clock)}" if action.get("until") else ""
        note = f": {action['note']}" if action.get("note") else ""
        entries.append(
            (
                epoch(action["at"]) or 0.0,
                2,
                f"{time_tag(action['at'], clock)}"
                f'<span class="badge verb"><span class="sym" aria-hidden="true">{esc(symbol)}'
                f'</span> {esc(word)}</span><span class="what">by {esc(action["by"])}'
                f"{esc(until)}{esc(note)}</span>",
            )
        )
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    items = "".join(f'<li class="entry">{html}</li>' for _, _, html in entries)
    return f'<ol class="timeline">{items}</ol>'


def render_not_found(
    expectation: str, rollout: str, clock: float, partial: Sequence[str] = ()
) -> str:
    """The page of a rollout that is neither open nor in the history; `partial` names the
    peers that did not answer (it may be one of theirs)."""
    missing = ""
    if partial:
        missing = (
            '<p class="partial" role="alert"><span aria-hidden="true">✕</span> Not answering: '
            f"{', '.join(esc(peer) for peer in partial)}. The rollout may be one of theirs.</p>"
        )
    body = (
        '<nav class="crumbs"><a href="/">← All rollouts</a></nav>'
        f'<h1><span class="exp">{esc(expectation)}</span> / <span class="key">{esc(rollout)}'
        f'</span></h1>{missing}<p class="empty">No such rollout: it is neither open nor in the '
        "history.</p>"
    )
    return page(f"{expectation} / {rollout} · Rollout sentinel", body, clock, "missing")
