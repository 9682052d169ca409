"""The results page: what each notebook checked and measured, rendered as a reader sees it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Browser
from report_samples import results

from eventlab import report


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as chromium:
        yield chromium


def test_the_page_shows_checks_as_n_of_m_with_claims_figures_with_units_and_aws_beside(tmp_path: Path) -> None:
    page = report.write_index(results(tmp_path), tmp_path, tmp_path).read_text()
    assert "3 / 4" in page and "2 / 2 checks" in page and "1 / 2 checks" in page
    assert "a standard queue loses no message" in page and "more shards admit more records" in page
    assert "1 shard 500/s, 2 shards 500/s" in page, "a failed check shows what was seen"
    assert "known difference on ministack" in page
    assert "delivery latency p50, standard queue" in page and ">ms<" in page and "measured on ministack" in page
    assert "p50 16.2 ms, p99 105 ms" in page, "a latency of the sqs path stands beside AWS's published figure"
    assert "throttled · one" in page, "a notebook without a table shows its figures, flattened"
    assert 'src="thumbnails/01-sqs-1.png"' in page and (tmp_path / "thumbnails" / "01-sqs-1.png").exists()
    assert 'href="01-sqs.html"' in page and (tmp_path / "01-sqs.html").exists()
    assert "cell 31: ChecksFailed" in page
    assert "<script" not in page and "http://" not in page.replace("http://127.0.0.1", "")


def test_the_page_renders_in_headless_chromium_without_console_errors(tmp_path: Path, browser: Browser) -> None:
    index = report.write_index(results(tmp_path), tmp_path, tmp_path)
    visit = browser.visit(index.as_uri())
    assert visit.title.startswith("eventlab results: 3 / 4 checks")
    assert visit.errors == [], f"console errors: {visit.errors}"
    assert not visit.blank(), "the screenshot shows nothing"
    (tmp_path / "screenshot.png").write_bytes(visit.screenshot)


def test_a_broken_page_is_caught_by_the_browser_checks(tmp_path: Path, browser: Browser) -> None:
    """The checks above can fail: a script error and a missing image are console errors, an empty
    page is blank."""
    broken = tmp_path / "broken.html"
    broken.write_text("<!doctype html><title>x</title><img src='missing.png'><script>nosuch()</script>")
    visit = browser.visit(broken.as_uri())
    assert any("nosuch" in e for e in visit.errors) and any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in visit.errors), visit.errors
    empty = tmp_path / "empty.html"
    empty.write_text("<!doctype html><title>empty</title><body></body>")
    assert browser.visit(empty.as_uri()).blank()
