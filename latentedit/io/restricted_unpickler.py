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
the payload (itself a ``torch.save`` file) is scanned by ``torch_guard`` and read by :func:`load_storage_bytes`
with ``weights_only=True``.

The unpickler is a :class:`~latentedit.io.hardened_pickle.CappedUnpickler`: a resolved global may only be called
(the rebuild functions check their arguments: plain tensors within bounds, no hooks, plain numpy dtypes), never
have its state set (``BUILD``) or items added; sizes, memo, depth, tuple keys and total work are capped.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import pickle
import re
from typing import Any, BinaryIO, Callable

import numpy as np
import torch

from latentedit.io.hardened_pickle import CappedUnpickler, PickleRefused


class RefusedGlobalError(PickleRefused):
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
    from latentedit.io.torch_guard import GuardRefused, check_torch_bytes

    if not isinstance(payload, (bytes, bytearray)):
        raise pickle.UnpicklingError(f"a tensor storage payload must be bytes; found {type(payload).__name__}")
    try:
        check_torch_bytes(bytes(payload))
    except GuardRefused as exc:
        raise PickleRefused(f"a tensor payload was refused: {exc}") from None
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


_NUMPY_DTYPE = re.compile(r"^[<>=|]?[biufc][1248]{1,2}$|^(bool|u?int(8|16|32|64)|float(16|32|64)|complex(64|128))$")
MAX_TENSOR_ELEMENTS = 1 << 31  # one tensor of a network pickle (8 GiB of float32); see rebuild_tensor


def _numpy_dtype(obj, align=False, copy=True):
    """``numpy.dtype`` for plain numeric type strings only, always a fresh copy (a BUILD may then set its state
    without touching numpy's shared dtype singletons)."""
    import numpy as np

    if not isinstance(obj, str) or not _NUMPY_DTYPE.match(obj):
        raise PickleRefused(f"numpy dtype {obj!r:.40} refused (only plain numeric dtypes such as 'f4', 'i8')")
    return np.dtype(obj, bool(align), True)


def _numpy_dtype_state(state) -> None:
    """A dtype's pickled state: (version, byte order, subarray, names, fields, itemsize, alignment, flags[, meta])
    with no subarray, names or fields."""
    if (not isinstance(state, tuple) or not 8 <= len(state) <= 9 or state[2] is not None or state[3] is not None
            or state[4] is not None or not all(isinstance(v, (int, str, type(None))) for v in state[:8])):
        raise PickleRefused("numpy dtype state refused (only plain numeric dtypes without fields or subarrays)")


def _numpy_scalar(dtype, *args):
    """``numpy.core.multiarray.scalar`` for plain (non-object) dtypes only."""
    import numpy as np

    if not isinstance(dtype, np.dtype) or dtype.hasobject or dtype.fields is not None or dtype.shape != () \
            or dtype.itemsize > 16:
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype!r} refused (only plain numeric dtypes)")
    if len(args) != 1 or not isinstance(args[0], (bytes, bytearray)) or len(args[0]) != dtype.itemsize:
        raise PickleRefused(f"numpy scalar of dtype {dtype} needs {dtype.itemsize} bytes of data")
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import scalar
    return scalar(dtype, *args)


def _no_hooks(hooks) -> None:
    if hooks is not None and (not isinstance(hooks, dict) or hooks):
        raise PickleRefused("tensor backward hooks refused (a network pickle stores none)")


def rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """``torch._utils._rebuild_tensor_v2`` for plain tensors: a storage read weights-only, integer sizes and strides
    within :data:`MAX_TENSOR_ELEMENTS`, no hooks, no extra attribute state."""
    import math

    import torch._utils as tu

    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise PickleRefused(f"a tensor's storage must come from its weights-only payload; found {type(storage).__name__}")
    for what, seq in (("size", size), ("stride", stride)):
        if not isinstance(seq, tuple) or len(seq) > 8 or not all(type(v) is int and 0 <= v < (1 << 40) for v in seq):
            raise PickleRefused(f"a tensor's {what} must be at most 8 non-negative integers; found {seq!r:.80}")
    if type(storage_offset) is not int or storage_offset < 0 or len(size) != len(stride) \
            or math.prod(size) > MAX_TENSOR_ELEMENTS:
        raise PickleRefused(f"a tensor of shape {size} (offset {storage_offset!r:.20}) refused: more than "
                            f"{MAX_TENSOR_ELEMENTS:,} elements or inconsistent strides")
    _no_hooks(backward_hooks)
    if metadata:
        raise PickleRefused("tensor attribute state refused (a network pickle stores none)")
    try:
        return tu._rebuild_tensor_v2(storage, storage_offset, size, stride, bool(requires_grad), None)
    except RuntimeError as exc:
        raise PickleRefused(f"a tensor does not fit its storage ({str(exc).splitlines()[0][:160]})") from None


def rebuild_parameter(data, requires_grad=True, backward_hooks=None):
    """``torch._utils._rebuild_parameter`` for a tensor rebuilt by :func:`rebuild_tensor`, without hooks."""
    if not isinstance(data, torch.Tensor):
        raise PickleRefused(f"a parameter must wrap a tensor; found {type(data).__name__}")
    _no_hooks(backward_hooks)
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


def _torch_globals() -> dict[tuple[str, str], Callable]:
    return {
        ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): load_storage_bytes,
    }


def _numpy_globals() -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {("numpy", "dtype"): _numpy_dtype}
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


class RestrictedUnpickler(CappedUnpickler):
    """:class:`CappedUnpickler` whose ``find_class`` consults :func:`allowed_globals` and refuses everything else.

    ``torch.<dtype>`` names (``torch.float32``, ...) are also allowed: they are plain values. A resolved global may
    only be *called* (REDUCE) when it is one of the stand-ins or rebuild functions of the allow-list; nothing in
    the file may set state on, or add items to, anything but the containers and stand-ins the file itself built.
    """

    buildable = (EasyDictStandIn, np.dtype)
    fillable_dicts = (dict, collections.OrderedDict, EasyDictStandIn)
    newobj_classes = (EasyDictStandIn, collections.OrderedDict)

    def __init__(self, file: BinaryIO, **kw):
        super().__init__(file, **kw)
        self._allowed = allowed_globals()
        self._callables = {id(v): v for v in self._allowed.values()}

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

    def call(self, func, args: tuple):
        if self._callables.get(id(func)) is not func:
            self.refuse(f"calling a {type(func).__name__} ({func!r:.60}) is not allowed; only NVIDIA's persistence "
                        "records, tensors, containers and numpy scalars may be rebuilt")
        if func in (set, frozenset, collections.OrderedDict):
            if len(args) > 1 or (args and not isinstance(args[0], (list, tuple))):
                self.refuse(f"{func.__name__} rebuilt from {len(args)} arguments; expected none or one list")
            items = list(args[0]) if args else []
            self._hashable_items([k for k, _ in items] if func is collections.OrderedDict and
                                 all(isinstance(p, tuple) and len(p) == 2 for p in items) else items)
            return self._track(func(*args), items)
        out = func(*args)
        if isinstance(out, (dict, np.dtype)):
            self._track(out, list(out.values()) if isinstance(out, dict) else ())
        return out

    def set_state(self, target, state) -> None:
        if isinstance(target, np.dtype):
            _numpy_dtype_state(state)
        target.__setstate__(state)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not used by network pickles; this file is something else")


def restricted_load(file: BinaryIO, *, size: int | None = None) -> Any:
    """Unpickle ``file`` with :class:`RestrictedUnpickler`. Raises RefusedGlobalError / PickleRefused /
    UnpicklingError / EOFError."""
    return RestrictedUnpickler(file, size=size).load()
