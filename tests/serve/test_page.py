"""GET / and /static/: the page and its files (content types, security headers, nothing
external, every control labelled), and the page end to end in headless Chromium against the
service on a loopback port: typing draws a Transformer's attention heatmaps and an LSTM's running
curve, and shows the prediction of POST /v1/sentiment; a translation, its alignment, generated
text and a forecast are shown too.

The browser is Debian's ``chromium`` driven by the ``playwright`` package (browsers are never
downloaded); without either the browser tests skip and say how to install them. With
SEQLAB_SCREENSHOT=path.png the Transformer test saves a screenshot of the page there.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

import seqlab
from seqlab.serve import ServeSettings, ServiceState, create_app, load_models

STATIC = files("seqlab.serve").joinpath("static")
SHIPPED = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
SENTENCE = "the acting was really wonderful"
FIXTURES_CSV = Path(__file__).parent.parent / "fixtures" / "model_dirs" / "forecasting_recent.csv"
INSTALL = (
    "the browser test needs Debian's Chromium and the playwright package: "
    "apt-get install chromium && pip install -e '.[serve-test]'"
)


# ---- the page and its files ----


def test_the_page_and_its_files_are_served_with_their_types(serve_client, sentiment_lstm_dir):
    with serve_client([f"lstm={sentiment_lstm_dir}"], api_key="secret") as client:
        page = client.get("/")  # open without the key, as the health routes
        files_served = {name: client.get(f"/static/{name}") for name in SHIPPED}
        missing = client.get("/static/nope.js")
        escape = client.get("/static/..%2Froutes%2Fpage.py")
        models = client.get("/v1/models")  # what the page asks first needs the key
    assert page.status_code == 200
    assert page.headers["content-type"] == SHIPPED["index.html"]
    assert page.text == STATIC.joinpath("index.html").read_text(encoding="utf-8")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    for name, response in files_served.items():
        assert response.status_code == 200, name
        assert response.headers["content-type"] == SHIPPED[name]
        assert response.content == STATIC.joinpath(name).read_bytes()
        assert response.headers["x-content-type-options"] == "nosniff"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NotFound"
    assert escape.status_code == 404
    assert models.status_code == 401


def test_the_files_name_nothing_outside_the_service():
    for name in SHIPPED:
        text = STATIC.joinpath(name).read_text(encoding="utf-8")
        assert not re.search(r"https?://|wss?://[^$]", text), name  # no absolute URL at all
        assert "@import" not in text and "fonts.googleapis" not in text, name
    html = STATIC.joinpath("index.html").read_text(encoding="utf-8")
    for reference in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert reference.startswith(("/", "data:")), reference
    css = STATIC.joinpath("style.css").read_text(encoding="utf-8")
    assert "url(" not in css


def test_every_control_is_labelled_and_every_id_the_script_uses_exists():
    html = STATIC.joinpath("index.html").read_text(encoding="utf-8")
    script = STATIC.joinpath("app.js").read_text(encoding="utf-8")
    ids = set(re.findall(r'\bid="([\w-]+)"', html))
    used = set(re.findall(r'\$\("([\w-]+)"\)', script))
    assert used and used <= ids, sorted(used - ids)
    labelled = set(re.findall(r'<label for="([\w-]+)"', html))
    controls = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([\w-]+)"', html))
    assert controls == {"api-key", "model", "text"}
    assert controls <= labelled


# ---- the page in a browser ----


@contextmanager
def running_service(specs: list[str]) -> Iterator[str]:
    """The service under uvicorn in a thread, on a free loopback port; yields its base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    state = ServiceState(models=load_models(specs), settings=ServeSettings())
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))  # the port is taken here, so nothing can race for it
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(state), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.perf_counter() + 30
        while not server.started:
            assert thread.is_alive() and time.perf_counter() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip(f"chromium is not installed; {INSTALL}")
    sync_api = pytest.importorskip("playwright.sync_api", reason=INSTALL)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def service(sentiment_transformer_dir, sentiment_lstm_dir, browser) -> Iterator[str]:
    specs = [f"transformer={sentiment_transformer_dir}", f"lstm={sentiment_lstm_dir}"]
    with running_service(specs) as base:
        yield base


