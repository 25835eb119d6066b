"""`latentedit serve` in a real browser: Debian's headless Chromium driven by Playwright.

Starts the server (uvicorn, a free port, the shipped toy-faces models), uploads scikit-image's astronaut photo,
moves the smile slider with the keyboard, and checks that the preview's pixels change and that the pasted-back
download is a valid PNG. The screenshot goes to a temporary folder, or to docs/serve.png with
LATENTEDIT_UPDATE_DOCS=1. Skips (one line) without the serve extra, Playwright or a Chromium binary.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the 'serve' extra (uvicorn) is not installed")
pytest.importorskip("playwright.sync_api", reason="playwright (python package) is not installed")

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "serve.png"


def chromium_path() -> str | None:
    for candidate in (os.environ.get("LATENTEDIT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    import uvicorn

    from latentedit.serve import build_state, create_app

    state = build_state()
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < end and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
    state.close()


@pytest.fixture(scope="module")
def browser():
    exe = chromium_path()
    if exe is None:
        pytest.skip("no Chromium binary (apt-get install chromium, or set LATENTEDIT_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def pixels(data_url: str) -> np.ndarray:
    from PIL import Image

    assert data_url.startswith("data:image/png;base64,"), data_url[:40]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB"),
                      dtype=np.int16)


def test_upload_move_smile_download(server, browser, tmp_path):
    from PIL import Image

    skdata = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) is not installed")
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    outside: list[str] = []
    page = browser.new_page(viewport={"width": 1180, "height": 720}, accept_downloads=True)
    page.on("request", lambda req: None if req.url.startswith((server, "data:", "blob:")) else outside.append(req.url))
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.select_option("#method", "isf")
    page.set_input_files("#upload", str(photo))
    page.wait_for_selector("#preview[data-seq]", timeout=120_000)  # inversion done, first edit shown
    assert page.locator("#aligned").get_attribute("src").startswith("data:image/png")
    assert "PSNR" in page.locator("#recon-error").inner_text()
    assert page.locator("#message").is_hidden()
    before_seq = int(page.locator("#preview").get_attribute("data-seq"))
    before = pixels(page.locator("#preview").get_attribute("src"))

    slider = page.locator("#slider-smile")
    slider.focus()
    for _ in range(15):  # 0 -> +1.5 in steps of 0.1, one input event (and request) each
        page.keyboard.press("ArrowRight")
    assert slider.input_value() == "1.5"
    page.wait_for_function("(s) => Number(document.querySelector('#preview').dataset.seq) === s",
                           arg=before_seq + 15, timeout=60_000)  # the last move's edit is the one shown
    after = pixels(page.locator("#preview").get_attribute("src"))
    assert after.shape == before.shape == (64, 64, 3)
    assert np.abs(after - before).mean() > 1.0, "moving the smile slider did not change the preview"

    page.wait_for_function("document.querySelector('#pasted').complete && "
                           "document.querySelector('#pasted').naturalWidth > 0", timeout=60_000)
    with page.expect_download(timeout=60_000) as dl:
        page.click("#download-pasted")
    saved = tmp_path / "pasted.png"
    dl.value.save_as(saved)
    with Image.open(saved) as im:
        assert im.format == "PNG" and im.size == (512, 512)
        im.verify()

    shot = DOCS_SHOT if os.environ.get("LATENTEDIT_UPDATE_DOCS") == "1" else tmp_path / "serve.png"
    with Image.open(io.BytesIO(page.screenshot())) as im:  # 128 colours keep the docs image small
        im.convert("RGB").quantize(128).save(shot, optimize=True)
    assert shot.stat().st_size > 1000
    assert outside == [], f"the page fetched from outside the server: {outside}"
    page.close()


def test_bad_upload_shows_a_message(server, browser, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"definitely not an image")
    page = browser.new_page()
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.set_input_files("#upload", str(bad))
    page.wait_for_selector("#message:not([hidden])", timeout=30_000)
    text = page.locator("#message").inner_text()
    assert "accepted formats" in text and "Traceback" not in text
    page.close()
