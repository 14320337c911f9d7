"""The Microsoft Teams sink (`teams:`): a Workflows webhook ("When a Teams webhook request is
received", then "Post card in a chat or channel") gets one Adaptive Card per message, with the
words of the Slack incoming webhook's: no threads, so each card stands alone (the whole rollout
as it is now, or one list when many rollouts change in one window), event-level findings as one
digest per `event_interval`, and an open stall told again (`renotify_after`) as a card of its
own. The plan and render are pure; the transport does the I/O.

Every text from the bus is a TextRun of a RichTextBlock, which Adaptive Cards never read as
Markdown (a TextBlock or a Fact would turn `[click](https://evil)` into a link)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sentinel.alerting.alert_words import (
    checklist,
    counted,
    describe,
    describe_event,
    emoji,
    headline,
    links,
    span,
    stamp,
)
from sentinel.alerting.drill import TEST_SENTENCE, TEST_TITLE, TEST_WORDS
from sentinel.alerting.grouper import Context, EventGroup, Plan, RolloutGroup, remember
from sentinel.alerting.reminders import Reminder
from sentinel.alerting.sinks.base import Sink, check_http_url, one_lane_item
from sentinel.alerting.sinks.httpkit import JsonPost, dump
from sentinel.alerting.sinks.slack_blocks import (
    FINDING_LINES,
    LINE_CHARS,
    LIST_LINES,
    TEXT_CHARS,
    URL_CHARS,
    _main,
    _owner,
    clip,
    common_causes,
    fit_checklist,
    history,
)
from sentinel.alerting.sinks.slack_digest import (
    EXAMPLES,
    NAME_CHARS,
    NAMES,
    TEXT_NAMES,
    _listed,
    _title,
    digests,
)
from sentinel.alerting.sinks.slack_reminders import STILL, still_stalled
from sentinel.configkit import SECRET, Section
from sentinel.core.durations import format_duration
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.kinds import KINDS
from sentinel.core.ports.outbox import NOISE_PRIORITY, ROLLOUT_PRIORITY, Item, Outbox, Thread

CARD = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"
# Teams refuses a message over about 28 KB: a card's lines beyond this many bytes are cut.
MESSAGE_BYTES = 24_000


@dataclass(frozen=True, slots=True)
class TeamsSettings:
    """A Teams Workflows webhook: one chat or channel, no threads, no updates."""

    url: str = field(metadata=SECRET)
    timeout: float = 10.0
    name: str = field(default="teams", metadata={"given": True})


def parse(section: Section, name: str) -> TeamsSettings:
    settings = section.read(TeamsSettings, name=name)
    check_http_url(section, "url", settings.url)
    return settings


@dataclass(frozen=True, slots=True)
class TeamsCard:
    """`text` is what the Slack message's notification text says; `body` and `actions` the
    card's elements."""

    text: str
    body: tuple[dict[str, Any], ...]
    actions: tuple[dict[str, Any], ...] = ()

    def message(self) -> dict[str, Any]:
        """The Workflows webhook's body: a message with the card as its one attachment, its
        lines cut to MESSAGE_BYTES (the first kept, and the last: when it was updated)."""
        return self._message(self._fitted())

    def _fitted(self) -> list[dict[str, Any]]:
        sizes = [len(dump(element)) + 1 for element in self.body]
        room = MESSAGE_BYTES - len(dump(self._message([])))
        if sum(sizes) <= room or len(self.body) < 2:
            return list(self.body)
        *lines, last = self.body
        room -= sizes[-1] + len(dump(_cut(len(lines)))) + 1
        kept = []
        for line, size in zip(lines, sizes, strict=False):
            if size > room:
                break
            kept.append(line)
            room -= size
        return [*kept, _cut(len(lines) - len(kept)), last]

    def _message(self, body: list[dict[str, Any]]) -> dict[str, Any]:
        card: dict[str, Any] = {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": CARD_VERSION,
            "fallbackText": clip(self.text, TEXT_CHARS),
            "body": body,
            "msteams": {"width": "Full"},
        }
        if self.actions:
            card["actions"] = list(self.actions)
        return {
            "type": "message",
            "attachments": [{"contentType": CARD, "contentUrl": None, "content": card}],
        }

    def words(self) -> list[str]:
        """Each line of the card as people read it: for tests, and to compare with Slack."""
        return ["".join(run["text"] for run in block["inlines"]) for block in self.body]


