"""The page of a build in a real browser: Debian's chromium, driven through chromium-driver.

scripts/test installs both (BACKVIZ_APT_EXTRA); the test fails, rather than skips, when
they are missing, so that CI never passes without having run it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from backviz.cli import cli

FIG2 = ["1/(1+exp(-(w0*x0+w1*x1+w2)))", "--w0", "2", "--x0", "-1", "--w1", "-3", "--x1", "-2",
        "--w2", "-3"]


def _program(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                       else None)
        if found:
            return found
    raise AssertionError(f"{names[0]} is not installed: apt-get install chromium chromium-driver "
                         "(scripts/test does it)")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = _program("chromium", "chromium-browser")
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(_program("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _shown(driver: WebDriver) -> list[str]:
    return [img.get_attribute("id") or "" for img in driver.find_elements(By.CSS_SELECTOR, ".frames img")
            if img.is_displayed()]


def test_the_page_steps_through_the_frames(browser: WebDriver, tmp_path: Path) -> None:
    folder = tmp_path / "build"
    result = CliRunner().invoke(cli, [*FIG2, "--steps", "-o", str(folder)])
    assert result.exit_code == 0, result.output
    browser.get((folder / "index.html").resolve().as_uri())
    counter = browser.find_element(By.ID, "counter")
    caption = browser.find_element(By.ID, "caption")
    assert counter.text == "frame 0 of 9"
    assert _shown(browser) == ["frame-0"]
    first = browser.find_element(By.ID, "frame-0").get_attribute("src")
    assert first and first.startswith("data:image/svg+xml;base64,")
    # The frame really is drawn (an image that failed to load has no natural width).
    assert browser.execute_script("return document.getElementById('frame-0').naturalWidth") > 0

    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT)
    assert counter.text == "frame 1 of 9"
    assert _shown(browser) == ["frame-1"]
    assert browser.find_element(By.ID, "frame-1").get_attribute("src") != first
    assert caption.text == "The backward pass starts at the output: df/df = 1.00."
    body.send_keys(Keys.ARROW_RIGHT)
    assert (counter.text, caption.text) == ("frame 2 of 9",
                                             "1/x gate, 1/(1+exp(-(w0*x0+w1*x1+w2))): "
                                             "(-1/1.37^2)(1.00) = -0.53")

    browser.find_element(By.ID, "prev").click()
    assert counter.text == "frame 1 of 9"
    body.send_keys(Keys.END)
    assert counter.text == "frame 9 of 9" and _shown(browser) == ["frame-9"]
    assert browser.find_element(By.ID, "next").get_attribute("disabled") is not None
    body.send_keys(Keys.ARROW_RIGHT)  # past the end: stays on the last frame
    assert counter.text == "frame 9 of 9"
    body.send_keys(Keys.HOME)
    browser.find_element(By.ID, "next").click()
    assert counter.text == "frame 1 of 9"

    shot = tmp_path / "page.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
