"""Durations as expectation files write them (`sentinel.core.durations`): every accepted form, and
the messages for the ones that are not durations."""

from __future__ import annotations

import pytest

from sentinel.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("2d", 172_800.0),
        ("1d2h3m4s", 93_784.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        (" 10m ", 600.0),
        ("PT10M", 600.0),
        ("pt10m", 600.0),
        ("PT1H30M", 5400.0),
        ("PT90S", 90.0),
        ("P2D", 172_800.0),
        ("P1DT2H", 93_600.0),
        ("PT0.5S", 0.5),
    ],
)
def test_each_accepted_form_reads_as_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", "10", "10 minutes", "m", "10x", "1h 30m", "h1", "PT", "P", "P1DT", "P1W", "PT10", "1:30"],
)
def test_text_that_is_no_duration_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration: write e\.g\. 90s, 10m") as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("text", ["0s", "0m", "0h0m", "PT0S", "0.0s"])
def test_a_zero_duration_is_refused_as_not_positive(text: str) -> None:
    with pytest.raises(ValueError, match="is not a positive duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["-5m", "-PT5M", "+5m", "1h-30m"])
def test_a_signed_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5430, "1h30m30s"), (90, "1m30s"), (86_400, "1d"), (600.4, "10m"), (0.25, "0.25s")],
)
def test_durations_are_written_largest_unit_first(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [1.0, 59.0, 61.0, 3599.0, 90_061.0])
def test_a_written_duration_reads_back_to_the_same_seconds(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
