"""The page of a build and the live page in a real browser: Debian's chromium, driven through chromium-driver.

scripts/test installs both (BACKVIZ_APT_EXTRA); the test fails, rather than skips, when
they are missing, so that CI never passes without having run it.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

import backviz
from backviz.cli import cli
from backviz.live import LiveServer, Start
from backviz.notebook import LEGIBLE

FIG2 = ["1/(1+exp(-(w0*x0+w1*x1+w2)))", "--w0", "2", "--x0", "-1", "--w1", "-3", "--x1", "-2",
        "--w2", "-3"]
SIGMOID_FILE = Path(__file__).resolve().parent.parent / "expressions" / "sigmoid_neuron.toml"


def _program(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                       else None)
        if found:
            return found
    raise AssertionError(f"{names[0]} is not installed: apt-get install chromium chromium-driver "
                         "(scripts/test does it)")


SHOTS = Path(__file__).resolve().parent.parent / ".screenshots"
"""Where the screenshots are kept, to be looked at (not committed)."""


def _driver(tmp_path: Path, width: int, height: int, mobile: bool = False) -> WebDriver:
    options = Options()
    options.binary_location = _program("chromium", "chromium-browser")
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--hide-scrollbars", f"--user-data-dir={tmp_path / f'profile-{width}'}",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    if mobile:  # a phone: its viewport, its pixel ratio, touch
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 3.0, "touch": True},
            "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile"})
    return webdriver.Chrome(service=Service(_program("chromedriver")), options=options)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    driver = _driver(tmp_path, 1280, 800)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[WebDriver]:
    driver = _driver(tmp_path, 390, 844, mobile=True)
    try:
        yield driver
    finally:
        driver.quit()


def _shown(driver: WebDriver) -> list[str]:
    return [img.get_attribute("id") or "" for img in driver.find_elements(By.CSS_SELECTOR, ".frames img")
            if img.is_displayed()]


def _build(tmp_path: Path) -> Path:
    folder = tmp_path / "build"
    result = CliRunner().invoke(cli, [str(SIGMOID_FILE), "--steps", "-o", str(folder)])
    assert result.exit_code == 0, result.output
    return folder / "index.html"


_SWIPE = """
var box = document.querySelector('.frames');
function touch(type, x) {
  var t = new Touch({identifier: 1, target: box, clientX: x, clientY: 300});
  box.dispatchEvent(new TouchEvent(type, {changedTouches: [t],
                                          touches: type === 'touchend' ? [] : [t]}));
}
touch('touchstart', arguments[0]);
touch('touchend', arguments[1]);
"""


def _swipe(driver: WebDriver, start: int, end: int) -> None:
    driver.execute_script(_SWIPE, start, end)


def _screenshot(driver: WebDriver, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    shot = SHOTS / name
    assert driver.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    return shot


def test_the_page_steps_through_the_frames(browser: WebDriver, tmp_path: Path) -> None:
    browser.get(_build(tmp_path).resolve().as_uri())
    counter = browser.find_element(By.ID, "counter")
    caption = browser.find_element(By.ID, "caption")
    link = browser.find_element(By.ID, "file")
    assert counter.text == "frame 1 of 10"
    assert (link.text, link.get_attribute("href").rsplit("/", 1)[1]) == ("frame-00.svg",) * 2
    assert browser.find_element(By.TAG_NAME, "h1").text == "The sigmoid neuron, gate by gate"
    assert browser.find_element(By.CLASS_NAME, "about").text.startswith("f(w, x) = 1 / (1 + e^-")
    assert _shown(browser) == ["frame-0"]
    first = browser.find_element(By.ID, "frame-0").get_attribute("src")
    assert first and first.startswith("data:image/svg+xml;base64,")
    # The frame really is drawn (an image that failed to load has no natural width).
    assert browser.execute_script("return document.getElementById('frame-0').naturalWidth") > 0

    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT)
    assert counter.text == "frame 2 of 10" and link.text == "frame-01.svg"
    assert _shown(browser) == ["frame-1"]
    assert caption.text == "The backward pass starts at the output: df/df = 1.00."
    body.send_keys(Keys.PAGE_DOWN)  # a presenter's clicker
    assert (counter.text, caption.text) == ("frame 3 of 10", "1/x gate, 1/(1+exp(-(w0*x0+w1*x1+w2))): "
                                              "(-1/1.37^2)(1.00) = -0.53")
    body.send_keys(Keys.SPACE)
    assert counter.text == "frame 4 of 10"
    body.send_keys(Keys.ENTER)
    assert counter.text == "frame 5 of 10"
    body.send_keys(Keys.PAGE_UP)
    assert counter.text == "frame 4 of 10"
    body.send_keys(Keys.SHIFT, Keys.SPACE)
    assert counter.text == "frame 3 of 10"
    browser.find_element(By.ID, "frame-2").click()  # a click on the figure
    assert counter.text == "frame 4 of 10"

    browser.find_element(By.ID, "prev").click()
    assert counter.text == "frame 3 of 10"
    # Enter on a focused button presses it once, not twice.
    browser.find_element(By.ID, "next").send_keys(Keys.ENTER)
    assert counter.text == "frame 4 of 10"
    body.send_keys(Keys.END)
    assert counter.text == "frame 10 of 10" and _shown(browser) == ["frame-9"]
    assert browser.find_element(By.ID, "next").get_attribute("disabled") is not None
    body.send_keys(Keys.ARROW_RIGHT)  # past the end: stays on the last frame
    assert counter.text == "frame 10 of 10"
    body.send_keys(Keys.HOME)
    browser.find_element(By.ID, "next").click()
    assert counter.text == "frame 2 of 10"

    # On a wide screen the whole figure shows, larger than its natural size, no scrolling.
    box = browser.execute_script(
        "var b = document.querySelector('.frames'), i = document.getElementById('frame-1');"
        "return [b.scrollWidth, b.clientWidth, i.width, i.naturalWidth, window.innerWidth];")
    scroll_width, client_width, width, natural, window = box
    assert scroll_width <= client_width and width > natural and width <= window
    assert not browser.find_element(By.ID, "wider").is_displayed()  # nothing to scroll
    _screenshot(browser, "page-1280x800.png")
    # Browser zoom (150%: the window is 853 CSS px wide, 1.5 device pixels each) enlarges it.
    assert _zoomed_width(browser, 1280, 800, 1.5) > 1.2 * width


def _zoomed_width(driver: WebDriver, width: int, height: int, zoom: float) -> float:
    """The figure's width in device pixels when the browser zooms the page by ``zoom``."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": round(width / zoom), "height": round(height / zoom),
        "deviceScaleFactor": zoom, "mobile": False})
    shown = driver.execute_script(
        "return document.querySelector('.frames img.shown').getBoundingClientRect().width")
    return float(shown) * zoom


