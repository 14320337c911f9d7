"""The audit report in a real browser (Debian's chromium, driven by Playwright): it prints to
PDF. The board's browser tests run against the real server: tests/board/test_board_browser.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import CHROMIUM
from playwright.async_api import Browser

from sentinel.status.period import Period
from sentinel.status.report import build_report, render_report

from .helpers import Example

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


async def test_the_html_report_prints_to_a_pdf(
    browser: Browser, example: Example, tmp_path: Path
) -> None:
    html = render_report(build_report(example.rollouts, Period()), "html")
    context = await browser.new_context()
    tab = await context.new_page()
    await tab.set_content(html)
    pdf = await tab.pdf(format="A4", print_background=True)
    await context.close()
    (tmp_path / "report.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    assert 20_000 < len(pdf) < 5_000_000
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page>") + pdf.count(b"/Type/Page") > 0
