"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright against a real ``durable dashboard`` server (a subprocess on a free port) over a
real SQLite store holding paused, failed, completed and fanned-out instances.

What a person sees is checked (the live values, the waits, the timeline), links are followed
(list -> instance -> child -> parent), the list is filtered through its form, and
screenshots are saved under ``$DURABLE_ARTIFACTS`` (default: ``artifacts/`` at the root of
the repository), their paths printed. Without Chromium the tests are skipped, with the reason
printed, unless ``CI`` is set: CI installs it (.ci/run) and runs them.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (it is in the test group)"
    return None


def _say(config: pytest.Config, text: str) -> None:
    """A line in the test log even while pytest captures output (CI keeps the log)."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n{text}", flush=True)


@pytest.fixture(scope="module", autouse=True)
def _need_a_browser(pytestconfig: pytest.Config) -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests, but: {reason}")
    _say(pytestconfig, f"skipping the browser tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def screenshot(pytestconfig: pytest.Config) -> Callable[[Any, str], pathlib.Path]:
    """Saves a full-page screenshot as NAME under the artifacts folder; logs its path."""

    def take(page: Any, name: str) -> pathlib.Path:
        folder = pathlib.Path(os.environ.get("DURABLE_ARTIFACTS") or ROOT / "artifacts")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        page.screenshot(path=str(path), full_page=True)
        _say(pytestconfig, f"screenshot saved: {path}")
        return path

    return take


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def _rows(page: Any) -> dict[str, str]:
    """The list's rows as shown: id -> the row's visible text."""
    rows = page.locator("#instances tbody tr")
    return {
        rows.nth(n).locator("td.id").inner_text(): rows.nth(n).inner_text()
        for n in range(rows.count())
    }


def test_the_list_shows_every_instance_and_its_wait(
    server: str, page: Any, screenshot: Callable[[Any, str], pathlib.Path]
) -> None:
    page.goto(server + "/")
    assert page.title() == "Instances · durable"
    rows = _rows(page)
    assert {"approval-1", "nap-1", "billing-1", "broken-1", "quick-1", "fanout-1"} <= set(rows)
    assert re.search(r"paused\s.*event approve until \d{4}-", rows["approval-1"])
    assert re.search(r"timer until \d{4}-", rows["nap-1"])
    assert "retry of step programs.dashboard_flows:charge (attempt 2) at" in rows["billing-1"]
    assert "children: 1 of 3 done (mode all)" in rows["fanout-1"]
    assert "failed" in rows["broken-1"] and "completed" in rows["quick-1"]
    assert screenshot(page, "dashboard-list.png").stat().st_size > 0


def test_links_lead_from_the_list_to_a_child_and_back_to_its_parent(server: str, page: Any) -> None:
    page.goto(server + "/")
    page.get_by_role("link", name="fanout-1", exact=True).click()
    page.wait_for_url("**/instances/fanout-1")
    assert "children: 1 of 3 done (mode all)" in page.locator("#waiting").inner_text()
    assert "'fan'" in page.locator("table.locals").inner_text()  # the live variable `label`
    page.locator("#children a").first.click()
    page.wait_for_url("**/instances/fanout-1%2F1.1.0")
    assert page.locator("#instance-id").inner_text() == "fanout-1/1.1.0"
    assert "event approve until" in page.locator("#waiting").inner_text()
    page.locator("#parent").click()
    page.wait_for_url("**/instances/fanout-1")
    assert page.locator("#instance-id").inner_text() == "fanout-1"


def test_an_instance_page_shows_live_values_the_wait_and_the_timeline(
    server: str, page: Any, screenshot: Callable[[Any, str], pathlib.Path]
) -> None:
    page.goto(server + "/")
    page.get_by_role("link", name="billing-1", exact=True).click()
    page.wait_for_url("**/instances/billing-1")
    summary = page.locator("#summary").inner_text()
    assert "retry of step programs.dashboard_flows:charge" in summary
    assert re.search(r"next attempt at\s+\d{4}-", summary)
    order = page.locator("table.locals tr", has_text="order").last.locator("td")
    assert order.all_inner_texts() == ["order", "Order(sku='widget', qty=3)", "Order"]
    timeline = page.locator("#history li").all_inner_texts()
    assert timeline[0].startswith("instance.started")
    assert any(entry.startswith("instance.paused") for entry in timeline)
    screenshot(page, "dashboard-instance.png")
    page.goto(server + "/")
    page.get_by_role("link", name="approval-1", exact=True).click()
    text = page.locator("main").inner_text()
    assert "'Ada orders 3 x widget'" in text  # the live variable `note`
    assert re.search(r"note\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+\{'from': 'ops'\}", text)


def test_the_status_filter_narrows_the_list(server: str, page: Any) -> None:
    page.goto(server + "/")
    page.select_option("#status", "failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/?status=failed*")
    assert list(_rows(page)) == ["broken-1"]
    page.get_by_role("link", name="broken-1", exact=True).click()
    assert "cannot ship -4 of widget" in page.locator("#failure").inner_text()