def test_the_page_on_a_phone_stays_legible(phone: WebDriver, tmp_path: Path) -> None:
    phone.get(_build(tmp_path).resolve().as_uri())
    sizes = phone.execute_script(
        "var b = document.querySelector('.frames'), i = document.getElementById('frame-0');"
        "return [window.innerWidth, document.documentElement.scrollWidth, b.scrollWidth,"
        " b.clientWidth, i.width, i.naturalWidth];")
    window, page_width, scroll_width, client_width, width, natural = sizes
    assert window == 390
    assert page_width <= 390  # the page itself does not scroll sideways...
    assert scroll_width > client_width  # ...the figure does, at a legible size:
    assert width == pytest.approx(0.8 * natural, abs=2)  # 14 pt text at 15 CSS px
    assert phone.find_element(By.ID, "wider").text.startswith("← the figure is wider")
    next_button = phone.find_element(By.ID, "next")
    assert next_button.size["height"] >= 44  # a finger's size
    next_button.click()
    assert phone.find_element(By.ID, "counter").text == "frame 2 of 10"
    # A swipe to the left steps forward, to the right back (touch events, as a finger sends).
    _swipe(phone, 300, 150)
    assert phone.find_element(By.ID, "counter").text == "frame 3 of 10"
    _swipe(phone, 100, 300)
    assert phone.find_element(By.ID, "counter").text == "frame 2 of 10"
    _screenshot(phone, "page-390x844.png")
    # Browser zoom (200%) enlarges the figure: it is sized in CSS pixels, not to the window.
    assert _zoomed_width(phone, 390, 844, 2) == pytest.approx(2 * width, rel=0.05)


