"""The build machinery: lazy (never at import), cache and key, lock, fallback/strict, CUDA_HOME discovery, CLI."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from latentedit import ops
from latentedit.ops import _build, _native

PY = sys.executable
OPS_DIR = Path(_build.__file__).resolve().parent

# Subprocesses that only need the lock or the allocator load those modules by path: no torch import (fast).
_LOAD_BUILD = (f"import sys, importlib.util as u; s = u.spec_from_file_location('b', {str(OPS_DIR / '_build.py')!r}); "
               f"b = sys.modules['b'] = u.module_from_spec(s); s.loader.exec_module(b); file_lock = b.file_lock")
_LOAD_ALLOC = (f"import importlib.util as u; s = u.spec_from_file_location('a', {str(OPS_DIR / 'allocator.py')!r}); "
               f"allocator = u.module_from_spec(s); s.loader.exec_module(allocator)")


def _run(code: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([PY, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=e, timeout=timeout)


@pytest.fixture
def fresh_state():
    """Isolate the per-process build state (restored afterwards so other tests keep the loaded module)."""
    saved = dict(_native._STATE)
    _native.reset_state()
    yield
    _native._STATE.clear()
    _native._STATE.update(saved)


def test_import_builds_nothing():
    r = _run("""
        import sys
        import latentedit.ops as ops
        from latentedit.ops import _native
        assert "torch.utils.cpp_extension" not in sys.modules, "cpp_extension imported at import time"
        assert all(s.status == "not loaded" for s in _native._STATE.values())
        print("ok")
    """)
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


def test_cached_build_loads_without_compiling(monkeypatch):
    _native.get_module("cpu", strict=True)  # built (or loaded) once per machine

    def no_compile(*a, **k):
        raise AssertionError("a cached build was compiled again")

    monkeypatch.setattr(_build, "_run_load", no_compile)
    module, info = _build.load_extension("cpu")
    assert info["cached"] and info["seconds"] == 0.0
    assert (info["folder"] / "build.json").is_file()
    assert all(hasattr(module, f) for f in ("bias_act_fwd", "upfirdn2d", "upfirdn2d_bias_act", "pointwise_conv"))
    man = _build.read_manifest(info["folder"])
    assert man["key"]["torch"] == torch.__version__


def test_cache_key_covers_sources_flags_versions_but_no_gpu_name(monkeypatch):
    cfg = _build.build_config("cpu")
    assert {"sources", "torch", "python", "cflags"} <= set(cfg.key_parts)
    if platform.system() != "Windows":  # lets GCC vectorise the leaky-ReLU selects on AVX2 (docs/ops.md)
        assert "-fno-trapping-math" in cfg.cflags
    monkeypatch.setenv("LATENTEDIT_OPS_EXTRA_CFLAGS", "-DLATENTEDIT_TEST_FLAG")
    assert _build.build_config("cpu").digest != cfg.digest
    monkeypatch.delenv("LATENTEDIT_OPS_EXTRA_CFLAGS")
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "8.0")
    cuda = _build.build_config("cuda")
    assert {"cuda", "archs", "sources", "torch"} <= set(cuda.key_parts)
    assert cuda.key_parts["archs"] == "8.0"
    assert not any("name" in k for k in cuda.key_parts)
    monkeypatch.setenv("LATENTEDIT_CACHE", "/somewhere/else")
    assert _build.build_config("cpu").folder == Path("/somewhere/else/ops") / f"cpu-{cfg.digest}"


def test_forced_build_failure_warns_once_falls_back_and_is_queryable(tmp_path, monkeypatch, fresh_state):
    monkeypatch.setenv("LATENTEDIT_CACHE", str(tmp_path))
    monkeypatch.setenv("LATENTEDIT_OPS_EXTRA_CFLAGS", "-fno-such-option-latentedit")
    monkeypatch.setenv("LATENTEDIT_OPS", "auto")
    monkeypatch.setenv("LATENTEDIT_OPS_QUIET", "1")
    x, b = torch.randn(2, 3, 4, 4), torch.randn(3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y1 = ops.fused_bias_act(x, b, act="lrelu")
        y2 = ops.upfirdn2d(x, ops.setup_filter([1, 3, 3, 1]), padding=2)
    fallbacks = [w for w in caught if issubclass(w.category, ops.NativeOpsFallbackWarning)]
    assert len(fallbacks) == 1, [str(w.message) for w in caught]
    msg = str(fallbacks[0].message)
    assert "no-such-option-latentedit" in msg and "Fix to try" in msg
    from latentedit.ops.bias_act_ref import fused_bias_act_ref
    torch.testing.assert_close(y1, fused_bias_act_ref(x, b, act="lrelu"))
    assert y2.shape == (2, 3, 5, 5)
    st = ops.status()
    assert st["kinds"]["cpu"]["in_process"] == "failed"
    assert "no-such-option-latentedit" in st["kinds"]["cpu"]["last_error"]
    assert st["devices"]["cpu"].startswith("reference")
    assert (tmp_path / "ops" / "cpu.last-error.log").is_file()
    assert not [p for p in (tmp_path / "ops").iterdir() if p.name.startswith(".cpu-")], "temp build folder left"
    # strict raises on the recorded failure
    monkeypatch.setenv("LATENTEDIT_OPS", "strict")
    with pytest.raises(RuntimeError, match="strict"):
        ops.fused_bias_act(x, b, act="lrelu")


def test_strict_raises_on_build_failure(tmp_path, monkeypatch, fresh_state):
    monkeypatch.setenv("LATENTEDIT_CACHE", str(tmp_path))
    monkeypatch.setenv("LATENTEDIT_OPS_EXTRA_CFLAGS", "-fno-such-option-latentedit")
    monkeypatch.setenv("LATENTEDIT_OPS", "strict")
    monkeypatch.setenv("LATENTEDIT_OPS_QUIET", "1")
    with pytest.raises(RuntimeError, match="unavailable") as ei:
        ops.upfirdn2d(torch.randn(1, 1, 4, 4), ops.setup_filter([1, 1]))
    assert isinstance(ei.value.__cause__, _build.BuildError)
    assert ei.value.__cause__.hint


def test_lock_cannot_go_stale_after_a_killed_holder(tmp_path):
    lock = tmp_path / "x.lock"
    holder = subprocess.Popen([PY, "-c", textwrap.dedent(f"""
        import sys, time
        {_LOAD_BUILD}
        with file_lock({str(lock)!r}):
            print("locked", flush=True)
            time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(TimeoutError):
            with _build.file_lock(lock, timeout=0.5):
                pass
        holder.kill()  # SIGKILL: no cleanup code runs in the holder
        holder.wait(timeout=30)
        with _build.file_lock(lock, timeout=10):  # the dead holder's lock is free: no TimeoutError
            pass
    finally:
        if holder.poll() is None:
            holder.kill()


