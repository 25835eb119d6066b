"""`latentedit serve`'s HTTP API through FastAPI's in-process client, on the shipped toy-faces models."""

from __future__ import annotations

import base64
import io
import struct
import threading
import time
import warnings
import zlib

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi) is not installed")
pytest.importorskip("multipart", reason="the 'serve' extra (python-multipart) is not installed")
pytest.importorskip("httpx", reason="httpx (FastAPI's TestClient) is not installed")

with warnings.catch_warnings():  # newer Starlette asks for httpx2 instead of httpx; both work
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from latentedit.serve import ServeConfig, ServeState, build_state, create_app  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def state():
    st = build_state()
    yield st
    st.close()


@pytest.fixture(scope="module")
def client(state):
    with TestClient(create_app(state)) as c:
        yield c


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def astronaut() -> bytes:
    skdata = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) is not installed")
    return png(skdata.astronaut())


def decode(data_url_or_bytes) -> np.ndarray:
    raw = data_url_or_bytes
    if isinstance(raw, str):
        assert raw.startswith("data:image/png;base64,")
        raw = base64.b64decode(raw.split(",", 1)[1])
    with Image.open(io.BytesIO(raw)) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB")).astype(np.int16)


def wait_job(client, job: dict, timeout: float = 120.0) -> dict:
    end = time.monotonic() + timeout
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < end, f"inversion job stuck at {job}"
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['job_id']}").json()
    return job


def assert_clean_error(r, status: int, *words: str):
    assert r.status_code == status, r.text
    msg = r.json()["error"]
    assert "Traceback" not in r.text and "\n" not in msg
    for w in words:
        assert w in msg, msg


def edit(client, item_id, amounts, *, seq=0, page="pageA", method="isf", condition=None):
    r = client.post("/api/edit", json={"item_id": item_id, "page": page, "seq": seq, "method": method,
                                       "amounts": amounts, "condition": condition})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def seed_item(client) -> str:
    return client.post("/api/sample", json={"seed": 3}).json()["item_id"]


@pytest.fixture(scope="module")
def photo_item(client, astronaut) -> dict:
    r = client.post("/api/invert", files={"file": ("astronaut.png", astronaut, "image/png")})
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json())
    assert job["state"] == "done", job
    return job["item"]