# --- backviz live -------------------------------------------------------------------------

SIGMOID = FIG2[0]
SIGMOID_VALUES = {"w0": "2", "x0": "-1", "w1": "-3", "x1": "-2", "w2": "-3"}


@pytest.fixture
def live_url() -> Iterator[str]:
    server = LiveServer(Start(SIGMOID, SIGMOID_VALUES))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _reds(driver: WebDriver) -> list[str]:
    """The red numbers of the figure on the page, in the SVG's order."""
    texts = driver.execute_script(  # in one go: a redraw may replace the figure meanwhile
        "return [...document.querySelectorAll('#figure text[fill=\"#ff0000\"]')]"
        ".map((t) => t.textContent)")
    return [str(t) for t in texts]


def _figure(driver: WebDriver) -> str:
    return str(driver.execute_script("return document.getElementById('figure').innerHTML"))


def _until(driver: WebDriver, what: Any, message: str) -> Any:
    # A redraw replaces the figure and may replace the fields: read them again.
    return WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: what(d), message)


def _expected_reds(expression: str, values: dict[str, float]) -> list[str]:
    svg = backviz.trace(expression, values).to_svg()
    return [html.unescape(t) for t in re.findall(r'<text[^>]*fill="#ff0000"[^>]*>([^<]*)</text>', svg)]


def test_live_the_figure_follows_the_expression_box_and_the_sliders(browser: WebDriver,
                                                                    live_url: str) -> None:
    browser.get(live_url)
    _until(browser, lambda d: _reds(d), "no figure drawn")
    assert _reds(browser) == _expected_reds(SIGMOID, {k: float(v) for k, v in SIGMOID_VALUES.items()})
    assert "-0.53" in _reds(browser)

    # Type in the expression box: a new expression, its fields appear (new names start at 1).
    box = browser.find_element(By.ID, "expression")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("(x+y)*z")
    _until(browser, lambda d: [e.get_attribute("name") for e in
                               d.find_elements(By.CSS_SELECTOR, "#fields input[type=text]")]
           == ["x", "y", "z"], "the fields did not follow the expression")
    field = browser.find_element(By.CSS_SELECTOR, 'input[name="x"]')
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("-2")
    for name, value in (("y", "5"), ("z", "-4")):
        f = browser.find_element(By.CSS_SELECTOR, f'input[name="{name}"]')
        f.send_keys(Keys.CONTROL, "a")
        f.send_keys(value)
    lecture = _expected_reds("(x+y)*z", {"x": -2, "y": 5, "z": -4})
    _until(browser, lambda d: _reds(d) == lecture, "the figure is not the lecture's first")
    assert browser.find_element(By.ID, "summary").text.split("\n") == [
        "f = -12", "d/dx = -4", "d/dy = -4", "d/dz = 3"]

    # Move a slider: the red numbers change, to the trace's at the slider's value.
    slider = browser.find_element(By.CSS_SELECTOR, '.slider[data-for="z"]')
    ActionChains(browser).click_and_hold(slider).move_by_offset(30, 0).release().perform()
    z = float(browser.find_element(By.CSS_SELECTOR, 'input[name="z"]').get_attribute("value") or "nan")
    assert z != -4
    moved = _expected_reds("(x+y)*z", {"x": -2, "y": 5, "z": z})
    _until(browser, lambda d: _reds(d) == moved, f"the red numbers did not follow z = {z}")
    assert moved != lecture

    # A syntax error shows inline with its caret; the last good figure stays.
    before = _figure(browser)
    box.send_keys("*")
    error = browser.find_element(By.ID, "error")
    _until(browser, lambda d: error.is_displayed(), "no error shown")
    assert browser.find_element(By.ID, "message").text == (
        "the expression ends too early: a value is missing (column 9)")
    assert browser.find_element(By.ID, "caret").get_attribute("textContent") == (
        "  (x+y)*z*\n          ^")
    assert _figure(browser) == before
    assert "stale" in (browser.find_element(By.ID, "figure").get_attribute("class") or "")
    assert "stale" in (browser.find_element(By.ID, "summary").get_attribute("class") or "")
    box.send_keys(Keys.BACK_SPACE)
    _until(browser, lambda d: not error.is_displayed(), "the error stayed")