@pytest.fixture(scope="module")
def other_service(translation_dir, lm_dir, forecasting_dir, browser) -> Iterator[str]:
    specs = [f"translator={translation_dir}", f"lm={lm_dir}", f"forecaster={forecasting_dir}"]
    with running_service(specs) as base:
        yield base


@contextmanager
def opened_page(browser: Any, base: str, first_model: str) -> Iterator[Any]:
    """A fresh page on the service at ``base`` that fails the test on a script error, a logged
    error or any request that leaves the service."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    opened.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((base, base.replace("http", "ws", 1), "data:"))
            else problems.append(f"request outside the service: {request.url}")
        ),
    )
    opened.set_default_timeout(20_000)
    opened.goto(f"{base}/")
    opened.wait_for_selector(f"#model option[value='{first_model}']", state="attached")
    yield opened
    context.close()
    assert problems == []


@pytest.fixture
def page(browser, service) -> Iterator[Any]:
    with opened_page(browser, service, "lstm") as opened:
        yield opened


@pytest.fixture
def other_page(browser, other_service) -> Iterator[Any]:
    with opened_page(browser, other_service, "translator") as opened:
        yield opened


def wait_until(page: Any, expression: str, seconds: float = 20.0) -> None:
    """Poll a JavaScript expression until it is true. (Playwright's wait_for_function evaluates
    its predicate with eval inside the page, which the page's Content-Security-Policy forbids.)"""
    deadline = time.perf_counter() + seconds
    while not page.evaluate(expression):
        assert time.perf_counter() < deadline, f"not true within {seconds:g} s: {expression}"
        time.sleep(0.05)


def drawn_pixels(page: Any, selector: str) -> dict[str, int]:
    """How many pixels of the canvas are painted (not transparent, not white), and in how many
    distinct colours."""
    return page.eval_on_selector(
        selector,
        """canvas => {
            const context = canvas.getContext("2d");
            const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            const colours = new Set();
            for (let i = 0; i < data.length; i += 4) {
                const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
                if (a > 0 && r + g + b < 720) { painted += 1; colours.add(`${r},${g},${b}`); }
            }
            return {painted, colours: colours.size, width: canvas.width, height: canvas.height};
        }""",
    )


def type_sentence(page: Any, model: str) -> None:
    page.select_option("#model", model)
    page.locator("#text").press_sequentially(SENTENCE, delay=15)


def check_prediction(page: Any, model_dir: Path) -> None:
    expected = seqlab.load(model_dir).predict([SENTENCE])[0]
    label = expected["sentiment"]
    page.wait_for_selector(f"#prediction[data-label='{label}']")
    score = expected["confidenceScores"][label]
    assert f"({100 * score:.1f}% confident)" in page.inner_text("#prediction")
    shown = page.locator("#scores .score .value").all_inner_texts()
    assert shown == [f"{100 * p:.1f}%" for p in expected["confidenceScores"].values()]


def test_a_transformer_s_attention_heatmaps_are_drawn(page, service, sentiment_transformer_dir):
    type_sentence(page, "transformer")
    page.wait_for_selector("#heatmaps canvas[data-drawn='true']")
    wait_until(page, "document.querySelectorAll('#heatmaps canvas').length === 4")
    captions = page.locator("#heatmaps h3").all_inner_texts()
    assert captions == ["Layer 1", "Layer 2"]  # the tiny model: 2 layers of 2 heads
    tokens = len(seqlab.load(sentiment_transformer_dir).attention(SENTENCE)["tokens"])
    label = page.get_attribute("#heatmaps canvas", "aria-label")
    assert label.startswith(f"Layer 1, head 1: attention among {tokens} tokens; strongest: ")
    pixels = drawn_pixels(page, "#heatmaps canvas")
    cells = pixels["width"] * pixels["height"]
    assert pixels["painted"] > cells // 10, pixels  # a drawn map, not a blank canvas
    assert pixels["colours"] > 5, pixels  # many weights, many shades
    check_prediction(page, sentiment_transformer_dir)
    screenshot = os.environ.get("SEQLAB_SCREENSHOT")
    if screenshot:
        page.screenshot(path=screenshot, full_page=True)


def test_an_lstm_s_running_sentiment_curve_gets_a_point_per_word(page, sentiment_lstm_dir):
    type_sentence(page, "lstm")
    words = len(SENTENCE.split())
    wait_until(page, f"document.querySelector('#curve').dataset.points === '{words}'")
    stream = seqlab.load(sentiment_lstm_dir).stream()
    final = stream.push(SENTENCE)
    wait_until(
        page,
        f"document.querySelector('#curve-note').textContent.startsWith('After {words} word(s)')",
    )
    note = page.inner_text("#curve-note")
    assert note.startswith(f"After {words} word(s): {final.label}. Mode: {final.mode}"), note
    pixels = drawn_pixels(page, "#curve")
    assert pixels["painted"] > 500 and pixels["colours"] > 2, pixels
    assert page.locator("#attention-panel").is_hidden()  # a recurrent model has no heatmaps


def test_the_prediction_comes_with_its_confidences(
    page, service, sentiment_lstm_dir, sentiment_transformer_dir
):
    type_sentence(page, "lstm")
    check_prediction(page, sentiment_lstm_dir)
    page.fill("#text", "")
    type_sentence(page, "transformer")
    check_prediction(page, sentiment_transformer_dir)


def test_translation_generation_and_forecast_are_shown(
    other_page, translation_dir, lm_dir, forecasting_dir
):
    page = other_page
    sentence = "one red two"
    page.select_option("#model", "translator")
    page.fill("#text", sentence)
    page.click("#run")
    page.wait_for_selector("#alignment canvas[data-drawn='true']")
    expected = seqlab.load(translation_dir).alignment(sentence)
    wait_until(page, "document.querySelector('#translation').textContent !== ''")
    assert page.inner_text("#translation") == expected.translation
    label = page.get_attribute("#alignment canvas", "aria-label")
    assert label.startswith(
        f"Alignment of {len(expected.target_tokens)} target subwords over "
        f"{len(expected.source_tokens)} source subwords"
    )
    pixels = drawn_pixels(page, "#alignment canvas")
    assert pixels["painted"] > pixels["width"] * pixels["height"] // 10, pixels

    page.select_option("#model", "lm")
    page.fill("#text", "Seq")
    page.click("#run")
    wait_until(page, "document.querySelector('#generated').textContent.length > 20")
    assert page.inner_text("#prompt-echo") == "Seq"
    wait_until(page, "document.querySelector('#status').textContent === ''")  # done

    rows = FIXTURES_CSV.read_text(encoding="utf-8")
    forecast = seqlab.load(forecasting_dir).forecast(FIXTURES_CSV)
    page.select_option("#model", "forecaster")
    page.fill("#text", rows)
    page.click("#run")
    page.wait_for_selector("#forecast-charts canvas[data-drawn='true']")
    assert page.locator("#forecast-charts figcaption").all_inner_texts() == list(forecast.columns)
    table = page.eval_on_selector_all(
        "#forecast-table tr", "rows => rows.map(row => [...row.cells].map(c => c.textContent))"
    )
    assert table[0] == ["timestamp", *forecast.columns]
    assert len(table) == len(forecast) + 1
    for cells, (_, row) in zip(table[1:], forecast.iterrows(), strict=True):
        values = [float(cell) for cell in cells[1:]]
        assert values == pytest.approx(list(row.astype(float)), rel=1e-4)
    pixels = drawn_pixels(page, "#forecast-charts canvas")
    assert pixels["painted"] > 500, pixels
