"""Noise in the log: unrelated types, events without the rollout key, malformed lines. Each
is ignored and counted; none changes what is learned, and none is a crash."""

from __future__ import annotations

import orjson

from sentinel.core.pipeline.replay import read_lines
from sentinel.core.timefmt import format_rfc3339
from sentinel.learning.learner import LearnOptions, learn
from sentinel.learning.model import LearnResult
from sentinel.learning.render import render_all
from sentinel.learning.summary import summary

T0 = 1_795_600_800.0
STEPS = ("Build_Done", "Deploy_Done", "Verify_Done")


def clean_log(rollouts: int = 30) -> list[bytes]:
    lines = []
    for number in range(rollouts):
        for index, step in enumerate(STEPS):
            at = T0 + number * 600 + index * 60 + number % 7
            lines.append(event(f"r{number}-{index}", step, at, {"rollout_id": f"r{number}"}))
    return lines


def event(event_id: str, event_type: str, at: float, data: dict[str, object]) -> bytes:
    return orjson.dumps(
        {"id": event_id, "source": "/ci", "type": event_type, "time": format_rfc3339(at),
         "data": data, "specversion": "1.0"}
    )  # fmt: skip


def noisy_log() -> list[bytes]:
    noise = [
        b"this is not JSON",
        b"[1, 2, 3]",
        b'{"rollout_id": "r1", "status": "ok"}',
        b'{"type": "Build_Done", "time": "yesterday", "rollout_id": "r1"}',
        b"\xff\xfe not UTF-8",
        b"   ",
        event("hb-1", "Heartbeat", T0 + 5, {"host": "a"}),
        event("hb-2", "Heartbeat", T0 + 65, {"host": "a"}),
        event("lonely-1", "Cache_Flushed", T0 + 70, {"rollout_id": "r-unknown"}),
        event("nokey-1", "Deploy_Done", T0 + 80, {"service": "users"}),
        event("nokey-2", "Verify_Done", T0 + 90, {"rollout_id": None}),
    ]
    lines = clean_log()
    # Spread through the log, so that discovery sees them in its sample too.
    for position, line in enumerate(noise):
        lines.insert(position * 7 + 1, line)
    return lines


def test_noise_is_counted_and_changes_nothing_that_is_learned() -> None:
    clean = learn(read_lines(clean_log()), LearnOptions())
    noisy = learn(read_lines(noisy_log()), LearnOptions())

    assert render_all(noisy.expectations) == render_all(clean.expectations)
    reading = noisy.reading
    assert reading.malformed == 5  # not JSON, an array, no type, a bad time, not UTF-8
    assert reading.records == 90 + 10  # the blank line is no record
    assert dict(reading.unrelated) == {"Heartbeat": 2, "Cache_Flushed": 1}
    assert dict(reading.unkeyed) == {"Deploy_Done": 1, "Verify_Done": 1}


def test_a_log_of_nothing_but_noise_learns_nothing_and_says_why() -> None:
    result = learn(read_lines([b"not JSON", b"{}", event("x", "Lone", T0, {})]), LearnOptions())

    assert result.expectations == ()
    assert result.paths == ()
    assert result.reading.malformed == 2
    assert dict(result.reading.unrelated) == {"Lone": 1}
    assert "name one with --correlate" in summary(result)[1]


def test_a_given_path_that_no_event_has_learns_nothing_and_says_so() -> None:
    result = learn(read_lines(clean_log()), LearnOptions(correlate="data.nope"))

    assert result.expectations == ()
    assert "nothing learned: no two event types share rollouts on data.nope" in summary(result)


def test_events_without_a_time_are_dated_by_the_clock_and_counted_before_any_time() -> None:
    undated = b'{"type": "Build_Done", "id": "u-0", "rollout_id": "r-early"}'
    lines = [undated, *clean_log()]
    result: LearnResult = learn(read_lines(lines), LearnOptions())

    assert result.reading.undated == 1
    assert result.expectations[0].rollouts == 30


def test_a_given_correlation_path_is_used_even_where_discovery_would_choose_another() -> None:
    lines = [
        event(f"e{n}", step, T0 + n * 10, {"rollout_id": f"r{n // 3}", "batch": f"b{n // 6}"})
        for n, step in enumerate(STEPS * 30)
    ]

    found = learn(read_lines(lines), LearnOptions())
    given = learn(read_lines(lines), LearnOptions(correlate="data.batch"))

    assert found.paths == ("data.rollout_id",)
    assert found.expectations[0].rollouts == 30
    assert given.paths == ("data.batch",)
    assert given.expectations[0].rollouts == 15
