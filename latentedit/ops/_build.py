"""Lazy, cached, locked builds of the native extensions (``torch.utils.cpp_extension.load`` with ninja).

Two extensions, built separately so that a CPU machine never needs nvcc:

* ``cpu``  — ``bind_cpu.cpp``, ``bias_act_cpu.cpp``, ``upfirdn2d_cpu.cpp`` (C++, OpenMP through ``at::parallel_for``);
* ``cuda`` — ``bind_cuda.cpp``, ``bias_act_cuda.cu``, ``upfirdn2d_cuda.cu``.

Nothing here runs at import. ``load_extension(kind)`` is called on first use:

1. The cache folder is ``$LATENTEDIT_CACHE/ops`` (else ``$XDG_CACHE_HOME/latentedit/ops``, else
   ``~/.cache/latentedit/ops``); each build lives in ``<kind>-<digest>/`` where the digest covers the sources, the
   flags, torch, Python, the CUDA version and the device kind (the CPU's ISA when compiling with ``-march=native``,
   the CUDA arch list — never a GPU's name).
2. A cached build is imported straight from its ``.so`` (no compiler, no ninja, ~ms).
3. Otherwise the build takes an OS-level lock (``fcntl.flock`` on an open file: the kernel releases it when the
   holder dies, so a killed build can never leave a stale lock), compiles in a fresh temporary folder with
   ``cpp_extension.load`` (whose returned module object is used: torch no longer registers it in ``sys.modules``),
   then renames the folder into place atomically. Concurrent processes wait on the lock, then import the result.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import re
import shutil
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from latentedit.ops._filelock import file_lock
from latentedit.ops._integrity import kill_descendants, library_problem, library_sha256, sigterm_raises
from latentedit.ops._toolkit import cuda_arch_list, find_cuda_home, nvcc_version, pip_cuda_include_dirs

CSRC = Path(__file__).resolve().parent / "csrc"
KINDS = ("cpu", "cuda")
MODULE_NAMES = {"cpu": "latentedit_ops_cpu", "cuda": "latentedit_ops_cuda"}
SOURCES = {
    "cpu": ["bind_cpu.cpp", "bias_act_cpu.cpp", "upfirdn2d_cpu.cpp", "pointwise_conv_cpu.cpp",
            "transposed_conv_cpu.cpp"],
    "cuda": ["bind_cuda.cpp", "bias_act_cuda.cu", "upfirdn2d_cuda.cu"],
}
HEADERS = ["act.h"]
ABI_VERSION = 1  # bump when the Python <-> C++ calling convention changes


class BuildError(RuntimeError):
    """A native build failed; ``log`` holds the compiler output and ``hint`` the fix to try."""

    def __init__(self, kind: str, message: str, log: str = "", hint: str = ""):
        super().__init__(message)
        self.kind, self.log, self.hint = kind, log, hint


# ---------------------------------------------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------------------------------------------

def cache_root() -> Path:
    """Where built extensions live (created on demand)."""
    from latentedit.cache import cache_dir

    return cache_dir("ops")


# ---------------------------------------------------------------------------------------------------------------
# Build configuration and cache key
# ---------------------------------------------------------------------------------------------------------------

def _cpu_isa_tag() -> str:
    """The CPU's instruction-set features (what ``-march=native`` depends on), hashed; not its name."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    flags = " ".join(sorted(line.split(":", 1)[1].split()))
                    break
    except OSError:
        pass
    return f"{platform.machine()}-{hashlib.sha256(flags.encode()).hexdigest()[:8]}"


@dataclass
class BuildConfig:
    kind: str
    sources: list[Path]
    cflags: list[str]
    cuda_cflags: list[str] = field(default_factory=list)
    ldflags: list[str] = field(default_factory=list)
    include_paths: list[str] = field(default_factory=list)
    key_parts: dict = field(default_factory=dict)
    cuda_home: Path | None = None
    arch_list: str | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.key_parts, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def folder(self) -> Path:
        return cache_root() / f"{self.kind}-{self.digest}"


def _source_hash(names: list[str]) -> str:
    h = hashlib.sha256()
    for n in sorted(names + HEADERS):
        h.update(n.encode())
        h.update((CSRC / n).read_bytes())
    return h.hexdigest()[:16]