def test_live_steps_precision_and_the_address(browser: WebDriver, live_url: str) -> None:
    browser.get(live_url)
    _until(browser, lambda d: _reds(d), "no figure drawn")
    complete = _figure(browser)
    counter = browser.find_element(By.ID, "counter")
    caption = browser.find_element(By.ID, "caption")
    assert counter.text == "complete figure"

    browser.find_element(By.ID, "next").click()
    _until(browser, lambda d: counter.text == "frame 1 of 10", "next did not go to frame 1")
    assert caption.text == "The forward pass: every value in green, the output f = 0.73."
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT)
    _until(browser, lambda d: counter.text == "frame 2 of 10", "the arrow key did not step")
    body.send_keys(Keys.PAGE_DOWN)  # a presenter's clicker, as on the stepping page
    _until(browser, lambda d: counter.text == "frame 3 of 10", "PageDown did not step")
    body.send_keys(Keys.PAGE_UP)
    _until(browser, lambda d: counter.text == "frame 2 of 10", "PageUp did not step back")
    body.send_keys(Keys.SPACE)
    _until(browser, lambda d: caption.text == "1/x gate, 1/(1+exp(-(w0*x0+w1*x1+w2))): "
           "(-1/1.37^2)(1.00) = -0.53", "no caption")
    assert _reds(browser).count("-0.53") == 1  # the gradient 1/x sends back, and no other yet
    body.send_keys(Keys.END)
    _until(browser, lambda d: counter.text == "frame 10 of 10", "End did not go to the last frame")
    assert browser.find_element(By.ID, "next").get_attribute("disabled") is not None
    browser.find_element(By.ID, "prev").click()
    _until(browser, lambda d: counter.text == "frame 9 of 10", "previous did not step back")

    # The address holds the state: a reload shows the same frame of the same figure.
    field = browser.find_element(By.CSS_SELECTOR, 'input[name="w0"]')
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("2.5")
    Select(browser.find_element(By.ID, "precision")).select_by_visible_text("3")
    f = backviz.trace(SIGMOID, {**{k: float(v) for k, v in SIGMOID_VALUES.items()}, "w0": 2.5}).value
    _until(browser, lambda d: d.find_element(By.ID, "summary").text.startswith(f"f = {f:.3f}\n"),
           "precision 3 and w0 = 2.5 not shown")
    url = browser.current_url
    assert "frame=9" in url and "v.w0=2.5" in url and "precision=3" in url
    shown = _figure(browser)
    browser.get("about:blank")
    browser.get(url)
    counter = browser.find_element(By.ID, "counter")
    _until(browser, lambda d: counter.text == "frame 9 of 10", "the address lost the step")
    assert _figure(browser) == shown
    assert browser.find_element(By.CSS_SELECTOR, 'input[name="w0"]').get_attribute("value") == "2.5"
    assert browser.find_element(By.ID, "expression").get_attribute("value") == SIGMOID

    # The theme: the colour-blind pair replaces red and green, and the address keeps it.
    Select(browser.find_element(By.ID, "theme")).select_by_visible_text("colorblind")
    _until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#figure text[fill="#c04000"]'),
           "the colorblind theme's gradients are not drawn")
    assert _reds(browser) == [] and "theme=colorblind" in browser.current_url

    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ESCAPE)
    _until(browser, lambda d: d.find_element(By.ID, "counter").text == "complete figure",
           "Esc did not go back to the complete figure")
    assert _figure(browser) != complete  # w0 and the precision changed it


