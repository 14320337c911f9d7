"""HTML pieces shared by the board and the rollout page: the page shell, a rollout row, a
step, a finding. Every value goes through `esc` (bus data is text, never markup); no inline
script or style, so the Content-Security-Policy can forbid both. `board.js` builds the same
structure with DOM calls when it re-renders a row: change both together."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any
from urllib.parse import quote

from sentinel.core.timefmt import format_rfc3339
from sentinel.status.board_words import (
    PHASES,
    PROBLEMS,
    STEP_STATES,
    clock_text,
    describe_finding,
    epoch,
    is_good,
    kind_label,
    kinds_json,
    step_detail,
)


def esc(value: object) -> str:
    """Text (and attribute values) safe inside HTML."""
    return escape("" if value is None else str(value), quote=True)


def rollout_href(expectation: str, rollout: str) -> str:
    """The rollout page's path; each part percent-encoded (a key may hold `/` or `?`)."""
    return f"/rollouts/{quote(expectation, safe='')}/{quote(rollout, safe='')}"


def trace_anchor(url: object, text: str, label: str) -> str:
    """`text` linking to the trace (`trace_url`) in a new tab, so the board stays live, named
    `label` for a screen reader; nothing unless `url` is http(s): a value from elsewhere (a
    peer's answer) cannot make a `javascript:` link."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return ""
    return (
        f'<a class="trace-link" href="{esc(url)}" target="_blank" rel="noopener noreferrer"'
        f' aria-label="{esc(label)}">{esc(text)}<span aria-hidden="true"> ↗</span></a>'
    )


def page(title: str, body: str, clock: float, kind: str) -> str:
    """A whole document; `data-clock` lets the script tick on the sentinel's clock, and
    `data-kinds` gives it each finding kind's words (it words none itself)."""
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n"
        '<link rel="icon" href="data:,">\n'
        '<link rel="stylesheet" href="/static/board.css">\n'
        # Deferred scripts run in order: render.js defines what board.js uses.
        '<script src="/static/render.js" defer></script>\n'
        '<script src="/static/board.js" defer></script>\n'
        '<script src="/static/actions.js" defer></script>\n'
        "</head>\n"
        f'<body data-page="{esc(kind)}" data-clock="{esc(format_rfc3339(clock))}"'
        f' data-kinds="{esc(kinds_json())}">\n'
        '<a class="skip" href="#main">Skip to content</a>\n'
        '<header class="top"><a class="brand" href="/">Rollout sentinel</a>'
        '<span class="live" id="live" data-state="connecting">'
        '<span aria-hidden="true">…</span> connecting</span>'
        f'<span class="clock">as of <time id="clock" datetime="{esc(format_rfc3339(clock))}">'
        f"{esc(format_rfc3339(clock)[11:19])}</time> UTC</span></header>\n"
        f'<main id="main">\n{body}\n</main>\n</body>\n</html>\n'
    )


def badge(kind: str, table: Mapping[str, tuple[str, str]], value: str) -> str:
    """A word with its symbol; the class carries the colour (`phase-open`, `problem-stall`)."""
    symbol, word = table.get(value, ("•", value.replace("_", " ")))
    return (
        f'<span class="badge {esc(kind)}-{esc(value)}">'
        f'<span class="sym" aria-hidden="true">{esc(symbol)}</span> {esc(word)}</span>'
    )


def time_tag(time: str | None, clock: float) -> str:
    if time is None:
        return "-"
    return f'<time datetime="{esc(time)}">{esc(clock_text(time, clock))}</time>'


def step_item(step: Mapping[str, Any], clock: float) -> str:
    """One step of a row: state (symbol and word), name, what is due or late, and whose."""
    state = step["state"]
    ticking = state in ("due", "stalled") and step["due"] is not None
    detail_attrs = f' data-due="{esc(step["due"])}" data-tick="{esc(state)}"' if ticking else ""
    owner = f'<span class="owner">{esc(step["owner"])}</span>' if step["owner"] else ""
    return (
        f'<li class="step state-{esc(state)}" data-step="{esc(step["step"])}">'
        f"{badge('state', STEP_STATES, state)}"
        f'<span class="name">{esc(step["step"])}</span>'
        f'<span class="detail"{detail_attrs}>{esc(step_detail(step, clock))}</span>'
        f"{owner}</li>"
    )


