"""The alert outbox as the core sees it: the data that waits in it, and what it must do.

Alerting (routing, grouping, sinks) reads and writes it; a state store keeps it, in the same
transaction as the batch that raised the findings. Plain data and a protocol: no I/O here.

Deliveries wait in lanes: a lane is one sink and one destination (a Slack channel; "" for
sinks with one). A lane is delivered strictly in order of (priority, enqueuing), and lanes do
not wait for each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sentinel.core.engine.findings import Finding
from sentinel.core.engine.snapshots import RolloutView


@dataclass(frozen=True, slots=True)
class Held:
    """A finding waiting, for one sink, in a grouping window that closes at `close_at`."""

    key: str  # idempotency: finding id + sink
    sink: str
    bucket: str  # findings of one bucket close together and may share one message
    destination: str  # the Slack channel its owner routes to; "" for other sinks
    opens: bool  # may open a new message; false for good news about a rollout never alerted
    finding: Finding
    view: RolloutView | None
    held_at: float
    close_at: float
    # How many findings this row stands for: 1, or, for the tally of a digest's kind beyond its
    # sample (`Outbox.hold_sampled`), that many; `finding` is then the latest of them.
    count: int = 1


# Priorities within a lane: rollout alerts (and their resolutions) go ahead of event-level noise.
ROLLOUT_PRIORITY = 0
NOISE_PRIORITY = 1


@dataclass(frozen=True, slots=True)
class Item:
    """One delivery for one sink: a Slack call, a webhook POST, a list of Alertmanager alerts."""

    key: str  # idempotency: finding id(s) + sink + purpose
    sink: str
    payload: Mapping[str, Any]
    enqueued_at: float  # when its first finding entered the outbox
    attempts: int = 0
    next_at: float = 0.0
    lane: str = ""  # the destination whose order it keeps: a Slack channel, "" for one-lane sinks
    priority: int = ROLLOUT_PRIORITY  # lower goes first within its lane


@dataclass(frozen=True, slots=True)
class Thread:
    """What one sink remembers about one alerted rollout (Slack: where its parent message is)."""

    channel: str  # as routed at first; the channel id Slack answered once posted
    ts: str | None = None  # the parent message's ts, once posted
    shared: bool = False  # the parent lists several rollouts: reply only, never update it
    failed: bool = False  # the parent could not be posted: replies go to the channel
    opened_at: float = 0.0
    resolved_at: float | None = None
    # Alertmanager: the alerts still firing, re-sent until resolved.
    firing: tuple[Mapping[str, Any], ...] = ()
    # Slack: the findings so far, one line each, so the updated parent still shows the first.
    history: tuple[str, ...] = ()
    # The lane of its deliveries: the channel as routed at first, kept when `channel` becomes
    # Slack's id, so that replies and updates queue behind their parent.
    lane: str = ""

    @property
    def delivery_lane(self) -> str:
        return self.lane or self.channel


def thread_key(expectation: str | None, rollout: str | None) -> str:
    # Expectation names never contain "/", so the first "/" separates the two.
    return f"{expectation or ''}/{rollout or ''}"


def item_key(findings: Iterable[Finding], sink: str, purpose: str) -> str:
    """Finding id (or a digest of several) + sink + purpose: the same alert is enqueued once."""
    ids = sorted({finding.id for finding in findings})
    ident = ids[0] if len(ids) == 1 else hashlib.sha256("+".join(ids).encode()).hexdigest()[:24]
    return f"{ident}:{sink}:{purpose}"


class Outbox(Protocol):
    """Where alerts wait; every method is quick and synchronous."""

    def transaction(self) -> AbstractContextManager[None]:
        """Group writes: all of them happen, or none."""

    def hold(self, held: Held) -> bool:
        """Put a finding in its grouping window; False (and nothing changes) if its key is known."""

    def hold_sampled(self, held: Held, sample: int) -> bool:
        """Hold a finding of a digest: whole while its window holds fewer than `sample` rows of
        its kind, else only counted on the window's one tally row of that kind (its `count`
        grows, its finding becomes this one). False if its key is known among the rows kept.
        So a window holds at most `sample` + 1 rows per kind, whatever the flood."""

    def forget_flushed(self, sink: str, bucket: str, before: float) -> None:
        """Forget the bucket's findings flushed before `before` (a digest keeps one flush)."""

    def bucket_times(self, sink: str, bucket: str) -> tuple[float | None, float | None]:
        """(close time of the bucket's open window, time of its last flush)."""

    def next_close(self) -> float | None:
        """When the next grouping window closes."""

    def take_closed(self, now: float) -> list[Held]:
        """Every held finding whose window has closed by `now`, marked as flushed."""

    def enqueue(self, item: Item) -> bool:
        """Add a delivery; False (and nothing changes) if its key is known."""

    def take_due(self, sink: str, lane: str, now: float, limit: int) -> list[Item]:
        """A lane's first pending deliveries by (priority, enqueuing), up to the first not due
        by `now`."""

    def lanes(self, sink: str) -> dict[str, float]:
        """The sink's lanes with pending deliveries, and when the first of each is due."""

    def mark_delivered(self, key: str, now: float) -> None: ...

    def schedule_retry(self, key: str, at: float, error: str) -> None: ...

    def mark_failed(self, key: str, now: float, error: str) -> None:
        """The delivery can never succeed; it stays for the record and is not retried."""

    def thread(self, sink: str, key: str) -> Thread | None: ...

    def save_thread(self, sink: str, key: str, thread: Thread) -> None: ...

    def firing(self, sink: str) -> list[Thread]:
        """Threads with alerts still firing (Alertmanager re-sends them)."""

    def depth(self, sink: str) -> int:
        """Alerts of the sink not yet delivered: findings held in a window, deliveries pending."""

    def failed(self, sink: str) -> int:
        """Deliveries of the sink that failed for good."""

    def prune(self, before: float) -> None:
        """Forget deliveries done, windows flushed and threads resolved before `before`."""

    def forget_done(self, sink: str, before: float) -> None:
        """Forget the sink's deliveries done (sent or failed) before `before`: for a sink that
        never enqueues the same thing twice (spans), whose sent items are only bulk."""