def cpu_march() -> str:
    """The ``-march`` the CPU kernels are built for (``LATENTEDIT_OPS_MARCH``, default ``native``)."""
    return os.environ.get("LATENTEDIT_OPS_MARCH", "native").strip()


def build_config(kind: str) -> BuildConfig:
    """Everything a build of ``kind`` depends on (no compiler is run)."""
    import torch

    if kind not in KINDS:
        raise ValueError(f"unknown extension kind {kind!r}; expected one of {KINDS}")
    extra = os.environ.get("LATENTEDIT_OPS_EXTRA_CFLAGS", "").split()
    march = cpu_march()
    system, machine = platform.system(), platform.machine().lower()
    if system == "Windows":  # MSVC
        cflags, ldflags = ["/O2", "/openmp", "/DLATENTEDIT_ABI=%d" % ABI_VERSION], []
        march = ""
    else:
        # OpenMP makes at::parallel_for parallel; Apple's clang has no -fopenmp (the kernels then run serially).
        omp = [] if system == "Darwin" else ["-fopenmp"]
        # -fno-trapping-math: without it GCC does not if-convert an ordered comparison (which could raise an FP
        # exception flag nobody reads), so on AVX2 the leaky-ReLU loops stay scalar. Results are unchanged; the
        # memory-bound loops measured no faster for it in one process (docs/notes/2026-12-07-cpu-epilogues.md).
        cflags = ["-O3", *omp, "-fno-math-errno", "-fno-trapping-math", "-DLATENTEDIT_ABI=%d" % ABI_VERSION]
        ldflags = list(omp)
        if march and machine in ("x86_64", "amd64"):
            cflags.append(f"-march={march}")
        elif march and machine in ("aarch64", "arm64") and system != "Darwin":
            cflags.append(f"-mcpu={march}")
    cflags += extra
    parts = {
        "kind": kind,
        "sources": _source_hash(SOURCES[kind]),
        "torch": torch.__version__,
        "python": sys.implementation.cache_tag,
        "platform": sysconfig.get_platform(),
        "cflags": cflags,
        "abi": ABI_VERSION,
    }
    cfg = BuildConfig(kind=kind, sources=[CSRC / s for s in SOURCES[kind]], cflags=cflags, ldflags=ldflags,
                      include_paths=[str(CSRC)])
    if march == "native":
        parts["isa"] = _cpu_isa_tag()
    if kind == "cuda":
        cfg.cuda_home = find_cuda_home()
        cfg.arch_list = cuda_arch_list()
        cfg.cuda_cflags = ["-O3", "-DLATENTEDIT_ABI=%d" % ABI_VERSION] + os.environ.get(
            "LATENTEDIT_OPS_EXTRA_CUDA_CFLAGS", "").split()
        cfg.include_paths += pip_cuda_include_dirs()
        parts.update(cuda=torch.version.cuda, nvcc=nvcc_version(cfg.cuda_home), archs=cfg.arch_list,
                     cuda_cflags=cfg.cuda_cflags)
    cfg.key_parts = parts
    return cfg


# ---------------------------------------------------------------------------------------------------------------
# Build / load
# ---------------------------------------------------------------------------------------------------------------

def _import_so(so_path: Path, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, str(so_path))
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load extension {so_path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "build.json").read_text())
    except (OSError, ValueError):
        return None


def cached_build(kind: str) -> tuple[Path, dict] | None:
    """(folder, manifest) of a complete cached build of ``kind`` for this configuration, or None."""
    cfg = build_config(kind)
    man = read_manifest(cfg.folder)
    if man and (cfg.folder / man.get("library", "")).is_file():
        return cfg.folder, man
    return None


@contextlib.contextmanager
def _cuda_environment(cfg: BuildConfig):
    """Point torch's cpp_extension at the toolkit we found and set the arch list, for this build only."""
    ce = import_cpp_extension()

    saved_env = {k: os.environ.get(k) for k in ("CUDA_HOME", "TORCH_CUDA_ARCH_LIST")}
    saved_home = ce.CUDA_HOME
    try:
        if cfg.cuda_home is not None:
            os.environ["CUDA_HOME"] = str(cfg.cuda_home)
            ce.CUDA_HOME = str(cfg.cuda_home)
        if cfg.arch_list:
            os.environ["TORCH_CUDA_ARCH_LIST"] = cfg.arch_list
        yield
    finally:
        ce.CUDA_HOME = saved_home
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _say(msg: str) -> None:
    if os.environ.get("LATENTEDIT_OPS_QUIET") != "1":
        print(f"latentedit.ops: {msg}", file=sys.stderr, flush=True)


