"""Event-level noise for people: one Slack message per channel and interval that counts every
kind of event-level finding and names a bounded sample, so that a flood of unknown event types
is one message, never a thousand. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sentinel.alerting.alert_words import counted, describe_event, emoji, of_type, span, title
from sentinel.alerting.grouper import (
    DIGEST_BUCKET,
    Context,
    EventGroup,
    Plan,
    Planner,
    RolloutGroup,
)
from sentinel.alerting.sinks.slack_blocks import (
    LINE_CHARS,
    SlackMessage,
    _context,
    _header,
    _sections,
    clip,
    code,
    esc,
    fallback,
)
from sentinel.core.durations import format_duration
from sentinel.core.engine.findings import Kind
from sentinel.core.engine.kinds import KINDS
from sentinel.core.ports.outbox import NOISE_PRIORITY, Item, Thread, item_key

# Event types named per kind in the message, and in its notification text.
NAMES = 10
TEXT_NAMES = 3
NAME_CHARS = 80
# Example findings per kind (unknown types are their names: no examples).
EXAMPLES = 3


def digests(events: Sequence[EventGroup]) -> list[EventGroup]:
    """The event groups of one flush, merged into one per destination (a channel)."""
    merged: dict[str, list[EventGroup]] = {}
    for group in events:
        merged.setdefault(group.destination, []).append(group)
    result = []
    for destination, groups in merged.items():
        counts: dict[Kind, int] = {}
        for group in groups:
            for kind, count in group.counts.items():
                counts[kind] = counts.get(kind, 0) + count
        result.append(
            EventGroup(
                bucket=DIGEST_BUCKET + destination,
                destination=destination,
                findings=tuple(finding for group in groups for finding in group.findings),
                counts=counts,
                held_at=min(group.held_at for group in groups),
            )
        )
    return result


def render_digest(digest: EventGroup, ctx: Context) -> SlackMessage:
    """Per kind: how many, over which times, the event types (a few) and examples (a few)."""
    # A silent bus first: it is why every other count may be low.
    kinds = sorted(digest.counts, key=lambda kind: emoji(kind) != "🔴")
    blocks = [_header(_title(digest, kinds))]
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
        summary, text = f"*{counted(kind, count)}*", counted(kind, count)
        per_type = KINDS[kind].per_type  # the types are what was found: no examples
        if names:
            # `14 new unknown event types at 10:00: a, b, …`; `3 schema violations of A at 10:00`
            joiner = ": " if per_type else " of "
            listed = _listed(kind, count, len(sample), [code(n) for n in names], NAMES)
            summary += f" {when}{joiner}{listed}" if joiner == ": " else f"{joiner}{listed} {when}"
            text += joiner + _listed(kind, count, len(sample), names, TEXT_NAMES)
        else:
            summary += f" {when}"
        lines = [summary]
        if not per_type:
            examples = sample[:EXAMPLES]
            lines.extend(f"• {esc(clip(describe_event(f, ctx.tz), LINE_CHARS))}" for f in examples)
            if count > len(examples):
                lines.append(f"… and {count - len(examples):,} more")
            if not names:
                text += f": {clip(describe_event(sample[0], ctx.tz), LINE_CHARS)}"
        blocks.extend(_sections(lines))
        texts.append(text)
    interval = format_duration(ctx.settings.event_interval)
    blocks.append(
        _context(
            f"Findings about events, not rollouts: at most one message per {interval} in this "
            "channel. Rollout alerts go ahead of it."
        )
    )
    return SlackMessage(fallback("; ".join(texts)), tuple(blocks))


def _title(digest: EventGroup, kinds: list[Kind]) -> str:
    icon = "🔴" if any(emoji(kind) == "🔴" for kind in kinds) else "🟠"
    if len(kinds) > 1:
        return f"{icon} {digest.count:,} findings about events"
    [kind] = kinds
    types = {finding.event_type for finding in digest.findings}
    # The type, when every finding counted was kept and they share it.
    shared = next(iter(types)) if len(types) == 1 and digest.count == len(digest.findings) else None
    if digest.count == 1:
        return f"{icon} {title(kind)}" + (f": {shared}" if shared else "")
    return f"{icon} {counted(kind, digest.count)}{of_type(kind, shared)}"


def _listed(kind: Kind, count: int, sampled: int, names: list[str], shown: int) -> str:
    """`a, b, c, … and 11 more`; `a, b, …` when how many more types is not known."""
    listed = ", ".join(names[:shown])
    if KINDS[kind].per_type:
        # One finding per new type: each finding beyond those named is another type.
        rest = count - min(len(names), shown)
    elif count > sampled:
        return f"{listed}, …"  # the findings beyond the sample were counted, not kept
    else:
        rest = len(names) - min(len(names), shown)
    return f"{listed}, … and {rest:,} more" if rest > 0 else listed


def for_people(plan: Planner, *, bot: bool) -> Planner:
    """A Slack sink's planner: `plan` for the rollouts, and one digest per channel for the
    event-level findings, queued behind the rollout alerts of its lane (`bot`: Slack's Web
    API, which names the channel; else an incoming webhook, which has one)."""

    def planned(
        rollouts: Sequence[RolloutGroup],
        events: Sequence[EventGroup],
        threads: Mapping[str, Thread],
        ctx: Context,
    ) -> Plan:
        result = plan(rollouts, (), threads, ctx)
        for digest in digests(events):
            message = render_digest(digest, ctx)
            payload = message.payload()
            if bot:
                payload = {"purpose": "message", "channel": digest.destination, **payload}
            result.items.append(
                Item(
                    key=item_key(digest.findings, ctx.sink, "message"),
                    sink=ctx.sink,
                    payload=payload,
                    enqueued_at=digest.held_at,
                    next_at=ctx.now,
                    lane=digest.destination,
                    priority=NOISE_PRIORITY,
                )
            )
        return result

    return planned
