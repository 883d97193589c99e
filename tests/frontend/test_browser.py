"""End to end in Debian's headless Chromium: the running app, over the real API.

Screenshots go to the test's temporary directory; with ``UPDATE_SCREENSHOTS=1`` they are
also written to docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.frontend import browser
from tests.frontend.stack import ROOT, start_streamlit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not browser.browser_available(),
        reason="Debian's chromium and chromium-driver are not installed "
        "(bash infra/install-browser.sh)",
    ),
]

DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
DATA = ROOT / "data" / "CC_GENERAL.csv"


@pytest.fixture(scope="module")
def ui_url(live_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run frontend/Home.py`` on a free port, pointed at the live API."""
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with start_streamlit(live_api, log) as url:
        yield url


def screenshot(driver: Any, name: str, tmp_path: Path, top: str | None = None) -> Path:
    path = browser.save_screenshot(driver, tmp_path / name, top)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        browser.save_screenshot(driver, DOCS_SCREENSHOTS / name, top)
    return path


def median_customer_segment(api_url: str) -> str:
    """What the API says about the form's default customer (every feature at its median)."""
    features = requests.get(f"{api_url}/v1/model", timeout=30).json()["features"]
    body = {f["name"]: round(f["default"]) if f["integer"] else f["default"] for f in features}
    answer = requests.post(f"{api_url}/v1/segment", json=body, timeout=30).json()
    return str(answer["segment"]["name"])


def segment_names(api_url: str) -> list[str]:
    segments = requests.get(f"{api_url}/v1/segments", timeout=30).json()["segments"]
    return [str(segment["name"]) for segment in segments]


def go_to(driver: Any, url_path: str) -> None:
    """Follow the sidebar link (same browser session, so the last score is kept)."""
    link = driver.find_element(
        "css selector", f'[data-testid="stSidebarNavLink"][href$="/{url_path}"]'
    )
    link.click()


def test_scores_the_default_customer_in_chromium(
    ui_url: str, live_api: str, tmp_path: Path
) -> None:
    expected = median_customer_segment(live_api)
    with browser.chromium(window=(1440, 1900)) as driver:
        driver.get(f"{ui_url}/score")
        browser.wait_for_text(driver, "Score this customer")
        browser.wait_until_idle(driver)
        browser.click_button(driver, "Score this customer")
        browser.wait_for_text(driver, f"Segment: {expected}")
        browser.wait_for_text(driver, "Recommended action:")
        browser.wait_until_idle(driver)
        shot = screenshot(driver, "score.png", tmp_path)
    assert shot.stat().st_size > 20_000  # a real rendering, not a blank page


def test_path_to_another_segment_in_chromium(ui_url: str, live_api: str, tmp_path: Path) -> None:
    """After a score (a typical cash-advance revolver), the Score page's path section to
    the first other segment: the changes, the map with the arrow and the check."""
    with browser.chromium(window=(1440, 1700)) as driver:
        driver.get(f"{ui_url}/score")
        browser.wait_for_text(driver, "Score this customer")
        browser.wait_until_idle(driver)
        start = next(name for name in segment_names(live_api) if "cash" in name.lower())
        browser.choose(driver, "Start from", f"Typical member of: {start}")
        browser.wait_until_idle(driver)
        browser.click_button(driver, "Score this customer")
        browser.wait_for_text(driver, f"Segment: {start}")
        browser.wait_for_text(driver, "Path to another segment")
        browser.wait_until_idle(driver)
        browser.click_button(driver, "Find a path")
        browser.wait_for_text(driver, "What would change", timeout=120)
        browser.wait_for_text(driver, "Check: the proposed customer")
        browser.wait_for_text(driver, "not a credit decision")
        browser.wait_until_idle(driver)
        shot = screenshot(driver, "path.png", tmp_path, top="Path to another segment")
    assert shot.stat().st_size > 20_000


def test_every_page_renders_in_chromium(ui_url: str, tmp_path: Path) -> None:
    with browser.chromium(window=(1440, 1000)) as driver:
        driver.get(ui_url)
        browser.wait_for_text(driver, "What you can do")
        browser.wait_until_idle(driver)
        screenshot(driver, "home.png", tmp_path)

        go_to(driver, "score")
        browser.wait_for_text(driver, "Score this customer")
        browser.click_button(driver, "Score this customer")
        browser.wait_for_text(driver, "Recommended action:")

        driver.set_window_size(1440, 2300)
        go_to(driver, "segments")
        browser.wait_for_text(driver, "last scored customer")
        browser.wait_until_idle(driver)
        screenshot(driver, "segments.png", tmp_path)

        driver.set_window_size(1440, 1900)
        go_to(driver, "model")
        browser.wait_for_text(driver, "Choosing the number of segments")
        browser.wait_for_text(driver, "Segment stability")
        browser.wait_until_idle(driver)
        screenshot(driver, "model.png", tmp_path)

        driver.set_window_size(1440, 2500)
        go_to(driver, "batch")
        browser.wait_for_text(driver, "Choose a file to begin.")
        sample = tmp_path / "customers.csv"
        lines = DATA.read_text().splitlines()
        sample.write_text("\n".join(lines[:1201]) + "\n")  # header + 1,200 real customers
        browser.upload(driver, sample)
        browser.click_button(driver, "Score 1,200 rows", timeout=60)
        browser.wait_for_text(driver, "Rows per segment", timeout=180)
        # The drift summary of both pieces together, as the Monitoring page shows one.
        browser.wait_for_text(driver, "Drift against training", timeout=60)
        browser.wait_for_text(driver, "Drift per variable (PSI)")
        browser.wait_for_text(driver, "Segment shares: now vs training")
        browser.wait_for_text(driver, "Scored rows")
        browser.wait_until_idle(driver)
        screenshot(driver, "batch.png", tmp_path)
    for name in ("home.png", "segments.png", "model.png", "batch.png"):
        assert (tmp_path / name).stat().st_size > 20_000


def test_monitoring_page_renders_drift_and_migration_in_chromium(
    ui_url: str, scored_reports: str, tmp_path: Path
) -> None:
    with browser.chromium(window=(1440, 2000)) as driver:
        driver.get(f"{ui_url}/monitoring")
        browser.wait_for_text(driver, "Drift per variable (PSI)", timeout=120)
        browser.wait_for_text(driver, "Matched by CUST_ID", timeout=120)
        browser.wait_for_text(driver, "Retrain:")
        browser.wait_until_idle(driver)
        shot = screenshot(driver, "monitoring.png", tmp_path)
    assert shot.stat().st_size > 20_000
