"""Named public domains and fetching their files: a local HTTP server stands in for the publishers."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import socket
import threading

import pytest
from click.testing import CliRunner

from latentedit.cli.main import cli
from latentedit.domains import DomainError, DomainFile, domain_file, find_domain, load_domain
from latentedit.domains.fetch import FetchError, NoNetwork, cached_path, download, fetch_domain, resolve_file

PAYLOAD = bytes(range(256)) * 300  # 76.8 kB: several read chunks


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "weights.bin").write_bytes(PAYLOAD)
    (root / "other.npy").write_bytes(b"npy" * 10)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTEDIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "domains"


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _domain_file(tmp_path, files: dict) -> str:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"name": "mine", **files}))
    return str(path)


def test_builtin_ffhq_domain_lists_the_official_files_without_invented_hashes():
    d = load_domain("ffhq")
    assert d.source == "ffhq"
    assert d.generator.url.endswith("/stylegan2-ffhq-config-f.pkl")
    assert d.generator.file_name == "stylegan2-ffhq-config-f.pkl"
    assert d.encoder.file_name == "e4e_ffhq_encode.pt" and "1cUv_reLE6k3604or78EranS7XzuVMWeO" in d.encoder.url
    assert d.identity.file_name == "20180402-114759-vggface2.pt"
    assert d.extras["lpips_alex"].file_name == "alexnet-owt-7be5be79.pth"
    assert any(k.startswith("interfacegan_") for k in d.extras)
    for f in d.all_files().values():
        assert f.url.startswith("https://") and f.path is None
        assert f.sha256 is None  # none is published by the authors


def test_sha256_must_be_64_hex_digits():
    with pytest.raises(DomainError, match="64 hex digits"):
        DomainFile(url="http://x/a", sha256="abc")


def test_fetch_downloads_verifies_and_resolves_from_cache(tmp_path, server, cache, capsys):
    spec = _domain_file(tmp_path, {
        "generator": {"url": f"{server}/weights.bin", "size": len(PAYLOAD),
                      "sha256": hashlib.sha256(PAYLOAD).hexdigest()},
        "extras": {"boundary": {"url": f"{server}/other.npy", "name": "smile.npy"}}})
    d = find_domain(spec)
    assert resolve_file(d, d.generator) is None
    results = fetch_domain(d, progress=True)
    assert [r.status for r in results] == ["fetched", "fetched"]
    assert (cache / "mine" / "weights.bin").read_bytes() == PAYLOAD
    assert (cache / "mine" / "smile.npy").read_bytes() == b"npy" * 10
    assert not [p for p in (cache / "mine").iterdir() if p.name.startswith(".")]  # no temp file left
    assert "weights.bin" in capsys.readouterr().err  # the tqdm bar names the file
    # the domain's generator now resolves from the cache, for commands too
    assert resolve_file(d, d.generator) == str(cache / "mine" / "weights.bin")
    assert domain_file(None, "generator", flag="--generator", spec=spec) == str(cache / "mine" / "weights.bin")
    # a second fetch finds everything present and downloads nothing
    assert [r.status for r in fetch_domain(d, progress=False)] == ["present", "present"]


def test_user_path_wins_over_the_cache(tmp_path, server):
    mine = tmp_path / "my_weights.bin"
    mine.write_bytes(b"mine")
    d = find_domain(_domain_file(tmp_path, {"generator": {"path": str(mine), "url": f"{server}/weights.bin"}}))
    assert resolve_file(d, d.generator) == str(mine)
    assert [r.status for r in fetch_domain(d, progress=False)] == ["present"]


def test_sha_mismatch_is_an_error_and_leaves_no_file(tmp_path, server, cache):
    f = DomainFile(url=f"{server}/weights.bin", sha256="0" * 64)
    dest = cache / "x" / "weights.bin"
    with pytest.raises(FetchError, match="SHA-256 .* does not match"):
        download(f, dest, progress=False)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_size_mismatch_is_an_error_and_leaves_no_file(tmp_path, server, cache):
    dest = cache / "x" / "weights.bin"
    with pytest.raises(FetchError, match=f"downloaded {len(PAYLOAD)} bytes, the published file has 5"):
        download(DomainFile(url=f"{server}/weights.bin", size=5), dest, progress=False)
    assert list(dest.parent.iterdir()) == []


def test_http_404_is_a_fetch_error(tmp_path, server, cache):
    with pytest.raises(FetchError, match="HTTP 404"):
        download(DomainFile(url=f"{server}/absent.bin"), cache / "absent.bin", progress=False)


def test_no_network_gives_one_line_per_file_saying_what_to_put_where(tmp_path, cache):
    url = f"http://127.0.0.1:{_closed_port()}/weights.bin"
    with pytest.raises(NoNetwork):
        download(DomainFile(url=url), cache / "w.bin", progress=False)
    spec = _domain_file(tmp_path, {"generator": {"url": url}, "encoder": {"url": "http://no-such-host.invalid/e.pt"}})
    res = CliRunner().invoke(cli, ["domains", "fetch", spec, "--quiet", "--timeout", "5"])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.startswith("no network:")]
    assert lines == [
        f"no network: generator: put weights.bin (download {url}) at {cache / 'mine' / 'weights.bin'}",
        f"no network: encoder: put e.pt (download http://no-such-host.invalid/e.pt) at {cache / 'mine' / 'e.pt'}"]
    assert "2 of 2 files of domain 'mine' are not here" in res.output
    assert not (cache / "mine").exists() or list((cache / "mine").iterdir()) == []
    # a command needing the missing file says where to put it (and how to fetch it)
    with pytest.raises(DomainError, match=r"generator .*weights.bin is missing .*latentedit domains fetch"):
        domain_file(None, "generator", flag="--generator", spec=spec)


def test_cli_list_show_fetch(tmp_path, server, cache):
    runner = CliRunner()
    res = runner.invoke(cli, ["domains", "list"])
    assert res.exit_code == 0, res.output
    names = [ln.split()[0] for ln in res.output.splitlines()]
    assert "ffhq" in names and "toyfaces" in names
    spec = _domain_file(tmp_path, {"generator": {"url": f"{server}/weights.bin"}})
    res = runner.invoke(cli, ["domains", "show", spec, "--json"])
    assert json.loads(res.output)["files"][0]["status"] == "missing"
    res = runner.invoke(cli, ["domains", "fetch", spec, "--quiet"])
    assert res.exit_code == 0, res.output
    assert f"generator: fetched {cache / 'mine' / 'weights.bin'}" in res.output
    res = runner.invoke(cli, ["domains", "show", spec, "--json"])
    assert json.loads(res.output)["files"][0]["status"] == "present"
    res = runner.invoke(cli, ["domains", "show", "no-such-domain"])
    assert res.exit_code == 1 and "no domain named 'no-such-domain'" in res.output