def plan(
    rollouts: Sequence[RolloutGroup],
    events: Sequence[EventGroup],
    threads: Mapping[str, Thread],
    ctx: Context,
) -> Plan:
    """A card per rollout that alerts or was alerted before; one list beyond `max_messages`;
    one digest of the event-level findings. One chat or channel, so one lane."""
    result = Plan()
    sending: list[tuple[RolloutGroup, tuple[str, ...]]] = []
    for rollout in rollouts:
        known = threads.get(rollout.key)
        if known is None and not rollout.opens:
            continue
        lines = history(rollout, ctx, known.history if known else ())
        sending.append((rollout, lines))
        result.threads[rollout.key] = replace(remember(rollout, known, ctx), history=lines)
    if len(sending) > ctx.settings.max_messages:
        listed = [rollout for rollout, _ in sending]
        findings = [finding for rollout in listed for finding in rollout.findings]
        since = min(rollout.held_at for rollout in listed)
        result.items.append(_card(findings, since, ctx, render_burst(listed, ctx)))
    else:
        for rollout, lines in sending:
            card = render_rollout(rollout, ctx, lines)
            result.items.append(_card(rollout.findings, rollout.held_at, ctx, card))
    for digest in digests(events):
        card = render_digest(digest, ctx)
        result.items.append(_card(digest.findings, digest.held_at, ctx, card, NOISE_PRIORITY))
    return result


def render_rollout(rollout: RolloutGroup, ctx: Context, lines: Sequence[str]) -> TeamsCard:
    """The rollout as the Slack parent says it: where it stands, its findings so far (`lines`,
    from `history`), the checklist of steps, and links."""
    view, latest, tz = rollout.view, rollout.latest, ctx.tz
    icon, label, resolved = headline(view, latest)
    owner = (view.owner if view is not None else None) or _owner(rollout.findings)
    facts = [
        ("Expectation", rollout.expectation),
        ("Rollout", rollout.rollout),
        ("Owner", owner or "nobody named"),
    ]
    if view is not None:
        facts.append(("Opened", stamp(view.opened_at, tz)))
    body = [
        _heading(f"{icon} {label}: {rollout.expectation}"),
        *(
            _line(_run(f"{name}: ", weight="Bolder"), _run(clip(value, LINE_CHARS)))
            for name, value in facts
        ),
    ]
    shown = [clip(line, LINE_CHARS) for line in lines]
    if len(shown) > FINDING_LINES:
        # The first finding says why the alert exists; the last ones say what changed since.
        skipped = len(shown) - FINDING_LINES + 1
        shown = [shown[0], f"… {skipped} more", *shown[-(FINDING_LINES - 2) :]]
    body.extend(_lines(shown, separator=True))
    if view is not None:
        steps = [clip(line, LINE_CHARS) for line in checklist(view, latest.at, tz)]
        body.append(_line(_run("Checklist", weight="Bolder"), separator=True))
        body.extend(_lines(fit_checklist(steps)))
    state = "Resolved" if resolved else "Updated"
    body.append(_note(f"{state} {stamp(latest.at, tz)} · rollout-sentinel"))
    main = _main(rollout.findings)
    text = f"{icon} {label}: {rollout.expectation} rollout {rollout.rollout}: " + describe(
        main, view, tz
    )
    return TeamsCard(text, tuple(body), _buttons(ctx, rollout.findings))


