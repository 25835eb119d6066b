"""Native (C++/CUDA) ops behind autograd Functions, plus the per-process build state the dispatcher consults.

The Functions' backward passes call native kernels too, and are themselves differentiable (double backward, as
R1 and path-length regularisation need):

* ``fused_bias_act``: y = clamp(gain * act(x + b)). Backward is ``_BiasActGrad`` (dx = dy * gain * act'(z) * mask,
  db = dx summed over the other axes); its backward is ``_BiasActGrad`` again for the ``dy`` path plus the
  ``act''`` term (zero for linear/relu/lrelu) for ``x`` and ``b``.
* ``upfirdn2d`` is linear in x: its backward is upfirdn2d with up/down swapped, the filter flipped and the padding
  transposed, through the same Function, so every order of derivative runs natively.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass

import torch

from latentedit.ops import _build

ACT_CODES = {"linear": 0, "relu": 1, "lrelu": 2, "tanh": 3, "sigmoid": 4, "elu": 5, "selu": 6, "softplus": 7,
             "swish": 8}
PIECEWISE_LINEAR = {"linear", "relu", "lrelu"}
NATIVE_DTYPES = {"cpu": (torch.float32, torch.float64, torch.bfloat16),
                 "cuda": (torch.float32, torch.float64, torch.float16, torch.bfloat16)}
MODES = ("auto", "ref", "native", "strict")


class NativeOpsFallbackWarning(RuntimeWarning):
    """A native build failed (or is unavailable) and latentedit fell back to the reference ops."""


class UnsupportedOpError(ValueError):
    """The native kernels do not support these arguments (raised only with LATENTEDIT_OPS=strict)."""


def mode() -> str:
    """``LATENTEDIT_OPS``: auto (native where built and faster, else reference), ref, native (native wherever
    supported, warn and fall back on build failure), strict (native or raise)."""
    m = os.environ.get("LATENTEDIT_OPS", "auto").strip().lower() or "auto"
    if m not in MODES:
        raise ValueError(f"LATENTEDIT_OPS={m!r} is not valid; expected one of {', '.join(MODES)}")
    return m


# ---------------------------------------------------------------------------------------------------------------
# Build state
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class KindState:
    status: str = "not loaded"   # not loaded | loaded | failed
    module: object = None
    folder: str | None = None
    build_seconds: float | None = None
    cached: bool | None = None
    error: BaseException | None = None
    warned: bool = False


_STATE: dict[str, KindState] = {k: KindState() for k in _build.KINDS}
_LOCK = threading.RLock()


def state(kind: str) -> KindState:
    return _STATE[kind]


def reset_state() -> None:
    """Forget loaded modules and failures (tests; after fixing the toolchain)."""
    with _LOCK:
        for k in _STATE:
            _STATE[k] = KindState()


def kind_for(device: torch.device) -> str | None:
    return {"cpu": "cpu", "cuda": "cuda"}.get(device.type)


def get_module(kind: str, *, strict: bool = False, verbose: bool = False):
    """The loaded extension of ``kind``, building it on first use; None after a failure (warned once).
    With ``strict`` a failure raises instead."""
    st = _STATE[kind]
    if st.status == "loaded":
        return st.module
    with _LOCK:
        st = _STATE[kind]
        if st.status == "not loaded":
            try:
                module, info = _build.load_extension(kind, verbose=verbose)
                st.module, st.status = module, "loaded"
                st.folder, st.build_seconds, st.cached = str(info["folder"]), info["seconds"], info["cached"]
            except Exception as exc:  # noqa: BLE001 - any failure becomes the queryable state
                st.status, st.error = "failed", exc
                _build.record_failure(kind, exc)
        if st.status == "loaded":
            return st.module
        if strict:
            raise RuntimeError(f"LATENTEDIT_OPS=strict: the native {kind.upper()} ops are unavailable: "
                               f"{describe_error(st.error)}") from st.error
        if not st.warned:
            st.warned = True
            warnings.warn(f"latentedit: the native {kind.upper()} ops are unavailable, falling back to the (slower) "
                          f"reference ops.\n{describe_error(st.error)}\nSet LATENTEDIT_OPS=ref to silence this, or "
                          f"run `latentedit ops status` to see the state.", NativeOpsFallbackWarning, stacklevel=4)
        return None


def describe_error(err: BaseException | None, lines: int = 12) -> str:
    if err is None:
        return ""
    log = getattr(err, "log", "") or ""
    hint = getattr(err, "hint", "") or _build.fix_hint(str(err), "")
    out = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    if log:
        out += "\n--- last compiler lines ---\n" + _build.last_lines(log, lines) + "\n---"
    return out + f"\nFix to try: {hint}"


def module_for(device: torch.device, m: str):
    """The module to run on ``device`` in mode ``m`` (None -> use the reference)."""
    kind = kind_for(device)
    if kind is None:
        if m == "strict":
            raise UnsupportedOpError(f"no native latentedit ops for device type {device.type!r}; use "
                                     f"LATENTEDIT_OPS=auto or ref")
        return None
    return get_module(kind, strict=(m == "strict"))


# ---------------------------------------------------------------------------------------------------------------
# fused_bias_act
# ---------------------------------------------------------------------------------------------------------------

_EMPTY: dict = {}


def _empty(x: torch.Tensor) -> torch.Tensor:
    key = (x.device, x.dtype)
    t = _EMPTY.get(key)
    if t is None:
        t = _EMPTY[key] = torch.empty(0, device=x.device, dtype=x.dtype)
    return t


def bias_act_unsupported(x: torch.Tensor, b: torch.Tensor | None, dim: int) -> str | None:
    """Why the native kernel cannot take these arguments (None if it can)."""
    kind = kind_for(x.device)
    if kind is None:
        return f"x is on {x.device.type!r}; native kernels exist for cpu and cuda"
    if x.dtype not in NATIVE_DTYPES[kind]:
        return (f"x has dtype {x.dtype}; the native {kind} kernels take "
                f"{', '.join(str(d).replace('torch.', '') for d in NATIVE_DTYPES[kind])}")
    if b is not None:
        if b.dtype != x.dtype:
            return f"bias dtype {b.dtype} differs from x dtype {x.dtype} (cast the bias, e.g. b.to(x.dtype))"
        if b.device != x.device:
            return f"bias is on {b.device}, x on {x.device}"
    return None


def _cfg_args(cfg):
    return cfg["dim"], cfg["code"], cfg["alpha"], cfg["gain"], cfg["clamp"]


class _BiasAct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b, cfg):
        mod = cfg["mod"]
        bb = b if b is not None else _empty(x)
        y = mod.bias_act_fwd(x, bb, *_cfg_args(cfg))
        ctx.save_for_backward(x, b)
        ctx.cfg = cfg
        return y

    @staticmethod
    def backward(ctx, dy):
        x, b = ctx.saved_tensors
        want_db = b is not None and ctx.needs_input_grad[1]
        dx, db = _BiasActGrad.apply(dy, x, b, ctx.cfg, want_db)
        return (dx if ctx.needs_input_grad[0] else None), (db if want_db else None), None


class _BiasActGrad(torch.autograd.Function):
    """(dx, db) = first-order gradient of fused_bias_act; differentiable once more."""

    @staticmethod
    def forward(ctx, dy, x, b, cfg, want_db):
        mod = cfg["mod"]
        bb = b if b is not None else _empty(x)
        dx, db = mod.bias_act_grad1(dy, x, bb, *_cfg_args(cfg), want_db)
        ctx.save_for_backward(dy, x, b)
        ctx.cfg = cfg
        return dx, (db if want_db else None)

    @staticmethod
    def backward(ctx, gdx, gdb):
        dy, x, b = ctx.saved_tensors
        cfg = ctx.cfg
        dim = cfg["dim"]
        g = gdx
        if gdb is not None and b is not None:
            shape = [1] * x.ndim
            shape[dim] = -1
            gb = gdb.reshape(shape)
            g = gb.expand_as(x) if g is None else g + gb
        if g is None:
            return None, None, None, None, None
        d_dy = d_x = d_b = None
        if ctx.needs_input_grad[0]:
            d_dy = _BiasActGrad.apply(g, x, b, cfg, False)[0]
        if cfg["act"] not in PIECEWISE_LINEAR and (ctx.needs_input_grad[1] or ctx.needs_input_grad[2]):
            want_db = b is not None and ctx.needs_input_grad[2]
            bb = b if b is not None else _empty(x)
            d_x, d_b = cfg["mod"].bias_act_grad2(g, dy, x, bb, *_cfg_args(cfg), want_db)
            if not want_db:
                d_b = None
        return d_dy, (d_x if ctx.needs_input_grad[1] else None), d_b, None, None


def bias_act(mod, x, b, dim, act, alpha, gain, clamp):
    if x.ndim == 0:
        dim = 0
    elif not -x.ndim <= dim < x.ndim:
        raise IndexError(f"dim {dim} out of range for a {x.ndim}-D tensor")
    dim = dim % max(x.ndim, 1)
    cfg = {"mod": mod, "dim": dim, "code": ACT_CODES[act], "act": act, "alpha": float(alpha), "gain": float(gain),
           "clamp": float(clamp) if clamp is not None and clamp >= 0 else -1.0}
    if torch.is_grad_enabled() and (x.requires_grad or (b is not None and b.requires_grad)):
        return _BiasAct.apply(x, b, cfg)
    return mod.bias_act_fwd(x, b if b is not None else _empty(x), *_cfg_args(cfg))


# ---------------------------------------------------------------------------------------------------------------
# upfirdn2d
# ---------------------------------------------------------------------------------------------------------------

def upfirdn2d_unsupported(x: torch.Tensor, f: torch.Tensor | None) -> str | None:
    kind = kind_for(x.device)
    if kind is None:
        return f"x is on {x.device.type!r}; native kernels exist for cpu and cuda"
    if x.dtype not in NATIVE_DTYPES[kind]:
        return (f"x has dtype {x.dtype}; the native {kind} kernels take "
                f"{', '.join(str(d).replace('torch.', '') for d in NATIVE_DTYPES[kind])}")
    if f is not None and f.requires_grad and torch.is_grad_enabled():
        return "the filter requires grad; the native upfirdn2d does not differentiate the filter (use the reference)"
    return None


class _Upfirdn2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, f, cfg):
        mod, (upx, upy), (downx, downy), (px0, px1, py0, py1), flip, gain = cfg
        y = mod.upfirdn2d(x, f, upx, upy, downx, downy, px0, px1, py0, py1, flip, gain)
        ctx.save_for_backward(f)
        ctx.cfg = cfg
        ctx.in_hw = x.shape[2:]
        ctx.out_hw = y.shape[2:]
        return y

    @staticmethod
    def backward(ctx, dy):
        (f,) = ctx.saved_tensors
        mod, (upx, upy), (downx, downy), (px0, px1, py0, py1), flip, gain = ctx.cfg
        fh, fw = (f.shape[0], f.shape[-1]) if f.ndim == 2 else (f.shape[0], f.shape[0])
        (h, w), (oh, ow) = ctx.in_hw, ctx.out_hw
        pad = (fw - px0 - 1, w * upx - ow * downx + px0 - upx + 1,
               fh - py0 - 1, h * upy - oh * downy + py0 - upy + 1)
        cfg_t = (mod, (downx, downy), (upx, upy), pad, not flip, gain)
        dx = _Upfirdn2d.apply(dy, f, cfg_t)
        return dx, None, None


def upfirdn2d(mod, x, f, up, down, pad, flip_filter, gain):
    if f is None:
        f = torch.ones(1, 1, dtype=torch.float32)
    if x.device.type == "cuda":
        f = f.to(device=x.device, dtype=torch.float32)
    cfg = (mod, up, down, pad, bool(flip_filter), float(gain))
    if torch.is_grad_enabled() and x.requires_grad:
        return _Upfirdn2d.apply(x, f.detach(), cfg)
    return mod.upfirdn2d(x, f.detach(), *up, *down, *pad, bool(flip_filter), float(gain))

