"""Bus data is text in every renderer: a rollout key, event id, source, step or owner that
is markup comes out inert in the board, the rollout page and the report's HTML, Markdown and
CSV."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.rules.expectations import Expectation
from sentinel.status.board import BoardFilters, render_board
from sentinel.status.period import Period
from sentinel.status.report import build_report, render_report
from sentinel.status.rollout_page import render_rollout_page

from .helpers import HOSTILE_ID, HOSTILE_KEY, HOSTILE_OWNER, HOSTILE_SOURCE, HOSTILE_STEP

Hostile = tuple[dict[str, Any], Expectation, float]


class Tags(HTMLParser):
    """Every start tag of a document, with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def assert_inert(html: str) -> None:
    """No hostile tag, no event handler attribute, no inline style or script; the hostile
    strings are there as text."""
    tags = parse(html)
    names = {tag for tag, _ in tags.tags}
    assert not names & {"img", "i", "b"}
    assert all(tag != "svg" or ("class", "graph") in attrs for tag, attrs in tags.tags)
    for tag, attrs in tags.tags:
        for name, _ in attrs:
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
        if tag == "script":
            assert dict(attrs).get("src") in (
                "/static/render.js",
                "/static/board.js",
                "/static/actions.js",
            )
    text = "".join(tags.text)
    assert HOSTILE_KEY in text


def hostile_finding() -> dict[str, Any]:
    return Finding(
        Kind.SCHEMA_VIOLATION,
        0.0,
        expectation="hostile",
        rollout=HOSTILE_KEY,
        owner=HOSTILE_OWNER,
        event_type="<script>window.__xss=2</script>",
        event_id=HOSTILE_ID,
        errors=("<img src=y onerror=alert(3)>",),
        event_source=HOSTILE_SOURCE,
    ).to_json_dict()


def test_the_board_shows_hostile_bus_data_as_text(hostile: Hostile) -> None:
    rollout, exp, clock = hostile
    html = render_board([summary_of(rollout)], [hostile_finding()], [exp], clock, BoardFilters())
    assert_inert(html)
    text = "".join(parse(html).text)
    assert HOSTILE_STEP in text
    assert HOSTILE_OWNER in text
    assert "<script>window.__xss=2</script>" in text


def test_the_rollout_page_shows_hostile_bus_data_as_text(hostile: Hostile) -> None:
    rollout, exp, clock = hostile
    html = render_rollout_page(rollout, exp, clock)
    assert_inert(html)
    text = "".join(parse(html).text)
    assert HOSTILE_ID in text
    assert HOSTILE_SOURCE in text


def test_links_to_a_hostile_rollout_are_percent_encoded(hostile: Hostile) -> None:
    rollout, exp, clock = hostile
    html = render_board([summary_of(rollout)], [], [exp], clock, BoardFilters())
    hrefs = [
        value
        for tag, attrs in parse(html).tags
        if tag == "a"
        for name, value in attrs
        if name == "href" and value and value.startswith("/rollouts/")
    ]
    assert hrefs == ["/rollouts/hostile/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"] * 2


def test_the_html_report_shows_hostile_bus_data_as_text(hostile: Hostile) -> None:
    rollout, _, _ = hostile
    rollout = {**rollout, "findings": [*rollout["findings"], hostile_finding()]}
    html = render_report(build_report([rollout], Period()), "html")
    tags = parse(html)
    assert {tag for tag, _ in tags.tags} <= {
        "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "table",
        "thead", "tbody", "tr", "th", "td", "code", "span", "section", "ul", "li", "div",
        "svg", "rect", "line", "text",
    }  # fmt: skip
    for _, attrs in tags.tags:
        assert not any(name.startswith("on") for name, _ in attrs)
    text = "".join(tags.text)
    for value in (HOSTILE_KEY, HOSTILE_ID, HOSTILE_SOURCE, HOSTILE_STEP):
        assert value in text


def test_the_markdown_report_escapes_what_markdown_would_read_as_markup(hostile: Hostile) -> None:
    rollout, _, _ = hostile
    text = render_report(build_report([rollout], Period()), "md")
    assert re.search(r"(?<!\\)[<>]", text) is None  # every angle bracket is escaped
    assert r"\<img src=x onerror=alert(1)\>" in text
    table_rows = [line for line in text.splitlines() if line.startswith("| 2026")]
    # The source's `|` must not open a new cell: every sequence row has exactly 4 cells.
    for line in table_rows:
        assert line.replace("\\|", "").count("|") == 5


def test_the_csv_report_keeps_hostile_values_in_their_cells_and_defuses_formulas(
    hostile: Hostile,
) -> None:
    rollout, _, _ = hostile
    text = render_report(build_report([rollout], Period()), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["rollout"] for row in rows} == {HOSTILE_KEY}
    start = next(row for row in rows if row["step"] == "Start")
    assert start["event_id"] == HOSTILE_ID
    assert start["source"] == "'" + HOSTILE_SOURCE
    assert {row["step"] for row in rows} >= {HOSTILE_STEP}


@pytest.mark.parametrize("fmt", ["html", "md", "csv", "json"])
def test_no_format_loses_the_hostile_key(hostile: Hostile, fmt: str) -> None:
    rollout, _, _ = hostile
    text = render_report(build_report([rollout], Period()), fmt)
    assert "onerror=alert(1)" in text


def summary_of(rollout: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in rollout.items() if key != "findings"}


def test_the_board_names_peers_that_did_not_answer_as_text(hostile: Hostile) -> None:
    _, exp, clock = hostile
    html = render_board([], [], [exp], clock, BoardFilters(), partial=["<b>10.0.0.7</b>:9464"])
    tags = parse(html)
    assert "b" not in {tag for tag, _ in tags.tags}
    assert "Not answering: <b>10.0.0.7</b>:9464." in "".join(tags.text)
