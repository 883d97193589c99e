"""Drive Debian's headless Chromium (via its chromium-driver) against a running Streamlit app.

Only the distribution's browser and driver are used: Selenium is pointed at both
explicitly and told to stay offline, so it never downloads a browser or a driver.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
WINDOW = (1440, 1800)


def browser_available() -> bool:
    """Both Debian packages (chromium, chromium-driver) are installed."""
    return CHROMIUM.is_file() and CHROMEDRIVER.is_file()


@contextmanager
def chromium(window: tuple[int, int] = WINDOW) -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile, closed (and its profile removed) after."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch anything
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={window[0]},{window[1]}")
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        try:
            yield driver
        finally:
            driver.quit()


def wait_for_text(driver: WebDriver, text: str, timeout: float = 60) -> None:
    """Wait until ``text`` is visible somewhere in the app."""
    xpath = f"//*[contains(normalize-space(.), {_xpath_literal(text)}) and not(*)]"
    try:
        WebDriverWait(driver, timeout).until(
            expected_conditions.visibility_of_element_located((By.XPATH, xpath))
        )
    except TimeoutException:
        raise AssertionError(f"{text!r} did not appear in {timeout} s") from None


def wait_until_idle(driver: WebDriver, timeout: float = 60) -> None:
    """Wait until Streamlit has finished running the page script (and drawn its output)."""
    idle = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    WebDriverWait(driver, timeout).until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, idle)
            and not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        )
    )
    time.sleep(1.0)  # let Vega and the data grid finish painting before a screenshot


def upload(driver: WebDriver, path: Path, timeout: float = 30) -> None:
    """Give ``path`` to the page's file uploader, once it is there (the page's text can be
    drawn before its uploader on a busy machine)."""
    field = WebDriverWait(driver, timeout).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, 'input[type="file"]'))
    )
    field.send_keys(str(path))


def click_button(driver: WebDriver, label: str, timeout: float = 30) -> None:
    """Click the button whose text is ``label``."""
    xpath = f"//button[.//*[normalize-space(text())={_xpath_literal(label)}]]"
    button = WebDriverWait(driver, timeout).until(
        expected_conditions.element_to_be_clickable((By.XPATH, xpath))
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()


def choose(driver: WebDriver, label: str, option: str, timeout: float = 30) -> None:
    """Pick ``option`` in the select box labelled ``label`` (its combo box's list)."""
    box = f"//input[@role='combobox'][@aria-label={_xpath_literal(label)}]"
    opener = WebDriverWait(driver, timeout).until(
        expected_conditions.element_to_be_clickable((By.XPATH, f"{box}/../button"))
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", opener)
    opener.click()
    choice = f"//*[@role='option'][normalize-space(.)={_xpath_literal(option)}]"
    WebDriverWait(driver, timeout).until(
        expected_conditions.element_to_be_clickable((By.XPATH, choice))
    ).click()


def save_screenshot(driver: WebDriver, path: Path, top: str | None = None) -> Path:
    """Scroll the app back to the top (or, with ``top``, to the heading holding that text)
    and save a PNG of the window."""
    driver.execute_script(
        "document.querySelectorAll('section, [data-testid=\"stMain\"]')"
        ".forEach(e => e.scrollTo && e.scrollTo(0, 0));"
    )
    if top is not None:
        xpath = f"//*[self::h1 or self::h2 or self::h3][contains(., {_xpath_literal(top)})]"
        heading = driver.find_element(By.XPATH, xpath)
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", heading)
        time.sleep(0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not driver.save_screenshot(str(path)):
        raise AssertionError(f"Chromium could not write {path}")
    return path


def _xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    parts = text.split("'")
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in parts) + ")"