def render_burst(rollouts: Sequence[RolloutGroup], ctx: Context) -> TeamsCard:
    """Many rollouts in one card, one line each, as Slack's burst message lists them."""
    states = [headline(rollout.view, rollout.latest) for rollout in rollouts]
    if all(not resolved for _, _, resolved in states):
        heading = f"🔴 {len(rollouts)} rollouts need attention"
    else:
        heading = f"🟠 {len(rollouts)} rollouts changed"
    lines = []
    for rollout, (icon, label, _) in zip(rollouts, states, strict=True):
        main, owner = _main(rollout.findings), _owner(rollout.findings)
        line = (
            f"{icon} {rollout.expectation} {rollout.rollout} {label}: "
            f"{clip(describe(main, rollout.view, ctx.tz), LINE_CHARS)}"
        )
        lines.append(line + (f" · owner {owner}" if owner else ""))
    summary = [
        f"{count} {expectation} rollout{'' if count == 1 else 's'}: {title_}"
        + (f" of {step}" if step else "")
        for (expectation, title_, step), count in common_causes(rollouts)
    ]
    window = format_duration(ctx.settings.window)
    body = [
        _heading(heading),
        *_lines(summary),
        *_lines(_fold(lines, LIST_LINES), separator=True),
        _note(f"Grouped: more than {ctx.settings.max_messages} rollouts within {window}."),
    ]
    first = rollouts[0]
    text = (
        f"{heading}: {first.expectation} rollout {first.rollout}: "
        f"{describe(_main(first.findings), first.view, ctx.tz)}"
        + (f" and {len(rollouts) - 1} more" if len(rollouts) > 1 else "")
    )
    return TeamsCard(text, tuple(body))


def render_digest(digest: EventGroup, ctx: Context) -> TeamsCard:
    """The Slack digest's words: per kind, how many over which times, the event types (a few)
    and examples (a few)."""
    kinds = sorted(digest.counts, key=lambda kind: emoji(kind) != "🔴")
    body = [_heading(_title(digest, kinds))]
    texts = []
    for kind in kinds:
        count = digest.counts[kind]
        sample = [finding for finding in digest.findings if finding.kind == kind]
        when = span(min(f.at for f in sample), max(f.at for f in sample), ctx.tz)
        names = list(
            dict.fromkeys(
                clip(f.event_type, NAME_CHARS) for f in sample if f.event_type is not None
            )
        )
        summary = text = counted(kind, count)
        per_type = KINDS[kind].per_type
        if names:
            listed = _listed(kind, count, len(sample), names, NAMES)
            summary += f" {when}: {listed}" if per_type else f" of {listed} {when}"
            text += (": " if per_type else " of ") + _listed(
                kind, count, len(sample), names, TEXT_NAMES
            )
        else:
            summary += f" {when}"
        body.append(_line(_run(summary, weight="Bolder"), separator=True))
        if not per_type:
            examples = sample[:EXAMPLES]
            body.extend(
                _lines([f"• {clip(describe_event(f, ctx.tz), LINE_CHARS)}" for f in examples])
            )
            if count > len(examples):
                body.append(_line(_run(f"… and {count - len(examples):,} more")))
            if not names:
                text += f": {clip(describe_event(sample[0], ctx.tz), LINE_CHARS)}"
        texts.append(text)
    interval = format_duration(ctx.settings.event_interval)
    body.append(
        _note(
            f"Findings about events, not rollouts: at most one message per {interval} here. "
            "Rollout alerts go ahead of it."
        )
    )
    return TeamsCard("; ".join(texts), tuple(body))


def render_reminder(reminder: Reminder, ctx: Context) -> TeamsCard:
    """An open stall told again (`renotify_after`), as the incoming webhook's message of its
    own says it: the stall, the checklist as it is now, the links."""
    stall, tz = reminder.stall, ctx.tz
    finding, view = stall.finding, stall.view
    words = still_stalled(reminder, ctx)
    owner = finding.owner or view.owner
    line = f"🔴 {finding.expectation} {finding.rollout}: {clip(words, LINE_CHARS)}" + (
        f" · owner {owner}" if owner else ""
    )
    steps = [clip(step, LINE_CHARS) for step in checklist(view, reminder.now, tz)]
    every = format_duration(ctx.settings.renotify_after or 0.0)
    body = [
        _heading(f"🔴 {STILL}: {finding.expectation}"),
        _line(_run(line)),
        _line(_run("Checklist", weight="Bolder"), separator=True),
        *_lines(fit_checklist(steps)),
        _note(f"Told again every {every} · rollout-sentinel"),
    ]
    text = f"🔴 {STILL}: {finding.expectation} rollout {finding.rollout}: {words}"
    return TeamsCard(text, tuple(body), _buttons(ctx, (finding,)))


def remind(reminder: Reminder, thread: Thread | None, ctx: Context) -> Item | None:
    """`Sink.remind`: a card of its own for a rollout this sink told before (no threads)."""
    if thread is None:
        return None
    return Item(
        key=reminder.key(ctx.sink),
        sink=ctx.sink,
        payload={"message": render_reminder(reminder, ctx).message()},
        enqueued_at=reminder.now,
        next_at=reminder.now,
    )


