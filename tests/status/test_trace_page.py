"""The rollout page's and the board row's trace links as HTML: only http(s) links, escaped;
the trace id shown without a link; nothing from a peer that names no trace."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from sentinel.status.markup import rollout_row, trace_anchor
from sentinel.status.rollout_page import render_rollout_page

from .helpers import Example

CLOCK = 0.0


class Links(HTMLParser):
    """The attributes of every `<a class="trace-link">` and the text of every `.trace-id`."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []
        self.ids: list[str] = []
        self._in_id = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("class") == "trace-link":
            self.links.append(found)
        self._in_id = tag == "code" and found.get("class") == "trace-id"

    def handle_data(self, data: str) -> None:
        if self._in_id:
            self.ids.append(data)
            self._in_id = False


def parsed(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


def test_only_an_http_link_is_a_link_and_it_is_escaped() -> None:
    assert trace_anchor("javascript:alert(1)", "trace", "x") == ""
    assert trace_anchor(None, "trace", "x") == ""
    assert trace_anchor(["https://x"], "trace", "x") == ""
    hostile = 'https://tempo.example/t?"><script>alert(1)</script>'
    [link] = parsed(trace_anchor(hostile, "trace", 'of "<b>"')).links
    assert link["href"] == hostile  # the attribute holds it as text
    assert link["aria-label"] == 'of "<b>"'
    assert (link["target"], link["rel"]) == ("_blank", "noopener noreferrer")
    assert "<script>" not in trace_anchor(hostile, "trace", "x")


def test_the_rollout_page_links_what_the_api_links_and_shows_the_id(example: Example) -> None:
    full = dict(example.rollout("r-1002"))
    untraced = parsed(render_rollout_page(full, None, CLOCK))
    assert untraced.links == []
    assert untraced.ids == [full["trace_id"]]

    full["trace_url"] = "https://tempo.example/trace/1"
    full["steps"] = [{**step, "trace_url": f"https://tempo.example/s/{step['step']}"}
                     for step in full["steps"]]  # fmt: skip
    traced = parsed(render_rollout_page(full, None, CLOCK))
    hrefs = [link["href"] for link in traced.links]
    assert hrefs == ["https://tempo.example/trace/1"] + [
        f"https://tempo.example/s/{step['step']}" for step in full["steps"]
    ]


def test_a_peers_rollout_without_a_trace_shows_no_trace(example: Example) -> None:
    older: dict[str, Any] = {
        key: value for key, value in example.rollout("r-1002").items() if key != "trace_id"
    }
    html = render_rollout_page(older, None, CLOCK)
    assert "<dt>Trace</dt>" not in html
    row = {key: value for key, value in older.items() if key != "findings"}
    assert parsed(rollout_row(row, CLOCK)).links == []
    row["trace_url"] = "https://tempo.example/trace/2"
    assert [link["href"] for link in parsed(rollout_row(row, CLOCK)).links] == [row["trace_url"]]