# ---- page and info --------------------------------------------------------------------------------------------
def test_page_and_static_files_are_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and "<script src=\"/static/app.js\">" in page.text
    for name in ("app.js", "style.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and len(r.text) > 100
        assert "http://" not in r.text and "https://" not in r.text and "@import" not in r.text
    assert "http://" not in page.text and "https://" not in page.text


def test_no_route_reads_a_path(client):
    for url in ("/static/index.html/../../pipeline.py", "/static/..%2Fpipeline.py", "/static/pipeline.py",
                "/static/%2Fetc%2Fpasswd", "/api/edits/..%2F..%2Fetc/face.png"):
        r = client.get(url)
        assert r.status_code == 404, (url, r.status_code)
        assert "import" not in r.text and "root:" not in r.text


def test_info_lists_methods_and_attributes(client):
    info = client.get("/api/info").json()
    names = {m["name"]: m for m in info["methods"]}
    assert {"isf", "directions", "sensorium"} <= set(names)
    assert "smile" in names["isf"]["attributes"]
    assert (names["directions"]["condition"], names["isf"]["condition"], names["sensorium"]["condition"]) == (
        "none", "z", "style")
    assert names["sensorium"]["reference"] and info["resolution"] == 64 and info["photos"]


# ---- sources --------------------------------------------------------------------------------------------------
def test_sample_by_seed_is_cached(client, seed_item):
    again = client.post("/api/sample", json={"seed": 3}).json()
    other = client.post("/api/sample", json={"seed": 4}).json()
    assert again["item_id"] == seed_item and other["item_id"] != seed_item
    assert decode(again["recon"]).shape == (64, 64, 3)
    assert_clean_error(client.post("/api/sample", json={"seed": -1}), 422, "seed")


def test_photo_inversion_reports_crop_recon_error_and_is_cached(client, photo_item, astronaut):
    assert decode(photo_item["aligned"]).shape == (64, 64, 3) and decode(photo_item["recon"]).shape == (64, 64, 3)
    err = photo_item["error"]
    assert 0 < err["mse"] < 4 and err["psnr"] == pytest.approx(10 * np.log10(4 / err["mse"]))
    assert photo_item["has_photo"] and not photo_item["cached"]
    r = client.post("/api/invert", files={"file": ("again.png", astronaut, "image/png")}).json()
    assert r["state"] == "done" and r["item"]["item_id"] == photo_item["item_id"] and r["item"]["cached"]
    r = client.post("/api/invert", files={"file": ("a.png", astronaut, "image/png")}, data={"align": "false"})
    job = wait_job(client, r.json())
    assert job["state"] == "done" and job["item"]["item_id"] != photo_item["item_id"]
    assert not job["item"]["has_photo"]  # a central square has nothing to paste back into


def test_progress_is_reported_while_inverting(state, client, astronaut, monkeypatch):
    release = threading.Event()
    real = state.models.invert

    def slow(crop):
        release.wait(10)
        return real(crop)

    monkeypatch.setattr(state.models, "invert", slow)
    flipped = np.ascontiguousarray(np.asarray(Image.open(io.BytesIO(astronaut)).convert("RGB"))[:, ::-1])
    r = client.post("/api/invert", files={"file": ("flip.png", png(flipped), "image/png")})
    seen, end = r.json(), time.monotonic() + 30
    while seen["stage"] != "encoding" and time.monotonic() < end:  # blocked inside the encoder
        time.sleep(0.02)
        seen = client.get(f"/api/jobs/{seen['job_id']}").json()
    assert seen["state"] == "running" and seen["progress"] == pytest.approx(0.4)
    release.set()
    assert wait_job(client, seen)["state"] == "done"


# ---- bad uploads ----------------------------------------------------------------------------------------------
def _bomb_png(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header declares ``width`` x ``height`` (a decompression bomb's signature)."""
    raw = png(np.zeros((4, 4, 3), np.uint8))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return raw[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + raw[33:]


@pytest.mark.parametrize("payload, status, words", [
    (b"", 400, ["empty"]),
    (b"this is not an image at all", 415, ["accepted formats"]),
    (b"%PDF-1.4\n" + b"0" * 100, 415, ["accepted formats"]),
    ("truncated", 400, ["truncated"]),
    ("bomb", 413, ["decompression", "40.0 MP"]),
    ("bomb64", 413, ["8000x8000", "decompression"]),
])
def test_bad_uploads_get_a_4xx_with_a_message(client, payload, status, words):
    if payload == "truncated":
        payload = png((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))[:400]
    elif payload == "bomb":
        payload = _bomb_png(30000, 30000)  # beyond PIL's own limit
    elif payload == "bomb64":
        payload = _bomb_png(8000, 8000)  # under PIL's limit, over the server's 40 MP
    for url, data in (("/api/invert", {}), ("/api/reference", {"method": "sensorium"})):
        assert_clean_error(client.post(url, files={"file": ("x.png", payload, "image/png")}, data=data),
                           status, *words)


def test_upload_byte_limit_and_missing_file(state, astronaut):
    small = ServeState(state.models, ServeConfig(max_upload_bytes=10_000, max_pixels=100_000))
    with TestClient(create_app(small)) as c:
        assert_clean_error(c.post("/api/invert", files={"file": ("a.png", astronaut, "image/png")}), 413, "MB")
        # under the byte limit but over the pixel limit
        big = png(np.zeros((400, 400, 3), np.uint8))
        assert len(big) < 10_000
        assert_clean_error(c.post("/api/invert", files={"file": ("b.png", big, "image/png")}), 413, "0.2 MP")
        assert_clean_error(c.post("/api/invert"), 422, "file")
    small.close()


def test_photo_without_a_face_is_an_error_on_the_page(client):
    flat = png(np.full((128, 128, 3), 127, np.uint8))
    job = wait_job(client, client.post("/api/invert", files={"file": ("flat.png", flat, "image/png")}).json())
    assert job["state"] == "error" and job["status"] == 422 and "no face" in job["message"]
    assert "align" in job["message"] and "Traceback" not in job["message"]


# ---- edits ----------------------------------------------------------------------------------------------------
def test_smile_slider_changes_the_preview(client, seed_item):
    base = decode(edit(client, seed_item, {"smile": 0.0}, seq=0, page="smile")["face"])
    moved = decode(edit(client, seed_item, {"smile": 1.5}, seq=1, page="smile")["face"])
    back = decode(edit(client, seed_item, {"smile": 0.0}, seq=2, page="smile")["face"])
    assert np.abs(moved - base).mean() > 1.0  # grey levels (0..255) on average
    assert np.array_equal(back, base)
    both = decode(edit(client, seed_item, {"smile": 1.5, "eyeglasses": 1.5}, seq=3, page="smile")["face"])
    assert np.abs(both - moved).mean() > 0.5  # sliders apply together


@pytest.mark.parametrize("method", ["isf", "directions", "sensorium"])
def test_every_method_edits_and_downloads_decode(client, photo_item, method, state, tmp_path):
    from latentedit.latents import load_latents

    r = edit(client, photo_item["item_id"], {"smile": 1.0, "age": -0.5}, method=method, page=f"dl-{method}")
    face = client.get(r["face_url"])
    assert face.status_code == 200 and np.array_equal(decode(face.content), decode(r["face"]))
    pasted = client.get(r["pasted_url"])
    assert pasted.status_code == 200 and decode(pasted.content).shape == (512, 512, 3)
    lat = client.get(r["latent_url"])
    assert lat.status_code == 200
    f = tmp_path / "e.wplus.safetensors"  # the W+ file loads for this generator and holds one code
    f.write_bytes(lat.content)
    G = state.models.G
    lf = load_latents(f, G)
    assert lf.space == "w_plus" and tuple(lf.tensor.shape) == (1, G.num_ws, G.w_dim)
    assert lf.extra["method"] == method and lf.extra["attrs"] == {"smile": 1.0, "age": -0.5}


def test_seed_sample_has_no_paste_back(client, seed_item):
    r = edit(client, seed_item, {"smile": 1.0}, page="nopaste")
    assert r["pasted_url"] is None
    assert_clean_error(client.get(f"/api/edits/{r['edit_id']}/pasted.png"), 404, "no photo")
    assert client.get(f"/api/items/{seed_item}/latent").status_code == 200


def test_bad_edit_requests_are_4xx(client, seed_item):
    def post(**kw):
        body = {"item_id": seed_item, "page": "bad", "seq": 0, "method": "isf", "amounts": {"smile": 1}}
        return client.post("/api/edit", json={**body, **kw})

    assert_clean_error(post(method="nope"), 400, "unknown method", "isf")
    assert_clean_error(post(amounts={"smiel": 1}), 400, "smile")
    assert_clean_error(post(amounts={"smile": 99}), 400, "within")
    assert_clean_error(post(item_id="0" * 16), 404, "unknown image")
    assert_clean_error(post(item_id="../../etc/passwd"), 422, "item_id")
    assert_clean_error(post(page="a b"), 422, "page")
    assert_clean_error(post(condition={"row_id": "feedfeedfeedfeed"}), 404, "sample row")
    assert_clean_error(client.post("/api/edit", content=b"{not json", headers={"content-type": "application/json"}),
                       422, "bad request")
    assert_clean_error(client.get("/api/edits/0123456789abcdef/face.png"), 404, "unknown edit")
    assert_clean_error(client.get("/api/jobs/nope"), 404, "unknown job")
    assert_clean_error(client.get("/api/items/0123456789abcdef/latent"), 404, "unknown image")


def test_concurrent_slider_requests_render_only_the_latest(state, client, seed_item, monkeypatch):
    page, n = "burst", 8
    real = state.models.edit
    rendered: list[float] = []
    early: list[int] = []

    def slow_edit(method, w, amounts, condition=None):
        rendered.append(amounts["smile"])
        if len(rendered) == 1:  # hold the first render until the burst has arrived and the stale ones left
            end = time.monotonic() + 20
            while (state.gate.latest(page) != n - 1 or len(results) < n - 2) and time.monotonic() < end:
                time.sleep(0.01)
            early.append(len(results))
        return real(method, w, amounts, condition)

    monkeypatch.setattr(state.models, "edit", slow_edit)
    results: dict[int, dict] = {}

    def move(seq):
        results[seq] = edit(client, seed_item, {"smile": seq / 4}, seq=seq, page=page)

    first = threading.Thread(target=move, args=(0,))
    first.start()
    while not rendered:
        time.sleep(0.01)
    threads = [threading.Thread(target=move, args=(s,)) for s in range(1, n)]
    for t in threads:
        t.start()
    for t in threads + [first]:
        t.join(60)
    assert sorted(results) == list(range(n))
    assert rendered == [0.0, (n - 1) / 4]  # the first (already running) and the latest; the rest dropped
    assert early == [n - 2]  # the dropped ones were answered during the first render, not queued behind it
    assert client.get("/api/info").json()["edits"]["dropped"] >= n - 2
    assert {s for s, r in results.items() if r["status"] == "ok"} == {0, n - 1}
    assert all(r["status"] == "stale" and r["latest"] > s for s, r in results.items() if s not in (0, n - 1))
    # another page is not held back by this one's sequence numbers
    assert edit(client, seed_item, {"smile": 1.0}, seq=0, page="other")["status"] == "ok"
    assert edit(client, seed_item, {"smile": 1.0}, seq=3, page=page)["status"] == "stale"


# ---- multimodal -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["random", "clusters"])
def test_row_of_samples_and_picking_one(client, seed_item, mode):
    r = client.post("/api/samples", json={"item_id": seed_item, "method": "isf", "amounts": {"smile": 1.0},
                                          "n": 4, "mode": mode, "seed": 1})
    assert r.status_code == 200, r.text
    images = [decode(i) for i in r.json()["images"]]
    assert len(images) == 4
    assert min(np.abs(images[i] - images[j]).mean() for i in range(4) for j in range(i)) > 0.1
    picked = edit(client, seed_item, {"smile": 1.0}, page=f"row-{mode}",
                  condition={"row_id": r.json()["row_id"], "index": 2})
    assert np.array_equal(decode(picked["face"]), images[2])


def test_row_refused_for_deterministic_method_and_too_many(client, seed_item):
    body = {"item_id": seed_item, "method": "directions", "amounts": {"smile": 1.0}, "n": 4}
    assert_clean_error(client.post("/api/samples", json=body), 400, "deterministic")
    assert_clean_error(client.post("/api/samples", json={**body, "method": "isf", "n": 40}), 400, "at most")
    assert_clean_error(client.post("/api/samples", json={**body, "mode": "best"}), 422, "mode")


def test_sensorium_reference_photo(client, photo_item, astronaut):
    r = client.post("/api/reference", files={"file": ("ref.png", astronaut, "image/png")},
                    data={"method": "sensorium"})
    assert r.status_code == 200, r.text
    assert decode(r.json()["image"]).shape == (64, 64, 3)
    default = decode(edit(client, photo_item["item_id"], {"smile": 1.0}, method="sensorium", page="ref")["face"])
    styled = edit(client, photo_item["item_id"], {"smile": 1.0}, method="sensorium", page="ref", seq=1,
                  condition={"ref_id": r.json()["ref_id"]})
    assert np.abs(decode(styled["face"]) - default).mean() > 0.1
    assert_clean_error(client.post("/api/reference", files={"file": ("ref.png", astronaut, "image/png")},
                                   data={"method": "isf"}), 400, "reference")


def test_without_an_encoder_only_samples(state, astronaut):
    import dataclasses

    bare = ServeState(dataclasses.replace(state.models, encoder=None, encoder_note="no encoder given"))
    with TestClient(create_app(bare)) as c:
        info = c.get("/api/info").json()
        assert not info["photos"] and info["encoder_note"] == "no encoder given"
        job = wait_job(c, c.post("/api/invert", files={"file": ("a.png", astronaut, "image/png")}).json())
        assert job["state"] == "error" and job["status"] == 409 and "encoder" in job["message"]
        assert c.post("/api/sample", json={"seed": 1}).status_code == 200
    bare.close()


def test_models_come_from_the_domain_and_explicit_files_win(tmp_path):
    import json
    import os

    from latentedit.domains import DomainError, load_domain
    from latentedit.serve import ModelPaths
    from latentedit.serve.loading import load_models

    toy = load_domain("toyfaces")
    default = load_models(ModelPaths())  # nothing given: the only installed domain (toy-faces)
    assert [m.name for m in default.mappers] == list(toy.mappers) and default.encoder is not None
    assert default.generator.fingerprint() in toy.fingerprints and default.encoder_note == ""
    # a domain file (JSON): its generator and mappers; it names no encoder, so the page edits samples only
    (tmp_path / "d.json").write_text(json.dumps({"name": "mine", "generator": toy.generator.path,
                                                 "mappers": {"directions": toy.mappers["directions"].path}}))
    mine = load_models(ModelPaths(domain=str(tmp_path / "d.json")))
    assert [m.name for m in mine.mappers] == ["directions"] and mine.encoder is None
    assert "domain 'mine' has no local encoder" in mine.encoder_note and "--encoder" in mine.encoder_note
    # explicit files win over the domain's; a YAML domain file's paths are relative to the file
    rel = os.path.relpath(toy.generator.path, tmp_path)
    (tmp_path / "d.yaml").write_text(f"name: mine\ngenerator: {rel}\nmappers: {{isf: missing.safetensors}}\n")
    both = load_models(ModelPaths(domain=str(tmp_path / "d.yaml"), encoder=toy.encoder.path,
                                  mappers=(toy.mappers["sensorium"].path,)))
    assert [m.name for m in both.mappers] == ["sensorium"] and both.encoder is not None
    with pytest.raises(DomainError, match="no editing method.*isf.*missing.safetensors is missing"):
        load_models(ModelPaths(domain=str(tmp_path / "d.yaml")))  # the one listed mapper file is absent
    (tmp_path / "bad.yaml").write_text("- just\n- a list\n")
    for spec, words in ((str(tmp_path / "bad.yaml"), "expected a mapping"),
                        (str(tmp_path / "none.json"), "cannot read"), ("toyface", "Did you mean: toyfaces")):
        with pytest.raises(DomainError, match=words):
            load_models(ModelPaths(domain=spec))


# ---- the command ----------------------------------------------------------------------------------------------
def test_serve_command_without_the_extra_is_one_line(monkeypatch):
    from click.testing import CliRunner

    from latentedit.cli import serve_cmd

    monkeypatch.setattr(serve_cmd, "missing_extra", lambda: ["fastapi", "uvicorn"])
    r = CliRunner().invoke(serve_cmd.serve, [])
    assert r.exit_code == 1 and "pip install 'latentedit[serve]'" in r.output
    assert r.output.count("\n") == 1 and "Traceback" not in r.output


def test_serve_command_warns_off_loopback_and_passes_settings(monkeypatch):
    import uvicorn
    from click.testing import CliRunner

    from latentedit.cli import serve_cmd

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    r = CliRunner().invoke(serve_cmd.serve, ["--host", "0.0.0.0", "--port", "8123", "--max-upload-mb", "2"])
    assert r.exit_code == 0, r.output
    assert "warning: binding to 0.0.0.0" in r.output and (seen["host"], seen["port"]) == ("0.0.0.0", 8123)
    assert seen["app"].state.serve.config.max_upload_bytes == 2_000_000
    r = CliRunner().invoke(serve_cmd.serve, [])
    assert r.exit_code == 0 and "warning" not in r.output and seen["host"] == "127.0.0.1"
    r = CliRunner().invoke(serve_cmd.serve, ["--domain", "nope"])
    assert r.exit_code == 1 and "no domain named 'nope'" in r.output and "Traceback" not in r.output
    assert r.output.count("\n") == 1


def test_loopback_detection():
    from latentedit.serve.config import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2") and not is_loopback("example.org")
