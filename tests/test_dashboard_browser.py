"""The dashboard in a real browser: the README's command serves it on 127.0.0.1, headless
Chromium (Debian's package, driven by Playwright) opens it, steps and plays the model, moves a
lever, resets, and checks that the charts change and no error shows.

Skipped when there is no Chromium, except in CI (CI=true), where that is a failure: .ci/run
installs it. ``SIM_UPDATE_SCREENSHOT=1`` also writes the README's screenshot, docs/dashboard.png.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

# A browser, a served app and Chromium: the slow tier.
pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = ROOT / "docs" / "dashboard.png"


def _chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                "chromium is not installed (apt-get install -y chromium); CI must run the browser tests"
            )
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_sweep: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``solara run sim/app.py`` as the README says, on a free local port."""
    _chromium()
    port = _free_port()
    log = tmp_path_factory.mktemp("solara") / "server.log"
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False", "SIM_SWEEP_DIR": str(tiny_sweep)}
    solara = Path(sys.executable).with_name("solara")
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                str(solara),
                "run",
                "sim/app.py",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--production",
                "--no-open",
                "--no-check-version",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield browser
        browser.close()


def _open(browser, url: str) -> tuple[object, list[str]]:
    page = browser.new_page(viewport={"width": 1500, "height": 1150})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(url)
    return page, errors


def _chart_sources(page) -> list[str]:
    images = page.locator(".vue-grid-layout img")
    return [images.nth(i).get_attribute("src") or "" for i in range(images.count())]


def _assert_no_error(page, errors: list[str]) -> None:
    body = page.inner_text("body")
    assert not errors, errors
    for word in ("Traceback", "error in step", "Cannot build the model", "Error:"):
        assert word not in body, body[:2000]


def test_live_page_plays_steps_and_rebuilds_with_a_lever_moved(server, browser):
    page, errors = _open(browser, server)
    page.wait_for_selector(".vue-grid-layout img", timeout=90_000)
    page.get_by_text("Week shown: none yet (0 of 261)").wait_for(timeout=30_000)
    assert page.locator(".vue-grid-layout img").count() == 3
    empty = _chart_sources(page)

    page.get_by_role("button", name="Step").click()
    page.get_by_text("Time: 13.0").wait_for(timeout=30_000)
    page.get_by_text("week 13 of 261").wait_for(timeout=30_000)
    page.wait_for_function(
        """(before) => {
        const now = [...document.querySelectorAll('.vue-grid-layout img')].map(i => i.src);
        return now.length === before.length && now.every((src, i) => src !== before[i]);
    }""",
        arg=empty,
        timeout=30_000,
    )

    started = time.monotonic()
    page.get_by_role("button", name="▶").click()
    page.get_by_text(re.compile(r"week 261 of 261")).wait_for(timeout=120_000)
    played = time.monotonic() - started
    print(f"\nplayed weeks 14-261 (both runs, charts every 13 weeks) in {played:.1f} s")
    time.sleep(2.0)  # let the last chart images arrive
    assert "ban in force" not in page.locator(".week-rules").inner_text()  # the pilot reopened
    _assert_no_error(page, errors)
    page.screenshot(
        path=str(
            SCREENSHOT
            if os.environ.get("SIM_UPDATE_SCREENSHOT") == "1"
            else Path(os.environ.get("TMPDIR", "/tmp")) / "dashboard.png"
        )
    )
    played_sources = _chart_sources(page)

    # Move a lever (the ban off), rebuild, step: the event key and the charts follow.
    page.locator("label", has_text="Social-commerce ban").click()  # the checkbox's label
    assert not page.get_by_label("Social-commerce ban").is_checked()
    page.get_by_role("button", name="Reset").click()
    page.get_by_text("Time: 0.0").wait_for(timeout=30_000)
    page.get_by_text("Week shown: none yet (0 of 261)").wait_for(timeout=30_000)
    assert "Social-commerce ban (04 Oct 2023)" not in page.inner_text("body")
    assert "US$100 cross-border floor" in page.inner_text("body")
    page.get_by_role("button", name="Step").click()
    page.get_by_text("week 13 of 261").wait_for(timeout=30_000)
    page.wait_for_function(
        """(before) => {
        const now = [...document.querySelectorAll('.vue-grid-layout img')].map(i => i.src);
        return now.length === before.length && now.every((src, i) => src !== before[i]);
    }""",
        arg=played_sources,
        timeout=30_000,
    )
    _assert_no_error(page, errors)
    page.close()


def test_a_bad_date_shows_a_message_not_a_crash(server, browser):
    page, errors = _open(browser, server)
    page.wait_for_selector(".vue-grid-layout img", timeout=90_000)
    field = page.get_by_label("Ban date (YYYY-MM-DD)")
    field.fill("2023-02-30")
    field.press("Enter")
    page.get_by_role("button", name="Reset").click()
    page.get_by_text(re.compile(r"Cannot build the model: scenario\.social_commerce_ban\.date")).wait_for(
        timeout=30_000
    )
    assert not errors, errors
    page.close()


def test_sweep_page_shows_bands_and_the_policy_effect(server, browser, tiny_sweep):
    page, errors = _open(browser, server + "sweep")
    page.get_by_text(re.compile(r"4 of 4 runs ok in")).wait_for(timeout=90_000)
    page.wait_for_function("document.querySelectorAll('img').length >= 2", timeout=60_000)
    sizes = page.evaluate("[...document.querySelectorAll('img')].map(i => i.naturalWidth)")
    assert len(sizes) == 2 and min(sizes) > 500  # both figures arrived and decoded
    assert "history (2 seeds)" in page.inner_text("body")
    _assert_no_error(page, errors)
    page.close()
