"""``status()`` (what is built, where, what each device uses: never builds) and ``build()`` (pre-build now)."""

from __future__ import annotations

import os

import torch

from latentedit.ops import _build, _native


def _kind_status(kind: str, mode: str) -> dict:
    st = _native.state(kind)
    try:
        cfg = _build.build_config(kind)
        key_error = None
    except Exception as exc:  # noqa: BLE001
        cfg, key_error = None, f"{type(exc).__name__}: {exc}"
    out: dict = {"kind": kind, "module": _build.MODULE_NAMES[kind]}
    if cfg is not None:
        man = _build.read_manifest(cfg.folder)
        out.update(folder=str(cfg.folder), built=man is not None,
                   built_at=man.get("built_at") if man else None,
                   build_seconds=man.get("seconds") if man else None, key=cfg.key_parts)
        if kind == "cuda":
            out.update(cuda_home=str(cfg.cuda_home) if cfg.cuda_home else None,
                       nvcc=cfg.key_parts.get("nvcc"), torch_cuda=torch.version.cuda, archs=cfg.arch_list,
                       pip_include_dirs=_build.pip_cuda_include_dirs())
    else:
        out.update(folder=None, built=False, key_error=key_error)
    out["in_process"] = st.status
    err_file = _build.last_error_file(kind)
    if st.error is not None:
        out["last_error"] = _native.describe_error(st.error)
    elif err_file is not None:
        text = err_file.read_text(errors="replace")
        head, _, log = text.partition("\n\n")
        first = head.splitlines()
        summary = [first[0]] + [ln[:300] for ln in first[1:]]  # when, error, hint
        out["last_error"] = "\n".join(summary) + ("\n--- last compiler lines ---\n" + _build.last_lines(log)
                                                  if log.strip() else "")
    else:
        out["last_error"] = None
    out["last_error_file"] = str(err_file) if err_file else None
    return out


def _uses(kind: str, info: dict, mode: str) -> str:
    if mode == "ref":
        return "reference (LATENTEDIT_OPS=ref)"
    st = _native.state(kind)
    if st.status == "loaded":
        return f"native ({'loaded from cache' if st.cached else 'built this run'}: {st.folder})"
    if st.status == "failed":
        return ("error: native build failed (LATENTEDIT_OPS=strict raises)" if mode == "strict"
                else "reference (native build failed this run; see last error)")
    if info.get("built"):
        return f"native (cached build: {info['folder']})"
    if kind == "cuda" and not info.get("cuda_home"):
        return ("error: no CUDA toolkit to build with" if mode == "strict"
                else "reference (no CUDA toolkit found to build the native kernels; set CUDA_HOME)")
    if info.get("last_error"):
        return ("native after a one-time build on first use — but the last build failed (see the error below; "
                "until it is fixed this falls back to the reference" + (", or raises under strict)" if mode == "strict"
                                                                         else ")"))
    return "native after a one-time build on first use (about a minute; `latentedit ops build` does it now)"


def status() -> dict:
    mode = _native.mode()
    kinds = {k: _kind_status(k, mode) for k in _build.KINDS}
    devices = {"cpu": _uses("cpu", kinds["cpu"], mode)}
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            cap = "%d.%d" % torch.cuda.get_device_capability(i)
            devices[f"cuda:{i} ({torch.cuda.get_device_name(i)}, sm {cap})"] = _uses("cuda", kinds["cuda"], mode)
    else:
        devices["cuda"] = "no CUDA device visible"
    return {"mode": mode, "cache_root": str(_build.cache_root()), "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(), "kinds": kinds, "devices": devices,
            "malloc_tuned": _malloc_state()}


def _malloc_state() -> str:
    from latentedit.ops import allocator

    return allocator.describe()


def build(kinds=("cpu",), *, verbose: bool = False) -> dict:
    """Build (or load) each kind now; a previous failure in this process is retried. Raises on failure."""
    out = {}
    for kind in kinds:
        if kind not in _build.KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {_build.KINDS}")
        st = _native.state(kind)
        if st.status == "failed":
            _native._STATE[kind] = _native.KindState()
        _native.get_module(kind, strict=True, verbose=verbose)
        st = _native.state(kind)
        out[kind] = {"folder": st.folder, "seconds": st.build_seconds, "cached": st.cached}
    return out


def env_summary() -> dict:
    return {k: os.environ.get(k) for k in ("LATENTEDIT_OPS", "LATENTEDIT_CACHE", "CUDA_HOME", "TORCH_CUDA_ARCH_LIST",
                                            "LATENTEDIT_OPS_MARCH", "LATENTEDIT_OPS_EXTRA_CFLAGS",
                                            "LATENTEDIT_NO_MALLOC_TUNING") if os.environ.get(k)}