def test_lock_serialises_concurrent_holders(tmp_path):
    lock, log = tmp_path / "y.lock", tmp_path / "log.txt"
    code = textwrap.dedent(f"""
        import time
        {_LOAD_BUILD}
        with file_lock({str(lock)!r}):
            with open({str(log)!r}, "a") as fh:
                fh.write("in\\n"); fh.flush(); time.sleep(0.3); fh.write("out\\n")
    """)
    procs = [subprocess.Popen([PY, "-c", code]) for _ in range(3)]
    for p in procs:
        assert p.wait(timeout=120) == 0
    assert log.read_text().split() == ["in", "out"] * 3


def test_find_cuda_home_resolves_wrapper_script(tmp_path, monkeypatch):
    root = tmp_path / "cuda-99.1"
    (root / "bin").mkdir(parents=True)
    (root / "include").mkdir()
    (root / "lib64").mkdir()
    (root / "include" / "cuda_runtime_api.h").write_text("")
    real = root / "bin" / "nvcc"
    real.write_text("#!/bin/sh\necho real\n")
    real.chmod(0o755)
    wrapdir = tmp_path / "wrap" / "bin"
    wrapdir.mkdir(parents=True)
    (wrapdir / "nvcc").write_text(f'#!/bin/sh\nexec {real} "$@"\n')
    (wrapdir / "nvcc").chmod(0o755)
    (tmp_path / "wrap" / "include").mkdir()  # a prefix that looks half like a toolkit (as /usr/local does)
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.setenv("PATH", f"{wrapdir}{os.pathsep}{os.environ['PATH']}")
    assert _build.find_cuda_home() == root.resolve()
    monkeypatch.setenv("CUDA_HOME", str(root))
    assert _build.find_cuda_home() == root