def test_live_downloads_the_figure_shown_as_svg_and_png(browser: WebDriver, live_url: str,
                                                       tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(downloads)})
    browser.get(live_url)
    _until(browser, lambda d: _reds(d), "no figure drawn")
    browser.find_element(By.ID, "download-svg").click()
    svg = downloads / "1_1_exp_w0_x0_w1_x1_w2.svg"
    _until(browser, lambda d: svg.exists(), "no SVG downloaded")
    t = backviz.trace(SIGMOID, {k: float(v) for k, v in SIGMOID_VALUES.items()})
    assert svg.read_text(encoding="utf-8") == t.to_svg()  # as the command writes it

    browser.find_element(By.ID, "next").click()  # frame 0: a frame downloads as shown
    _until(browser, lambda d: d.find_element(By.ID, "counter").text == "frame 1 of 10", "no step")
    browser.find_element(By.ID, "download-png").click()
    png = downloads / "1_1_exp_w0_x0_w1_x1_w2-frame-00.png"
    _until(browser, lambda d: png.exists() and png.stat().st_size > 1000, "no PNG downloaded")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    from backviz.render import to_bytes
    from backviz.teach import frames

    assert png.read_bytes() == to_bytes(t, "png", frames(t)[0].style)  # as -f png draws it


def test_live_a_large_graph_shows_that_it_is_drawing(browser: WebDriver, live_url: str) -> None:
    browser.get(live_url)
    _until(browser, lambda d: _reds(d), "no figure drawn")
    # Every text the status line shows, as it shows it (polling could miss a short one).
    browser.execute_script("window.statuses = [];"
                           "new MutationObserver(() => statuses.push("
                           "document.getElementById('status').textContent))"
                           ".observe(document.getElementById('status'), {childList: true});")
    large = "+".join(f"a{i}*b{i}" for i in range(200))  # 399 gates: a few tenths of a second
    browser.execute_script("const box = document.getElementById('expression');"
                           "box.value = arguments[0];"
                           "box.dispatchEvent(new Event('input', {bubbles: true}));", large)
    _until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#fields input[type=text]"))
           == 400, "the large graph never came")
    statuses = browser.execute_script("return statuses")
    assert statuses[0] == "drawing\u2026" and statuses[-1].startswith("drawn in "), statuses


def test_live_any_variable_name_gets_its_field(browser: WebDriver, live_url: str) -> None:
    """Names that a page script could mistake for its own: each is a variable like x."""
    browser.get(live_url)
    _until(browser, lambda d: _reds(d), "no figure drawn")
    box = browser.find_element(By.ID, "expression")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("constructor*__proto__ + toString")
    names = ["constructor", "__proto__", "toString"]
    _until(browser, lambda d: d.execute_script(
        "return [...document.querySelectorAll('#fields input[type=text]')].map((e) => e.name)")
        == names, "the fields are not the expression's variables")
    field = browser.find_element(By.CSS_SELECTOR, 'input[name="__proto__"]')
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("3")
    _until(browser, lambda d: d.find_element(By.ID, "summary").text.split("\n") == [
        "f = 4", "d/dconstructor = 3", "d/d__proto__ = 1", "d/dtoString = 1"],
        "the values of these names are not used")


def test_live_names_the_output_and_leaves_data_out(browser: WebDriver, live_url: str) -> None:
    """The summary calls the output by its name, and given data has no gradient in it."""
    browser.get(live_url)
    _until(browser, lambda d: _reds(d), "no figure drawn")
    browser.execute_script("const box = document.getElementById('expression');"
                           "box.value = arguments[0];"
                           "box.dispatchEvent(new Event('input', {bubbles: true}));",
                           "data y\nq = x + y\ne = q * z")
    _until(browser, lambda d: d.find_element(By.ID, "summary").text.split("\n") == [
        "e = 2", "de/dx = 1", "de/dz = 2"], "the summary does not name the output e")
# --- following the gate on a wide figure, and a build in a notebook --------------------------

_VIEW = """
var b = document.querySelector('.frames'), i = document.querySelector('.frames img.shown');
var r = i.getBoundingClientRect(), v = b.getBoundingClientRect();
return [b.scrollLeft, b.clientWidth, b.scrollWidth, r.left - v.left + b.scrollLeft, r.width,
        JSON.parse(document.getElementById('frame-data').textContent).focus];
"""


