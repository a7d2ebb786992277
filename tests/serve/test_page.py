"""The web page (static/index.html, app.css, app.js) in a real browser: Playwright drives
Debian's chromium against a real ``rnnkit serve`` process on the tiny runs, and what the
page shows is checked against the JSON API's own answers for the same input.

Without chromium or the playwright package the tests are skipped, saying why, unless
RNNKIT_REQUIRE_BROWSER=1 (as in CI), which makes that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

NAMES = ("sentiment", "seqclass", "charlm", "generator", "forecast", "seq2seq")
CHROMIUM = shutil.which("chromium")
REQUIRED = os.environ.get("RNNKIT_REQUIRE_BROWSER") == "1"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 375, "height": 740}


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if CHROMIUM is None:
        return "no chromium on PATH (apt-get install chromium; `make test` does so as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        return f"playwright cannot be imported ({error}): pip install -e '.[test]'"
    return None


MISSING = _missing()
if MISSING and not REQUIRED:
    pytest.skip(MISSING, allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    if MISSING:
        pytest.fail(f"RNNKIT_REQUIRE_BROWSER=1 but {MISSING}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(browser, tiny_runs, tmp_path_factory):
    """``python -m rnnkit serve`` on a free port of 127.0.0.1, stopped at the end."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    command = [sys.executable, "-m", "rnnkit", "serve", *(str(tiny_runs / n) for n in NAMES),
               "--host", "127.0.0.1", "--port", str(port), "--drain", "5"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process, log)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def page(browser, server):
    """A fresh page at / (desktop size); fails the test on any JavaScript error."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server + "/")
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(url: str, process: subprocess.Popen, log: Path, seconds=60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"rnnkit serve exited ({process.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    pytest.fail(f"rnnkit serve not healthy after {seconds:g} s:\n{log.read_text()}")


def _api(server: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{server}/v1/models/{path}", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _open(page, name: str):
    """Select the model's tab; -> its panel."""
    page.get_by_role("tab", name=name, exact=True).click()
    panel = page.locator(f'section[data-model="{name}"]')
    from playwright.sync_api import expect

    expect(panel).to_be_visible()
    return panel


def _type_sentence(page, text: str):
    from playwright.sync_api import expect

    panel = _open(page, "sentiment")
    panel.get_by_label("Text").press_sequentially(text, delay=25)  # key by key
    bars = panel.locator(f'.bars[data-text="{text}"] .bar')
    expect(bars).to_have_count(len(text.split()))
    return panel, bars


def test_sentiment_bars_are_the_api_trace(page, server):
    from playwright.sync_api import expect

    text = "so much fun"
    panel, bars = _type_sentence(page, text)
    shown = bars.evaluate_all("bs => bs.map(b => [b.dataset.word, Number(b.dataset.p), b.title])")
    expected = _api(server, "sentiment/predict", {"text": text, "trace": True})
    assert [word for word, _, _ in shown] == expected["trace"]["steps"] == ["so", "much", "fun"]
    for (word, p, title), row in zip(shown, expected["trace"]["probabilities"], strict=True):
        assert p == pytest.approx(row[1], abs=1e-6), word  # two classes: P(pos) after each word
        assert title.startswith(f"{word}: P(pos) = ")
    expect(panel.locator(".label")).to_have_text(f"Label: {expected['label']}")


def test_charlm_streams_the_text_the_api_generates(page, server):
    from playwright.sync_api import expect

    body = {"prime": "RO", "length": 400, "temperature": 0.9, "seed": 7}
    panel = _open(page, "charlm")
    for label, value in (("Prime", "RO"), ("Length", "400"), ("Temperature", "0.9"),
                         ("Seed", "7")):  # fmt: skip
        panel.get_by_label(label).fill(value)
    output = panel.locator(".generated")
    # every state the text goes through, recorded in the page as it changes
    output.evaluate("""node => { window.seen = [];
        new MutationObserver(() => window.seen.push(node.textContent.length))
            .observe(node, {childList: true, subtree: true, characterData: true}); }""")
    panel.get_by_role("button", name="Generate").click()
    expect(panel).to_have_attribute("data-state", "done", timeout=30_000)
    expected = _api(server, "charlm/generate", body)["text"]
    assert output.text_content() == expected
    seen = page.evaluate("window.seen")
    assert any(len("RO") < n < len(expected) for n in seen), f"no partial text: {seen}"