def load_extension(kind: str, *, verbose: bool = False, lock_timeout: float | None = None):
    """Import the ``kind`` extension, building it first if this configuration has no cached build.

    Returns ``(module, info)`` where info has ``folder``, ``seconds`` (build time, 0 when cached) and ``cached``.
    Raises :class:`BuildError` with the compiler's output on failure.
    """
    cfg = build_config(kind)
    folder = cfg.folder
    man = read_manifest(folder)
    if man:  # fast path: no lock needed, the folder only appears complete (atomic rename)
        try:
            problem = library_problem(folder / str(man.get("library", "")), man)
            if problem:  # importing a truncated .so would end the process with SIGBUS
                raise ImportError(problem)
            return _import_so(folder / man["library"], man["module"]), {"folder": folder, "seconds": 0.0,
                                                                        "cached": True}
        except (ImportError, OSError) as exc:  # damaged cache entry: set it aside and rebuild
            _say(f"cached build {folder} could not be loaded ({exc}); rebuilding")
            with file_lock(cache_root() / f"{folder.name}.lock", timeout=lock_timeout):
                if folder.exists():
                    os.replace(folder, folder.with_name(f".{folder.name}.broken-{int(time.time())}"))

    if kind == "cuda" and cfg.cuda_home is None:
        raise BuildError(kind, "no CUDA toolkit found (nvcc, include/ and lib64/)",
                         hint="install the CUDA toolkit matching torch (CUDA %s) and set CUDA_HOME to its root"
                         % _torch_cuda())
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / f"{folder.name}.lock", timeout=lock_timeout,
                   on_wait=lambda: _say(f"waiting for another process building {folder.name} ...")):
        man = read_manifest(folder)
        if man and not library_problem(folder / str(man.get("library", "")), man):
            return _import_so(folder / man["library"], man["module"]), {"folder": folder, "seconds": 0.0,
                                                                        "cached": True}
        if folder.exists():  # an incomplete folder cannot appear (atomic rename), but never trust it
            shutil.rmtree(folder, ignore_errors=True)
        for stale in root.glob(f".{folder.name}.tmp-*"):  # we hold the lock: these are from killed builds
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=root))
        _say(f"compiling the native {kind.upper()} kernels (first use only, about a minute; cached in {folder})")
        t0 = time.perf_counter()
        try:
            srcs = []
            for s in cfg.sources + [CSRC / h for h in HEADERS]:
                shutil.copy2(s, tmp / s.name)
                if s in cfg.sources:
                    srcs.append(str(tmp / s.name))
            with sigterm_raises():
                module = _run_load(cfg, srcs, tmp, verbose)
            seconds = time.perf_counter() - t0
            lib = Path(module.__file__).name
            manifest = {"module": module.__name__, "library": lib, "key": cfg.key_parts, "seconds": round(seconds, 1),
                        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cflags": cfg.cflags,
                        "cuda_home": str(cfg.cuda_home) if cfg.cuda_home else None, "archs": cfg.arch_list,
                        "include_paths": cfg.include_paths, "sha256": library_sha256(tmp / lib)}
            (tmp / "build.json").write_text(json.dumps(manifest, indent=1))
            os.replace(tmp, folder)  # atomic: the folder appears complete or not at all
            (root / f"{kind}.last-error.log").unlink(missing_ok=True)
        except BaseException:
            kill_descendants()  # ninja and the compilers it started must not outlive an interrupted build
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return module, {"folder": folder, "seconds": seconds, "cached": False}


def _torch_cuda() -> str:
    import torch

    return str(torch.version.cuda)


def import_cpp_extension():
    """``torch.utils.cpp_extension``, imported without its misleading "No CUDA runtime is found, using
    CUDA_HOME=..." log line (it guesses CUDA_HOME at import; we find and pass the real one for CUDA builds)."""
    import logging

    if "torch.utils.cpp_extension" in sys.modules:
        return sys.modules["torch.utils.cpp_extension"]
    log = logging.getLogger("torch.utils.cpp_extension")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        import torch.utils.cpp_extension as ce
    finally:
        log.setLevel(old)
    return ce