def test_pip_cuda_headers_are_on_the_include_path():
    dirs = _build.pip_cuda_include_dirs()
    if not dirs:
        pytest.skip("no pip nvidia-* wheels installed")
    cfg = _build.build_config("cuda")
    assert set(dirs) <= set(cfg.include_paths)
    if any(Path(d, "cusparse.h").is_file() for d in dirs):
        assert any(Path(d, "cusparse.h").is_file() for d in cfg.include_paths)


def test_fix_hints():
    assert "pip install ninja" in _build.fix_hint("Ninja is required to load C++ extensions", "cpu")
    assert "nvidia" in _build.fix_hint("fatal error: cusparse.h: No such file or directory", "cuda")
    assert "gcc" in _build.fix_hint("#error -- unsupported GNU version! gcc versions later than 14", "cuda")


def test_ops_status_and_build_cli():
    from click.testing import CliRunner

    from latentedit.cli.ops_cmd import ops as ops_group

    runner = CliRunner()
    res = runner.invoke(ops_group, ["build", "--cpu"])
    assert res.exit_code == 0, res.output
    assert "cpu: ok" in res.output
    res = runner.invoke(ops_group, ["status"])
    assert res.exit_code == 0, res.output
    assert "mode:" in res.output and "cpu extension" in res.output and "cuda extension" in res.output
    assert "native" in res.output
    res = runner.invoke(ops_group, ["status", "--json"])
    data = json.loads(res.output)
    assert data["kinds"]["cpu"]["built"] is True
    assert set(data["kinds"]) == {"cpu", "cuda"}


def test_ops_cli_registered_in_main():
    from click.testing import CliRunner

    from latentedit.cli.main import cli

    res = CliRunner().invoke(cli, ["ops", "status"])
    assert res.exit_code == 0, res.output


def test_tune_malloc_idempotent_and_opt_out():
    code = f"""
        {_LOAD_ALLOC}
        a = allocator.tune_malloc(); b = allocator.tune_malloc()
        print(a, b, allocator.describe())
    """
    r = _run(code, env={"LATENTEDIT_NO_MALLOC_TUNING": ""})
    assert r.returncode == 0, r.stderr
    import platform
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert r.stdout.startswith("True True tuned")
    r = _run(code, env={"LATENTEDIT_NO_MALLOC_TUNING": "1"})
    assert r.stdout.startswith("False False disabled")


@pytest.mark.cuda_build
def test_cuda_sources_compile(monkeypatch, fresh_state):
    """nvcc compiles the CUDA sources, into the normal ops cache: the cache key is a hash of the sources, flags and
    versions, so an unchanged tree finds its build there (``cached``) and only the manifest is checked again."""
    if _build.find_cuda_home() is None:
        pytest.skip("no CUDA toolkit")
    if not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
        monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "8.0")
    module, info = _build.load_extension("cuda")
    print(f"CUDA extension {'found cached' if info['cached'] else 'built'} in {info['folder']}")
    assert info["cached"] or info["seconds"] > 0
    assert module.device_kind == "cuda" and hasattr(module, "upfirdn2d") and hasattr(module, "bias_act_grad2")
    man = _build.read_manifest(info["folder"])
    assert man["cuda_home"] and Path(man["cuda_home"], "include").is_dir()


def test_damaged_cache_entry_is_set_aside_and_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTEDIT_CACHE", str(tmp_path))
    monkeypatch.setenv("LATENTEDIT_OPS_EXTRA_CFLAGS", "-fno-such-option-latentedit")  # the rebuild fails fast
    monkeypatch.setenv("LATENTEDIT_OPS_QUIET", "1")
    folder = _build.build_config("cpu").folder
    folder.mkdir(parents=True)
    (folder / "latentedit_ops_cpu.so").write_bytes(b"not an ELF file")
    (folder / "build.json").write_text(json.dumps({"module": "latentedit_ops_cpu",
                                                   "library": "latentedit_ops_cpu.so"}))
    with pytest.raises(_build.BuildError):
        _build.load_extension("cpu")
    assert not folder.exists()
    assert any(p.name.startswith(f".{folder.name}.broken-") for p in folder.parent.iterdir())


def test_failure_report_keeps_error_lines_not_command_echoes():
    cmd = "c++ " + "-I/some/include " * 30 + "-c a.cpp -o a.o"
    log = f"[1/3] {cmd}\nFAILED: a.o\n{cmd}\na.cpp:1:1: error: boom\nninja: build stopped: subcommand failed."
    out = _build.last_lines(log)
    assert "error: boom" in out and "FAILED: a.o" in out and "/some/include" not in out
