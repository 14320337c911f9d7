"""Pure decisions: which findings alert, through which sinks, in which grouping window.

Nothing here reads the clock or touches the outbox: `now` and the silences are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sentinel.alerting.grouper import DIGEST_BUCKET, ROLLOUT_BUCKET, is_digest
from sentinel.alerting.settings import AlertingSettings, Silence, SinkSettings
from sentinel.alerting.sinks import sink_of
from sentinel.alerting.sinks.base import Sink
from sentinel.core.engine.findings import ROLLOUT_KINDS, Finding


@dataclass(frozen=True, slots=True)
class Routed:
    """One finding bound for one sink."""

    finding: Finding
    sink: str
    bucket: str
    destination: str
    opens: bool  # may start a new message; good news only follows an earlier alert
    window: float  # the bucket closes this long after its first finding
    gap: float  # and never sooner than this after its previous flush

    @property
    def digest(self) -> bool:
        """Held as a bounded sample and a count (`Outbox.hold_sampled`)."""
        return is_digest(self.bucket)


@dataclass(frozen=True, slots=True)
class Decision:
    routed: tuple[Routed, ...]
    muted: tuple[tuple[str, str], ...]  # (sink, "silenced" or "shadow"), for the metrics


def route(
    findings: Iterable[Finding], settings: AlertingSettings, silences: Sequence[Silence], now: float
) -> Decision:
    """Apply shadow mode, the kinds that alert, and silences; pick each sink's bucket."""
    sinks = settings.sink_names
    targets = [(target, sink_of(target)) for target in settings.sinks]
    routed: list[Routed] = []
    muted: list[tuple[str, str]] = []
    for finding in findings:
        if settings.for_expectation(finding.expectation).shadow:
            muted.extend((sink, "shadow") for sink in sinks)
            continue
        alerting = finding.kind in settings.alert_on
        resolves = not finding.is_problem and finding.kind in ROLLOUT_KINDS
        if not alerting and not resolves:
            continue  # a kind that is only counted
        silenced = any(silence.matches(finding, now) for silence in silences)
        if silenced and finding.is_problem:
            muted.extend((sink, "silenced") for sink in sinks)
            continue
        routed.extend(
            _for_sink(finding, settings, target, sink, opens=alerting and not silenced)
            for target, sink in targets
        )
    return Decision(tuple(routed), tuple(muted))


def close_at(
    now: float, window: float, gap: float, open_close: float | None, last_flush: float | None
) -> float:
    """When a bucket closes: an open bucket keeps its time; a new one waits `window`, and `gap`
    after the previous flush, so event-level findings send at most one message per interval."""
    if open_close is not None:
        return open_close
    closes = now + window
    if last_flush is not None:
        closes = max(closes, last_flush + gap)
    return closes


def _for_sink(
    finding: Finding,
    settings: AlertingSettings,
    target: SinkSettings,
    sink: Sink[Any],
    opens: bool,
) -> Routed:
    # People: hold findings for the grouping window. Machines group themselves.
    window = settings.window if sink.human else 0.0
    destination = sink.destination(target, finding)
    if finding.kind in ROLLOUT_KINDS:
        return Routed(finding, target.name, ROLLOUT_BUCKET, destination, opens, window, 0.0)
    # People: one digest per channel. Machines: one bucket per kind and event type.
    per_type = f"{finding.kind}|{finding.event_type or ''}"
    bucket = DIGEST_BUCKET + destination if sink.human else per_type
    return Routed(finding, target.name, bucket, destination, opens, window, settings.event_interval)