def acted(summary: Mapping[str, Any], clock: float) -> str:
    """What people said of an open rollout (contract section 14): who acknowledged its open
    problems (`acknowledged_by`), until when it is snoozed (`snoozed_until`, while it runs).
    `render.js` says the same (acted)."""
    if summary["phase"] not in ("open", "rolling_back"):
        return ""
    said = []
    if summary.get("acknowledged_by"):
        said.append(("acked", "☑", f"ack by {summary['acknowledged_by']}"))
    until = summary.get("snoozed_until")
    if until and (epoch(until) or 0.0) > clock:
        said.append(("snoozed", "☾", f"snoozed until {clock_text(until, clock)}"))
    # A snooze's chip carries its end: the script takes it away when it has passed.
    ends = {"snoozed": f' data-until="{esc(until)}"'}
    return "".join(
        f'<span class="acted {name}"{ends.get(name, "")}>'
        f'<span class="sym" aria-hidden="true">{symbol}</span> {esc(words)}</span>'
        for name, symbol, words in said
    )


def acted_key(summary: Mapping[str, Any]) -> str:
    """`data-acted` of a row: the script redraws a row whose acknowledgement or snooze moved."""
    return f"{summary.get('acknowledged_by') or ''}|{summary.get('snoozed_until') or ''}"


def rollout_row(summary: Mapping[str, Any], clock: float) -> str:
    """One rollout: its key (a link to its page), phase, problems and steps in graph order."""
    steps = list(summary["steps"])
    if summary.get("compensation"):
        steps.append(summary["compensation"])
    problems = "".join(badge("problem", PROBLEMS, kind) for kind in summary["problems"])
    href = rollout_href(summary["expectation"], summary["rollout"])
    return (
        f'<article class="rollout{" has-problem" if summary["problems"] else ""}"'
        f' data-expectation="{esc(summary["expectation"])}"'
        f' data-rollout="{esc(summary["rollout"])}" data-phase="{esc(summary["phase"])}"'
        f' data-problems="{esc(",".join(summary["problems"]))}"'
        f' data-acted="{esc(acted_key(summary))}">'
        '<div class="rollout-head">'
        f'<a class="key" href="{esc(href)}">{esc(summary["rollout"])}</a>'
        f"{badge('phase', PHASES, summary['phase'])}{problems}{acted(summary, clock)}"
        f'<span class="opened">opened {time_tag(summary["opened_at"], clock)}</span>'
        f"{trace_anchor(summary.get('trace_url'), 'trace', 'Trace of ' + summary['rollout'])}"
        "</div>"
        f'<ol class="steps">{"".join(step_item(step, clock) for step in steps)}</ol>'
        "</article>"
    )


def finding_item(finding: Mapping[str, Any], clock: float) -> str:
    """One line of the recent findings: time, kind, rollout (linked), what happened, whose."""
    symbol, word = kind_label(finding["kind"])
    where = ""
    if finding.get("expectation") and finding.get("rollout"):
        href = rollout_href(finding["expectation"], finding["rollout"])
        where = (
            f'<a class="where" href="{esc(href)}">'
            f"{esc(finding['expectation'])} / {esc(finding['rollout'])}</a>"
        )
    elif finding.get("expectation"):
        where = f'<span class="where">{esc(finding["expectation"])}</span>'
    owner = f'<span class="owner">{esc(finding["owner"])}</span>' if finding.get("owner") else ""
    tone = "good" if is_good(finding["kind"]) else "problem"
    return (
        f'<li class="finding {tone} kind-{esc(finding["kind"])}">'
        f"{time_tag(finding['at'], clock)}"
        f'<span class="badge kind-{tone}"><span class="sym" aria-hidden="true">{esc(symbol)}'
        f"</span> {esc(word)}</span>{where}"
        f'<span class="what">{esc(describe_finding(finding, clock))}</span>{owner}</li>'
    )


def findings_list(findings: Iterable[Mapping[str, Any]], clock: float) -> str:
    items = "".join(finding_item(finding, clock) for finding in findings)
    empty = '<li class="empty">No findings yet.</li>' if not items else ""
    return f'<ol class="findings" id="findings">{items}{empty}</ol>'