def mark_test(settings: TeamsSettings, item: Item, now: float) -> Item:
    """The test alert (`sentinel alerts test`): the test's heading and words instead of the
    finding's; the rollout's facts, the footer and the links kept (they show that they work)."""
    message = item.payload["message"]
    [attachment] = message["attachments"]
    card = attachment["content"]
    kept = [block for block in card["body"][1:] if _labelled(block)]
    body = [_heading(f"🧪 {TEST_TITLE}"), _line(_run(TEST_SENTENCE)), *kept]
    marked = {**attachment, "content": {**card, "fallbackText": TEST_WORDS, "body": body}}
    return replace(item, payload={**item.payload, "message": {**message, "attachments": [marked]}})


def _labelled(block: Mapping[str, Any]) -> bool:
    """A fact (`Rollout: 42`: a bold label and its value) or the footer (small, subtle)."""
    runs = block["inlines"]
    return (len(runs) == 2 and runs[0].get("weight") == "Bolder") or bool(runs[0].get("isSubtle"))


def _card(
    findings: Sequence[Finding],
    since: float,
    ctx: Context,
    card: TeamsCard,
    priority: int = ROLLOUT_PRIORITY,
) -> Item:
    # One chat or channel, one lane: a digest queues behind the rollouts' cards.
    return one_lane_item(findings, since, ctx, {"message": card.message()}, "message", priority)


def _run(text: str, **style: Any) -> dict[str, Any]:
    """Text shown as written: a TextRun is never read as Markdown."""
    return {"type": "TextRun", "text": text, **style}


def _line(*runs: dict[str, Any], separator: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "RichTextBlock", "inlines": list(runs)}
    if separator:
        block["separator"] = True
    return block


def _lines(texts: Sequence[str], separator: bool = False) -> list[dict[str, Any]]:
    return [_line(_run(text), separator=separator and n == 0) for n, text in enumerate(texts)]


def _heading(text: str) -> dict[str, Any]:
    return _line(_run(clip(text, LINE_CHARS), size="Large", weight="Bolder"))


def _note(text: str) -> dict[str, Any]:
    return _line(_run(text, size="Small", isSubtle=True), separator=True)


def _cut(lines: int) -> dict[str, Any]:
    return _line(_run(f"… {lines:,} more lines, cut to fit a Teams message"))


def _fold(lines: list[str], limit: int) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[: limit - 1], f"… and {len(lines) - limit + 1} more"]


def _buttons(ctx: Context, findings: Sequence[Finding]) -> tuple[dict[str, Any], ...]:
    """The Slack message's link buttons: the main finding's dashboard and runbook, and the
    rollout's trace as the newest finding links it; a URL over Slack's limit is left out
    there, and here too (it would crowd the card's lines out of the message)."""
    dashboard, runbook = links(ctx.settings, _main(findings))
    trace = next((finding.trace_url for finding in reversed(findings) if finding.trace_url), None)
    named = (("Dashboard", dashboard), ("Runbook", runbook), ("Open trace", trace))
    return tuple(
        {"type": "Action.OpenUrl", "title": name, "url": url}
        for name, url in named
        if url is not None and len(url) <= URL_CHARS
    )


class TeamsTransport(JsonPost):
    """POST the card's message to the Workflows URL: 202 (or 200) is delivered; 429 waits for
    Retry-After; 5xx and timeouts are retried; 401/403/404 (a flow deleted or its URL wrong)
    stop the sink; another 4xx drops that card."""

    def __init__(self, settings: TeamsSettings) -> None:
        super().__init__(settings.name, settings.url, settings.timeout)

    async def deliver(self, item: Item, outbox: Outbox, now: float) -> None:
        await self._post(dump(item.payload["message"]), {})

    async def refresh(self, outbox: Outbox, now: float) -> None:
        """Nothing to refresh: cards stay."""


SINK = Sink(
    name="teams",
    settings=TeamsSettings,
    parse=parse,
    plan=plan,
    transport=TeamsTransport,
    human=True,
    mark_test=mark_test,
    remind=remind,
)