def _gate_in_view(driver: WebDriver, frame: int) -> tuple[float, float, float]:
    """Where the frame's gate is on the figure and the part of it in view (CSS px)."""
    left, width, _, img_left, img_width, focus = driver.execute_script(_VIEW)
    return img_left + focus[frame] * img_width, left, left + width


_CHAIN = 48  # gates: too long for a slide even on two rows, so it does not wrap (36 do)


def _chain_build(tmp_path: Path) -> Path:
    folder = tmp_path / "chain"
    chain = "sin(" * _CHAIN + "x" + ")" * _CHAIN
    result = CliRunner().invoke(cli, [chain, "--x", "0.5", "--steps", "-o", str(folder)])
    assert result.exit_code == 0, result.output
    return folder / "index.html"


def test_a_wide_figure_scrolls_to_the_gate_of_each_frame(browser: WebDriver, tmp_path: Path) -> None:
    browser.get(_chain_build(tmp_path).resolve().as_uri())
    _, _, scroll_width, *_ = browser.execute_script(_VIEW)
    assert scroll_width > 2 * 1280  # far wider than the window
    body = browser.find_element(By.TAG_NAME, "body")
    assert browser.execute_script(_VIEW)[0] == 0  # the forward pass starts at the inputs
    seen = []
    for frame in range(1, _CHAIN + 2):  # the output, then each gate from the right to the left
        body.send_keys(Keys.ARROW_RIGHT)
        gate, left, right = _gate_in_view(browser, frame)
        assert left + 50 <= gate <= right - 50 or left == 0, (frame, gate, left, right)
        seen.append(left)
    assert seen[0] > scroll_width - 1280 - 5  # the output: scrolled to the right end
    assert seen == sorted(seen, reverse=True) and seen[-1] < seen[0] / 4  # then leftwards


def test_on_a_phone_the_figure_follows_the_gate(phone: WebDriver, tmp_path: Path) -> None:
    phone.get(_build(tmp_path).resolve().as_uri())
    body = phone.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT)  # df/df at the output, at the right end of the figure
    gate, left, right = _gate_in_view(phone, 1)
    assert left > 0 and left <= gate <= right
    body.send_keys(Keys.END)  # the first gate, on the left
    gate, left, right = _gate_in_view(phone, 9)
    assert left <= gate <= right
    _screenshot(phone, "page-phone-follows.png")


_FITTED = """
var f = document.querySelector('.backviz-build iframe'), b = f && f.contentDocument.body;
return Boolean(b && b.offsetHeight > 0 && Math.abs(f.clientHeight - b.offsetHeight) <= 1);
"""
"""Whether the frame of a build's page is as tall as the page in it."""


def _output_area(tmp_path: Path, name: str, body: str) -> str:
    """A page with an output area as wide as a notebook's, holding ``body``."""
    path = tmp_path / name
    path.write_text(f'<!DOCTYPE html><html><body style="margin: 0"><div style="width: 900px">'
                    f"{body}</div></body></html>", encoding="utf-8")
    return path.resolve().as_uri()


@pytest.mark.parametrize("expression", ["(x+y)*z", "sigmoid", "chain"])
def test_a_build_in_a_notebook_is_as_tall_as_its_page(browser: WebDriver, tmp_path: Path,
                                                      expression: str) -> None:
    t = {"(x+y)*z": lambda: backviz.trace("(x+y)*z", x=-2, y=5, z=-4),
         "sigmoid": lambda: backviz.trace(FIG2[0], w0=2, x0=-1, w1=-3, x1=-2, w2=-3),
         "chain": lambda: backviz.trace("sin(" * 12 + "x" + ")" * 12, x=0.5)}[expression]()
    data, _ = t.steps()._repr_mimebundle_()
    browser.get(_output_area(tmp_path, "trusted.html", data["text/html"]))  # scripts run
    _until(browser, lambda d: d.execute_script(_FITTED), "the frame takes the height of its page")
    assert browser.find_elements(By.CSS_SELECTOR, ".backviz-still") == []  # the page instead
    frame = browser.find_element(By.TAG_NAME, "iframe")
    height = frame.size["height"]
    browser.switch_to.frame(frame)
    for element in ("next", "counter", "caption"):  # nothing of the page is cut off
        shown = browser.find_element(By.ID, element)
        assert shown.location["y"] + shown.size["height"] <= height, element
    browser.find_element(By.ID, "next").click()
    assert browser.find_element(By.ID, "counter").text.startswith("frame 2 of")
    browser.switch_to.default_content()
    _screenshot(browser, f"notebook-build-{expression.replace('*', '')}.png")


