"""Slack messages as Block Kit within Slack's limits, and mrkdwn escaping: what both Slack sinks
(the bot and the incoming webhook) and their digest send. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sentinel.alerting.alert_words import (
    checklist,
    clock,
    describe,
    emoji,
    headline,
    is_plain_seen,
    links,
    stamp,
    title,
)
from sentinel.alerting.drill import TEST_SENTENCE, TEST_TITLE, TEST_WORDS
from sentinel.alerting.grouper import Context, RolloutGroup
from sentinel.core.durations import format_duration
from sentinel.core.engine.findings import Finding

# Slack's limits (docs.slack.dev, Block Kit reference).
MAX_BLOCKS = 50
SECTION_CHARS = 3000
HEADER_CHARS = 150
FIELD_CHARS = 2000
TEXT_CHARS = 3000
URL_CHARS = 3000  # a button's `url`
# Ours, so that one message stays readable.
LINE_CHARS = 300
CHECKLIST_LINES = 40
LIST_LINES = 50
FINDING_LINES = 6
HISTORY_LINES = 20
SUMMARY_LINES = 5


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """`text` is the fallback Slack shows in notifications; `blocks` the message itself."""

    text: str
    blocks: tuple[dict[str, Any], ...]

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": list(self.blocks)}


def history(rollout: RolloutGroup, ctx: Context, earlier: Sequence[str] = ()) -> tuple[str, ...]:
    """The rollout's findings so far, one plain line each, as a thread remembers them."""
    lines = tuple(earlier) + tuple(
        f"{emoji(finding.kind)} {clock(finding.at, ctx.tz)} {title(finding.kind)}: "
        f"{describe(finding, rollout.view, ctx.tz)}"
        for finding in rollout.findings
    )
    return lines[-HISTORY_LINES:]


def render_rollout(
    rollout: RolloutGroup,
    ctx: Context,
    lines: Sequence[str],
    dashboard_label: str = "Dashboard",
) -> SlackMessage:
    """The parent message: where the rollout stands, its findings so far (`lines`, from
    `history`), the checklist of steps, and links."""
    view, latest, tz = rollout.view, rollout.latest, ctx.tz
    icon, label, resolved = headline(view, latest)
    owner = (view.owner if view is not None else None) or _owner(rollout.findings)
    fields = [
        f"*Expectation*\n{esc(rollout.expectation)}",
        f"*Rollout*\n{code(rollout.rollout)}",
        f"*Owner*\n{esc(owner or 'nobody named')}",
    ]
    if view is not None:
        fields.append(f"*Opened*\n{stamp(view.opened_at, tz)}")
    blocks: list[dict[str, Any]] = [
        _header(f"{icon} {label}: {rollout.expectation}"),
        {"type": "section", "fields": [_mrkdwn(clip(text, FIELD_CHARS)) for text in fields]},
    ]
    shown = [esc(clip(line, LINE_CHARS)) for line in lines]
    if len(shown) > FINDING_LINES:
        # The first finding says why the alert exists; the last ones say what changed since.
        skipped = len(shown) - FINDING_LINES + 1
        shown = [shown[0], f"… {skipped} more", *shown[-(FINDING_LINES - 2) :]]
    blocks.extend(_sections(shown))
    if view is not None:
        lines = [esc(clip(line, LINE_CHARS)) for line in checklist(view, latest.at, tz)]
        blocks.extend(_sections(["*Checklist*", *fit_checklist(lines)]))
    state = "Resolved" if resolved else "Updated"
    blocks.append(_context(f"{state} {stamp(latest.at, tz)} · rollout-sentinel"))
    blocks.extend(_buttons(ctx, rollout.findings, dashboard_label))
    main = _main(rollout.findings)
    text = (
        f"{icon} {label}: {rollout.expectation} rollout {rollout.rollout}: "
        f"{describe(main, view, tz)}"
    )
    return SlackMessage(fallback(text), tuple(blocks))


