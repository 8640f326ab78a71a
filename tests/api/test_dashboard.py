"""The dashboard in a real headless browser (Playwright driving Debian's chromium) against a
real node: the page loads and goes live, the chart follows a burst, and the queue buttons
pause, resume and purge a function's async queue.

Set LAMINA_SCREENSHOT_DIR to keep a screenshot of the page taken during the burst (docs/).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import NodeProcess, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Longest the page may take to show something the node already has (ms).
PAGE_WAIT_MS = 20_000
SLEEPY = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    print("slept", event.get("sleep", 0))
    return "ok"
"""


@pytest.fixture
def page() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 860})
        tab.set_default_timeout(PAGE_WAIT_MS)
        try:
            yield tab
        finally:
            browser.close()


def stats(node: NodeProcess, name: str) -> dict[str, Any]:
    snap: dict[str, Any] = httpx.get(node.url + "/lamina/v1/stats", timeout=10).json()
    return dict(snap["functions"][name])


def cell(page: Any, name: str, column: str) -> Any:
    return page.locator(f'tr[data-function="{name}"] td.{column}')


def open_live(page: Any, node: NodeProcess) -> None:
    page.goto(node.url + "/ui")
    page.wait_for_selector("#status.live")


def test_page_loads_server_rendered_and_goes_live(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    name = create_function({"app.py": SLEEPY})["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=4)
    html = httpx.get(node.url + "/ui", timeout=10)
    assert html.status_code == 200 and f'data-function="{name}"' in html.text
    assert "https://" not in html.text  # nothing from elsewhere: the page works offline


def test_chart_follows_a_burst(
    page: Any, node: NodeProcess, lam: Any, create_function: Any
) -> None:
    name = create_function({"app.py": SLEEPY})["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    open_live(page, node)
    assert page.title() == "Lamina dashboard"
    assert cell(page, name, "running").inner_text() == "0 / 3"
    # When a burst of 8 one-second events arrives (3 may run at once)
    for _ in range(8):
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"sleep": 1}))
    # Then the function's line rises to its limit, and the table shows the queue behind it
    line = f'polyline[data-series="{name}"]'
    page.wait_for_function(
        f"document.querySelector('{line}') && +document.querySelector('{line}').dataset.peak >= 3"
    )
    assert page.locator(f'line[data-limit="{name}"]').count() == 1
    if os.environ.get("LAMINA_SCREENSHOT_DIR"):
        page.click(f'tr[data-function="{name}"] td.name')
        page.wait_for_selector("#recent details", timeout=PAGE_WAIT_MS)
        page.screenshot(path=str(Path(os.environ["LAMINA_SCREENSHOT_DIR"]) / "dashboard.png"))
    # and falls back to 0 once the queue has drained
    page.wait_for_function(f"+document.querySelector('{line}').dataset.last === 0", timeout=60_000)
    assert stats(node, name)["invocations"] == 8


def test_queue_buttons_pause_resume_and_purge(
    page: Any, node: NodeProcess, lam: Any, create_function: Any
) -> None:
    name = create_function({"app.py": SLEEPY})["FunctionName"]
    open_live(page, node)
    # Given the queue paused from the page
    page.click(f'tr[data-function="{name}"] button[data-action="pause"]')
    page.wait_for_function(
        f"document.querySelector('tr[data-function=\"{name}\"] td.state').textContent === 'paused'"
    )
    # When events arrive, they are held: the page shows them queued, none has run
    for i in range(3):
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"i": i}))
    wait_for(lambda: cell(page, name, "depth").inner_text() == "3", timeout=20)
    assert stats(node, name)["invocations"] == 0
    assert cell(page, name, "age").inner_text().endswith(" s")
    # When resumed from the page, they run
    page.click(f'tr[data-function="{name}"] button[data-action="resume"]')
    wait_for(lambda: stats(node, name)["invocations"] == 3, timeout=30)
    wait_for(lambda: cell(page, name, "depth").inner_text() == "0", timeout=20)
    # The function's recent invocations: one REPORT line each, with its log inside
    page.click(f'tr[data-function="{name}"] td.name')
    page.wait_for_function("document.querySelectorAll('#recent details').length === 3")
    assert page.inner_text("#recent details summary").startswith("REPORT RequestId: ")
    assert "slept 0" in page.locator("#recent details pre").first.text_content()
    # Purge asks first, then drops what waits
    page.click(f'tr[data-function="{name}"] button[data-action="pause"]')
    wait_for(lambda: cell(page, name, "state").inner_text() == "paused", timeout=20)
    for i in range(2):
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"i": i}))
    wait_for(lambda: cell(page, name, "depth").inner_text() == "2", timeout=20)
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.click(f'tr[data-function="{name}"] button[data-action="purge"]')
    page.wait_for_function("document.getElementById('message').textContent.includes('purged')")
    assert asked and "Purge the 2 queued events" in asked[0]
    assert "purged 2 events" in page.inner_text("#message")
    wait_for(lambda: cell(page, name, "depth").inner_text() == "0", timeout=20)
    assert stats(node, name)["invocations"] == 3


def test_stream_sends_a_snapshot_at_least_every_second(node: NodeProcess) -> None:
    seen = 0
    with httpx.stream("GET", node.url + "/lamina/v1/stream", timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data: "):
                snap = json.loads(line[len("data: ") :])
                assert {"at", "account", "functions"} <= snap.keys()
                seen += 1
                if seen == 3:
                    break
    assert seen == 3