# --- a build in the real notebook clients: JupyterLab, trusted or not, and nbconvert ---------

BUILD_CELL = ("import backviz\n"
              "backviz.trace('1/(1+exp(-(w0*x0+w1*x1+w2)))', w0=2, x0=-1, w1=-3, x1=-2, w2=-3).steps()")
CAPTIONS = backviz.trace(FIG2[0], w0=2, x0=-1, w1=-3, x1=-2, w2=-3).steps().captions
TOKEN = "backviz-test-token"


def _executed_notebook(folder: Path) -> Path:
    """A notebook whose outputs a kernel made (nbclient), as a reader receives it: unsigned."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(BUILD_CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    path = folder / "build.ipynb"
    nbformat.write(nb, path)
    return path


def _jupyter_env(home: Path) -> dict[str, str]:
    """Jupyter's folders in the test's own: its trust database, settings and workspaces."""
    folders = {"HOME": "", "JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data",
               "JUPYTER_RUNTIME_DIR": "runtime", "JUPYTERLAB_SETTINGS_DIR": "settings",
               "JUPYTERLAB_WORKSPACES_DIR": "workspaces"}
    return {**os.environ, **{name: str(home / sub) for name, sub in folders.items()}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class _Lab:
    url: str
    root: Path
    env: dict[str, str]

    def notebook(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={TOKEN}"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[_Lab]:
    """A real JupyterLab on a free localhost port, stopped with its process group."""
    root = tmp_path / "notebooks"
    root.mkdir()
    env = _jupyter_env(tmp_path / "home")
    # no "Would you like to get notified about official Jupyter news?" over the output
    news = Path(env["JUPYTERLAB_SETTINGS_DIR"], "@jupyterlab", "apputils-extension")
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port = _free_port()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--allow-root"]  # a container's CI runs as root
    log_path = tmp_path / "jupyterlab.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_for_server(url, server, log_path)
            yield _Lab(url, root, env)
        finally:
            _stop(server)


def _wait_for_server(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):  # a minute at most
        if server.poll() is not None:
            raise AssertionError(f"jupyter lab ended: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"jupyter lab did not answer: {log.read_text(errors='replace')[-2000:]}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the server shuts its kernels down and ends; SIGKILL if it does not."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:  # it had ended, and so had its group
        pass
    server.wait()


def _output(driver: WebDriver, inside: str) -> WebElement:
    """The notebook's output of the build, once JupyterLab has rendered ``inside`` in it."""
    _until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f".jp-OutputArea-output {inside}"),
           f"JupyterLab did not show {inside}")
    return driver.find_element(By.CSS_SELECTOR, ".jp-OutputArea-output:has(.backviz-build)")


_PICTURE = """
var done = arguments[arguments.length - 1], box = arguments[0].getBoundingClientRect();
var url = getComputedStyle(arguments[0]).backgroundImage.replace(/^url\\("(.*)"\\)$/, '$1');
var picture = new Image();
picture.onload = function () {
  done([url.slice(0, 22), picture.naturalWidth, picture.naturalHeight, box.width, box.height]);
};
picture.onerror = function () { done([url.slice(0, 22), 0, 0, box.width, box.height]); };
picture.src = url;
"""


def _pictures(driver: WebDriver, output: WebElement) -> list[list[Any]]:
    """Each still frame shown: how its picture starts, its size in pixels, its size shown."""
    return [driver.execute_async_script(_PICTURE, frame)
            for frame in output.find_elements(By.CLASS_NAME, "backviz-frame") if frame.is_displayed()]