def as_test(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A rollout message (`render_rollout`'s) as the test alert of `sentinel alerts test`: the
    test's header and words instead of the finding's; the fields, footer and buttons kept (the
    links show that they work)."""
    kept = [
        block
        for block in payload["blocks"]
        if block["type"] != "header" and not (block["type"] == "section" and "text" in block)
    ]
    blocks = [_header(f"🧪 {TEST_TITLE}"), *_sections([esc(TEST_SENTENCE)]), *kept]
    return {**payload, "text": fallback(TEST_WORDS), "blocks": blocks}


def render_reply(rollout: RolloutGroup, ctx: Context, named: bool) -> SlackMessage:
    """A reply in the rollout's thread: each new finding in one line."""
    prefix = f"{esc(rollout.expectation)} {code(rollout.rollout)}: " if named else ""
    lines = [
        f"{emoji(finding.kind)} {prefix}*{title(finding.kind)}:* "
        f"{esc(clip(describe(finding, rollout.view, ctx.tz), LINE_CHARS))}"
        for finding in rollout.findings
    ]
    sentences = "; ".join(
        f"{title(finding.kind)}: {describe(finding, rollout.view, ctx.tz)}"
        for finding in rollout.findings
    )
    text = f"{rollout.expectation} rollout {rollout.rollout}: {sentences}"
    return SlackMessage(fallback(text), tuple(_sections(_fold(lines, LIST_LINES))))


def render_burst(rollouts: Sequence[RolloutGroup], ctx: Context, threaded: bool) -> SlackMessage:
    """Many rollouts in one message, one line each, instead of a message each."""
    states = [headline(rollout.view, rollout.latest) for rollout in rollouts]
    if all(not resolved for _, _, resolved in states):
        heading = f"🔴 {len(rollouts)} rollouts need attention"
    else:
        heading = f"🟠 {len(rollouts)} rollouts changed"
    lines = []
    for rollout, (icon, label, _) in zip(rollouts, states, strict=True):
        main = _main(rollout.findings)
        owner = _owner(rollout.findings)
        line = (
            f"{icon} *{esc(rollout.expectation)}* {code(rollout.rollout)} {label}: "
            f"{esc(clip(describe(main, rollout.view, ctx.tz), LINE_CHARS))}"
        )
        lines.append(line + (f" · owner {esc(owner)}" if owner else ""))
    summary = [
        f"*{count}* {esc(expectation)} rollout{'' if count == 1 else 's'}: {title_}"
        + (f" of {esc(step)}" if step else "")
        for (expectation, title_, step), count in common_causes(rollouts)
    ]
    blocks: list[dict[str, Any]] = [
        _header(heading),
        *_sections(summary),
        *_sections(_fold(lines, LIST_LINES)),
    ]
    note = "Later findings of each rollout follow in this thread." if threaded else ""
    window = format_duration(ctx.settings.window)
    blocks.append(
        _context(
            f"Grouped: more than {ctx.settings.max_messages} rollouts within "
            f"{window}. {note}".strip()
        )
    )
    first = rollouts[0]
    text = (
        f"{heading}: {first.expectation} rollout {first.rollout}: "
        f"{describe(_main(first.findings), first.view, ctx.tz)}"
        + (f" and {len(rollouts) - 1} more" if len(rollouts) > 1 else "")
    )
    return SlackMessage(fallback(text), tuple(blocks))


def fit_checklist(lines: list[str], limit: int = CHECKLIST_LINES) -> list[str]:
    """All lines if they fit; else steps seen on time fold into one line, then the rest is cut."""
    if len(lines) <= limit:
        return lines
    plain = [line for line in lines if is_plain_seen(line)]
    rest = [line for line in lines if not is_plain_seen(line)]
    head = [f"✅ {len(plain)} steps seen on time"] if plain else []
    return head + _fold(rest, limit - len(head))


def esc(text: str) -> str:
    """Slack mrkdwn escaping: keeps `<!channel>` in an event from pinging anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fallback(text: str) -> str:
    """A message's `text` (what notifications and screen readers show): Slack reads `<!channel>`,
    `<@U123>` and `<https://x|links>` in it as in mrkdwn, so it is escaped the same way (`&`,
    `<`, `>`, as Slack's docs ask), then cut to TEXT_CHARS without splitting an `&amp;`."""
    escaped = esc(text)
    if len(escaped) <= TEXT_CHARS:
        return escaped
    cut = escaped[: TEXT_CHARS - 1]
    entity = cut.rfind("&", len(cut) - len("&amp;") + 1)
    if entity != -1 and ";" not in cut[entity:]:
        cut = cut[:entity]  # an entity cut short would show as `&am`
    return cut + "…"


def code(text: str) -> str:
    return "`" + esc(text).replace("`", "'") + "`"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fold(lines: list[str], limit: int) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[: limit - 1], f"… and {len(lines) - limit + 1} more"]


def _sections(lines: list[str]) -> list[dict[str, Any]]:
    """Lines packed into as few sections as Slack's 3,000 characters per section allow."""
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= SECTION_CHARS:
            chunks[-1] += "\n" + line
        else:
            chunks.append(clip(line, SECTION_CHARS))
    return [{"type": "section", "text": _mrkdwn(chunk)} for chunk in chunks]


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_CHARS)}}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(clip(text, FIELD_CHARS))]}


def _buttons(
    ctx: Context, findings: Sequence[Finding], dashboard_label: str = "Dashboard"
) -> list[dict[str, Any]]:
    """Link buttons: the main finding's dashboard and runbook, and the rollout's trace
    (`tracing.trace_url`) as the newest finding links it, whose time range covers the most
    of the trace. Slack asks an `action_id` of every button, a link too, and refuses the
    whole message for a URL over its limit: such a button is left out instead. The bot's
    interactive parent calls the dashboard *Open on board* (`slack_acted.py`)."""
    dashboard, runbook = links(ctx.settings, _main(findings))
    trace = next((finding.trace_url for finding in reversed(findings) if finding.trace_url), None)
    named = (
        ("sentinel-dashboard", dashboard_label, dashboard),
        ("sentinel-runbook", "Runbook", runbook),
        ("sentinel-trace", "Open trace", trace),
    )
    buttons = [
        {
            "type": "button",
            "action_id": action,
            "text": {"type": "plain_text", "text": name},
            "url": url,
        }
        for action, name, url in named
        if url is not None and len(url) <= URL_CHARS
    ]
    return [{"type": "actions", "elements": buttons}] if buttons else []


def common_causes(rollouts: Sequence[RolloutGroup]) -> list[tuple[tuple[str, str, str], int]]:
    """What a burst's rollouts have in common, most shared first (usually the cause: a shared
    dependency stuck at one step): ((expectation, title, step or ""), how many)."""
    common = Counter(
        (rollout.expectation, title(main.kind), main.step or "")
        for rollout in rollouts
        for main in (_main(rollout.findings),)
    )
    return common.most_common(SUMMARY_LINES)


def _main(findings: Sequence[Finding]) -> Finding:
    """The finding a one-line summary names: the first problem, else the latest news."""
    return next((finding for finding in findings if finding.is_problem), findings[-1])


def _owner(findings: Sequence[Finding]) -> str | None:
    return next((finding.owner for finding in findings if finding.owner), None)