def test_stop_aborts_a_generation(page):
    from playwright.sync_api import expect

    panel = _open(page, "charlm")
    panel.get_by_label("Length").fill("2000")
    panel.get_by_role("button", name="Generate").click()
    output = panel.locator(".generated")
    expect(output).not_to_be_empty()
    panel.get_by_role("button", name="Stop").click()
    expect(panel).to_have_attribute("data-state", "stopped")
    expect(panel.get_by_role("status")).to_contain_text("Stopped after")
    assert len(output.text_content()) < 2000
    expect(panel.get_by_role("button", name="Generate")).to_be_enabled()


def test_forecast_chart_has_a_point_per_period(page, server, tiny_runs):
    from playwright.sync_api import expect

    csv_text = (tiny_runs / "shop.csv").read_text()
    panel = _open(page, "forecast")
    panel.get_by_label("CSV file").set_input_files(tiny_runs / "shop.csv")  # the upload...
    expect(panel.get_by_label("History (CSV)")).to_have_value(csv_text)
    panel.get_by_label("History (CSV)").fill(csv_text)  # ...and the paste
    panel.get_by_label("Horizon").fill("4")
    panel.get_by_role("button", name="Forecast").click()
    points = panel.locator("svg .forecast-point")
    expect(points).to_have_count(4)
    expected = _api(server, "forecast/forecast", {"history": csv_text, "horizon": 4})
    shown = points.evaluate_all("ps => ps.map(p => [p.dataset.time, Number(p.dataset.mean)])")
    assert [t for t, _ in shown] == expected["times"]
    assert [m for _, m in shown] == pytest.approx([row[0] for row in expected["mean"]], abs=1e-9)
    assert panel.locator("svg path.history").count() == 1
    assert panel.locator("svg path.band").count() == 1
    assert panel.locator("svg text", has_text="date").count() >= 1  # the axes are labelled
    assert panel.locator("svg text", has_text="sales").count() >= 1


def test_translate_shows_output_and_attention_map(page, server):
    from playwright.sync_api import expect

    panel = _open(page, "seq2seq")
    panel.get_by_label("Input").press_sequentially("abca")
    panel.get_by_label("Beam width").fill("1")
    panel.get_by_role("button", name="Translate").click()
    expect(panel).to_have_attribute("data-state", "done")
    expected = _api(server, "seq2seq/translate", {"text": "abca", "beam": 1})
    expect(panel.locator(".output")).to_have_text(expected["output"])
    cells = panel.locator("td.cell")
    expect(cells).to_have_count(len(expected["tokens"]) * len(expected["source"]))
    weights = cells.evaluate_all("cs => cs.map(c => Number(c.dataset.weight))")
    flat = [w for row in expected["attention"] for w in row]
    assert weights == pytest.approx(flat, abs=1e-6)


def test_an_api_error_is_an_alert(page):
    from playwright.sync_api import expect

    panel = _open(page, "generator")
    panel.get_by_label("Prime").fill("zebra")  # a word the generator never saw
    panel.get_by_role("button", name="Generate").click()
    expect(panel.get_by_role("alert")).to_contain_text("zebra")
    expect(panel).to_have_attribute("data-state", "error")


def test_screenshots_and_no_sideways_scroll_on_a_phone(page, browser, server, tiny_runs, tmp_path):
    from playwright.sync_api import expect

    _type_sentence(page, "a joy")
    desktop = tmp_path / "desktop.png"
    page.screenshot(path=str(desktop), full_page=True)
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    try:
        phone = context.new_page()
        phone.goto(server + "/")
        _type_sentence(phone, "wonderful and warm but truly a bore")
        shots = [tmp_path / "phone.png"]
        phone.screenshot(path=str(shots[0]), full_page=True)
        forecast = _open(phone, "forecast")  # the wide things: a chart, an attention map
        forecast.get_by_label("History (CSV)").fill((tiny_runs / "shop.csv").read_text())
        forecast.get_by_role("button", name="Forecast").click()
        expect(forecast.locator("svg .forecast-point")).to_have_count(6)
        translate = _open(phone, "seq2seq")
        translate.get_by_label("Input").fill("abcdabcdabcd")
        translate.get_by_label("Beam width").fill("1")
        translate.get_by_role("button", name="Translate").click()
        expect(translate).to_have_attribute("data-state", "done")
        for name in NAMES:
            _open(phone, name)
            width = phone.evaluate(
                "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
            )
            assert width[0] <= width[1] + 1, f"{name} scrolls sideways at 375 px: {width}"
        shots.append(tmp_path / "phone-seq2seq.png")
        phone.screenshot(path=str(shots[-1]), full_page=True)
    finally:
        context.close()
    for shot in (desktop, *shots):
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000, shot
    print(f"screenshots: {[str(s) for s in (desktop, *shots)]}")