def _run_load(cfg: BuildConfig, srcs: list[str], build_dir: Path, verbose: bool):
    ce = import_cpp_extension()

    kwargs = dict(name=MODULE_NAMES[cfg.kind], sources=srcs, extra_cflags=cfg.cflags, extra_ldflags=cfg.ldflags,
                  extra_include_paths=cfg.include_paths, build_directory=str(build_dir), verbose=verbose,
                  with_cuda=cfg.kind == "cuda")
    if cfg.kind == "cuda":
        kwargs["extra_cuda_cflags"] = cfg.cuda_cflags
    ctx = _cuda_environment(cfg) if cfg.kind == "cuda" else contextlib.nullcontext()
    try:
        with ctx:
            return ce.load(**kwargs)
    except Exception as exc:
        log = str(exc)
        raise BuildError(cfg.kind, f"building the native {cfg.kind.upper()} ops failed: {_first_line(log)}",
                         log=log, hint=fix_hint(log, cfg.kind)) from exc


def _first_line(text: str) -> str:
    if not text.strip():
        return "(no output)"
    line = text.strip().splitlines()[0]
    m = re.match(r"(Error building extension '[^']+')", line)  # torch appends the whole ninja log to this line
    return m.group(1) if m else line[:200]


def last_lines(text: str, n: int = 12) -> str:
    """The compiler's last ``n`` meaningful lines: echoed compile commands and exact repeats are dropped."""
    out: list[str] = []
    for ln in text.rstrip().splitlines():
        s = ln.strip()
        if not s or s in out:
            continue
        if re.match(r"^\[\d+/\d+\]", s) or (len(s) > 160 and " -c " in s and " -o " in s):
            continue  # ninja progress lines / full compiler command lines
        out.append(s if len(s) <= 400 else s[:400] + " ...")
    return "\n".join(out[-n:])


def fix_hint(log: str, kind: str) -> str:
    """The fix most likely to help, from the compiler's output."""
    low = log.lower()
    if "ninja is required" in low or "ninja: not found" in low or "no such file or directory: 'ninja'" in low:
        return "install ninja (`pip install ninja`) and make sure it is on PATH"
    if "cusparse.h" in low or "cublas_v2.h" in low or ("cuda" in low and "no such file" in low and ".h" in low):
        return ("a CUDA header is missing: install the toolkit headers or pip's nvidia-* wheels, "
                "or set CUDA_HOME to the toolkit root")
    if "unsupported gnu version" in low or "unsupported clang version" in low:
        return "the host compiler is too new for nvcc: set CC/CXX (or NVCC_CCBIN) to a supported gcc"
    if "unsupported gpu architecture" in low:
        return "nvcc is too old for the requested arch: set TORCH_CUDA_ARCH_LIST to archs it supports"
    if "cuda_home" in low or "nvcc" in low and "not found" in low:
        return "set CUDA_HOME to the CUDA toolkit root (the folder holding bin/nvcc, include/ and lib64/)"
    if "mismatches the version that was used to compile" in low:
        return "install a CUDA toolkit whose major version matches torch's (CUDA %s)" % _torch_cuda()
    if "unrecognized command-line option" in low or "unrecognized command line option" in low:
        return "remove the unsupported flag from LATENTEDIT_OPS_EXTRA_CFLAGS / LATENTEDIT_OPS_MARCH"
    if "command not found" in low or "no such file or directory: 'c++'" in low or "cannot find" in low:
        return "install a C++ compiler (g++ or clang++) and set CXX if it is not on PATH"
    return ("run `latentedit ops build --verbose` to see the full compiler log; set LATENTEDIT_OPS=ref to use the "
            "reference ops silently")


def record_failure(kind: str, err: BaseException) -> Path | None:
    """Persist the last build error of ``kind`` (shown by ``latentedit ops status``)."""
    try:
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True)
        p = root / f"{kind}.last-error.log"
        log = getattr(err, "log", "") or str(err)
        p.write_text(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n{type(err).__name__}: {err}\n"
                     f"hint: {getattr(err, 'hint', '')}\n\n{log}\n")
        return p
    except OSError:
        return None


def last_error_file(kind: str) -> Path | None:
    p = cache_root() / f"{kind}.last-error.log"
    return p if p.is_file() else None
