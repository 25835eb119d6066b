"""Seeded fuzzing of every loader with hostile and malformed files (pickles, torch zips, safetensors headers and
configs, photos, latent / mapper / direction files), in a child process under a time and address-space limit.

Each file must be refused with latentedit's error type or loaded correctly, within the time limit, with no
traceback from ``latentedit info``, and a known tensor must still round-trip through ``torch.load`` afterwards
(nothing poisoned). The default run is small and fast; ``-m slow`` runs a larger corpus.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core import fuzz_files

PER_FILE_S = 20
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    return fuzz_files.valid_files(tmp_path_factory.mktemp("valid"))


def _run_corpus(corpus, tmp_path, timeout: float) -> list[dict]:
    listing = tmp_path / "corpus.json"
    listing.write_text(json.dumps([[k, str(p)] for k, p in corpus]))
    env = dict(os.environ, OMP_NUM_THREADS="1", LATENTEDIT_OPS_QUIET="1")
    try:
        proc = subprocess.run([sys.executable, "-m", "tests.core.fuzz_child", str(listing)], capture_output=True,
                              text=True, timeout=timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired as exc:
        done = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        n = len([ln for ln in done.splitlines() if ln.startswith("{")])
        pytest.fail(f"the loaders hung: no answer within {timeout} s; stuck on {corpus[n] if n < len(corpus) else '?'}")
    results = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and len(results) == len(corpus), \
        f"the child died (exit {proc.returncode}) after {len(results)} files: {proc.stderr[-800:]}"
    return results


def _check(results: list[dict]) -> None:
    bad = [r for r in results if r["status"] not in ("loaded", "refused") or r["poisoned"] or not r["cli"]
           or r["seconds"] > PER_FILE_S or (r["status"] == "refused" and "\n" in r["error"])]
    assert not bad, "\n".join(f"{r['kind']} {Path(r['path']).name}: {r['status']} {r['error'][:200]} "
                              f"poisoned={r['poisoned']} cli={r['cli']} {r['seconds']} s" for r in bad)
    assert any(r["status"] == "refused" for r in results)


@pytest.mark.parametrize("seed", [0])
def test_fuzz_every_loader(valid, tmp_path, seed):
    corpus = fuzz_files.make_corpus(tmp_path, valid, seed=seed, per_kind=6)
    _check(_run_corpus(corpus, tmp_path, timeout=120))


def test_valid_files_load(valid, tmp_path):
    corpus = []
    for kind, data in sorted(valid.items()):
        path = tmp_path / f"valid_{kind}{fuzz_files.SUFFIX[kind]}"
        path.write_bytes(data)
        corpus.append((kind, path))
    results = _run_corpus(corpus, tmp_path, timeout=120)
    assert all(r["status"] == "loaded" and not r["poisoned"] and r["cli"] for r in results), results


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzz_every_loader_large(valid, tmp_path, seed):
    corpus = fuzz_files.make_corpus(tmp_path, valid, seed=seed, per_kind=40)
    _check(_run_corpus(corpus, tmp_path, timeout=900))
