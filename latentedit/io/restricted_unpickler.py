"""A restricted unpickler for NVIDIA StyleGAN2-ADA / StyleGAN3-era snapshot pickles: data in, no code run.

A NVIDIA snapshot is an ordinary pickle in which every network is a call
``torch_utils.persistence._reconstruct_persistent_obj(meta)``; ``meta`` is a dict holding ``type``, ``version``,
``module_src`` (the full Python source of the network module, which NVIDIA's loader ``exec()``s), ``class_name``
and ``state`` (the module's ``__dict__``: ``_parameters``, ``_buffers``, ``_modules``, ``_init_kwargs``, ...).

Here that call is mapped to :func:`inert_persistent_obj`, which returns ``meta`` as a :class:`PersistentMeta`
dict and never looks at ``module_src``; ``dnnlib.util.EasyDict`` becomes a plain dict. Only the handful of
globals a tensor, an ``OrderedDict`` and a numpy scalar need are resolved; any other global (``os.system``,
``subprocess.Popen``, ``builtins.eval``, a class of the pickled code, ...) stops loading with
:class:`RefusedGlobalError` naming it. Tensor storages arrive as ``torch.storage._load_from_bytes(payload)``;
the payload (itself a ``torch.save`` file) is read by :func:`load_storage_bytes` with ``weights_only=True``.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import pickle
from typing import Any, BinaryIO, Callable

import torch


class RefusedGlobalError(pickle.UnpicklingError):
    """The pickle asked for a global that is not on the allow-list (the global is named in ``.qualified``)."""

    def __init__(self, module: str, name: str):
        self.qualified = f"{module}.{name}"
        super().__init__(f"refused global '{self.qualified}': only tensors, containers, numpy scalars and "
                         "NVIDIA's persistence records may appear in a network pickle, and nothing is ever executed")


class PersistentMeta(dict):
    """The ``meta`` dict of one NVIDIA persistent object: keys ``type``, ``version``, ``module_src``,
    ``class_name``, ``state``. ``module_src`` is kept as an inert string and never compiled or executed."""

    @property
    def class_name(self) -> str:
        return str(self.get("class_name", "?"))

    @property
    def state(self) -> dict:
        state = self.get("state")
        return state if isinstance(state, dict) else {}


def inert_persistent_obj(meta: Any) -> PersistentMeta:
    """Stand-in for ``torch_utils.persistence._reconstruct_persistent_obj``: returns ``meta``, runs nothing."""
    if not isinstance(meta, dict):
        raise pickle.UnpicklingError(f"a persistent object's meta must be a dict; found {type(meta).__name__}")
    return PersistentMeta(meta)


class EasyDictStandIn(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a plain dict (attribute state, if any, is merged as items)."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


def load_storage_bytes(payload: bytes):
    """Stand-in for ``torch.storage._load_from_bytes``: the nested ``torch.save`` payload, read weights-only."""
    if not isinstance(payload, (bytes, bytearray)):
        raise pickle.UnpicklingError(f"a tensor storage payload must be bytes; found {type(payload).__name__}")
    try:
        return torch.load(io.BytesIO(bytes(payload)), weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises several types; report one line, never suggest weights_only=False
        from latentedit.io.torch_files import describe_torch_load_error

        raise pickle.UnpicklingError(f"a tensor payload failed its weights-only read: "
                                     f"{describe_torch_load_error(exc)}") from None


def _codecs_encode(obj, encoding: str = "utf-8", errors: str = "strict"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes (latin-1 only)."""
    if not isinstance(obj, str) or encoding.replace("_", "-").lower() not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode is allowed only for latin-1 text; got encoding {encoding!r}")
    return obj.encode("latin-1", errors)


def _numpy_scalar(dtype, *args):
    """``numpy.core.multiarray.scalar`` for plain (non-object) dtypes only."""
    import numpy as np

    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype!r} refused (only plain numeric dtypes)")
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import scalar
    return scalar(dtype, *args)


def _torch_globals() -> dict[tuple[str, str], Callable]:
    import torch._utils as tu

    return {
        ("torch._utils", "_rebuild_tensor_v2"): tu._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): tu._rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): load_storage_bytes,
    }


def _numpy_globals() -> dict[tuple[str, str], Any]:
    import numpy as np

    out: dict[tuple[str, str], Any] = {("numpy", "dtype"): np.dtype}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1 / numpy 2 spellings
        out[(mod, "scalar")] = _numpy_scalar
    return out


def allowed_globals() -> dict[tuple[str, str], Any]:
    """The complete allow-list: ``(module, name) -> object``. Everything else is refused."""
    allowed: dict[tuple[str, str], Any] = {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): inert_persistent_obj,
        ("dnnlib.util", "EasyDict"): EasyDictStandIn,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("_codecs", "encode"): _codecs_encode,
    }
    allowed.update(_torch_globals())
    allowed.update(_numpy_globals())
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` consults :func:`allowed_globals` and refuses everything else.

    ``torch.<dtype>`` names (``torch.float32``, ...) are also allowed: they are plain values.
    """

    def __init__(self, file: BinaryIO):
        super().__init__(file)
        self._allowed = allowed_globals()

    def find_class(self, module: str, name: str):
        # protocol 0-2 pickles spell Python 3 names the Python 2 way (__builtin__, copy_reg, ...): translate
        # them exactly as pickle itself would (renaming only, nothing is imported), then check the allow-list
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        else:
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        hit = self._allowed.get((module, name))
        if hit is not None:
            return hit
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise RefusedGlobalError(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not used by network pickles; this file is something else")


def restricted_load(file: BinaryIO) -> Any:
    """Unpickle ``file`` with :class:`RestrictedUnpickler`. Raises RefusedGlobalError / UnpicklingError / EOFError."""
    return RestrictedUnpickler(file).load()