def _no_markup(text: str) -> None:
    for seen in ("<", "script", "function", "srcdoc", "iframe", "base64", "DOCTYPE"):
        assert seen not in text, seen


def test_jupyterlab_shows_a_build_as_stills_untrusted_and_as_the_page_trusted(
        lab: _Lab, browser: WebDriver) -> None:
    path = _executed_notebook(lab.root)
    browser.get(lab.notebook(path.name))
    output = _output(browser, ".backviz-still")
    # Untrusted: JupyterLab's sanitiser removed the page and the script, kept the stills.
    assert output.find_elements(By.TAG_NAME, "iframe") == []
    assert browser.find_element(By.CSS_SELECTOR, ".backviz-build").get_attribute("data-page") is None
    pictures = _pictures(browser, output)
    assert [p[0] for p in pictures] == ["data:image/png;base64,"] * 2
    for _, natural_w, natural_h, shown_w, shown_h in pictures:
        assert natural_w > 500  # drawn, at two pixels a CSS pixel (sharp on high-DPI screens):
        # shrunk to the output area (this one is narrower than the frame), legible, in shape
        assert LEGIBLE * natural_w / 2 <= shown_w < natural_w / 2
        assert shown_h == pytest.approx(shown_w * natural_h / natural_w, abs=1)
    text = output.text
    assert f"frame 1 of 10: {CAPTIONS[0]}" in text and f"frame 10 of 10: {CAPTIONS[-1]}" in text
    assert all(caption in text for caption in CAPTIONS)
    _no_markup(text)
    _screenshot(browser, "jupyterlab-build-untrusted.png")

    trusted = subprocess.run([str(Path(sys.executable).with_name("jupyter")), "trust", str(path)],
                             env=lab.env, capture_output=True, text=True, timeout=60, check=False)
    assert trusted.returncode == 0, trusted.stderr
    browser.get(lab.notebook(path.name))
    output = _output(browser, "iframe")
    assert output.find_elements(By.CLASS_NAME, "backviz-still") == []  # the page instead
    _until(browser, lambda d: d.execute_script(_FITTED), "the frame is not as tall as its page")
    frame = output.find_element(By.TAG_NAME, "iframe")
    browser.switch_to.frame(frame)
    _until(browser, lambda d: d.find_elements(By.ID, "next"), "the page did not load in its frame")
    assert browser.find_element(By.ID, "counter").text == "frame 1 of 10"
    browser.find_element(By.ID, "next").click()
    assert browser.find_element(By.ID, "counter").text == "frame 2 of 10"
    assert browser.find_element(By.ID, "caption").text == CAPTIONS[1]
    browser.switch_to.default_content()
    _screenshot(browser, "jupyterlab-build-trusted.png")


def test_nbconvert_html_shows_a_build_sanitised_as_its_captions(browser: WebDriver,
                                                                 tmp_path: Path) -> None:
    path = _executed_notebook(tmp_path)
    for name, options in (("sanitised", ["--sanitize-html"]), ("plain", [])):
        done = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", *options,
                               "--output", name, path.name], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]

    browser.get((tmp_path / "sanitised.html").as_uri())
    output = browser.find_element(By.CSS_SELECTOR, '.jp-OutputArea-output[data-mime-type="text/html"]')
    text = output.text
    assert text.splitlines()[:2] == [f"frame 1 of 10: {CAPTIONS[0]}", f"frame 10 of 10: {CAPTIONS[-1]}"]
    assert all(caption in text for caption in CAPTIONS)
    _no_markup(text)
    assert "base64" not in str(output.get_attribute("innerHTML"))  # the pictures are not there
    _screenshot(browser, "nbconvert-build-sanitised.png")

    browser.get((tmp_path / "plain.html").as_uri())  # not sanitised: the page, as trusted
    frame = _until(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".backviz-build iframe"),
                   "no page in the export")
    browser.switch_to.frame(frame)
    browser.find_element(By.ID, "next").click()
    assert browser.find_element(By.ID, "counter").text == "frame 2 of 10"
    browser.switch_to.default_content()
    _screenshot(browser, "nbconvert-build-plain.png")
