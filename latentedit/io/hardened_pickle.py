"""A pickle reader with hard limits: nothing mutated but its own objects, no size or work trusted from the file.

:class:`CappedUnpickler` is Python's own (pure-Python) unpickler with these opcodes replaced:

- ``BUILD``, ``SETITEM(S)``, ``APPEND(S)``, ``ADDITEMS`` act only on plain containers made by this pickle
  (``list`` / ``dict`` / ``set``) and on the stand-in types a subclass lists in ``buildable`` — never on a global
  the pickle named (an allowed torch function, a dtype, a class): the "set ``__defaults__`` of a torch function
  with six opcodes" attack is refused;
- ``INST`` / ``OBJ`` / ``EXT*`` / out-of-band buffers are refused; ``NEWOBJ`` builds only classes in
  ``newobj_classes``;
- every declared length (byte strings, text, frames, long integers) is checked against the bytes the source
  can still hold and against :class:`PickleLimits` *before* anything is read or allocated;
- memo entries, container lengths, nesting depth, tuple size (a dict key or set member built from shared nested
  tuples would take 2**depth steps to hash) and the total number of opcodes are capped.

Every refusal is a :class:`PickleRefused` (an ``UnpicklingError``) whose message is one line with the reason.
``torch_guard.scan_pickle`` runs the same checks over a pickle whose globals are unknown (the ``data.pkl`` of a torch
zip, the nested payloads of NVIDIA storages) without resolving a single name, before ``torch.load`` reads it.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
import struct
from struct import unpack
from typing import Any, BinaryIO


@dataclass(frozen=True)
class PickleLimits:
    """Caps on what one pickle may make (all checked before the work or allocation they bound)."""

    max_ops: int = 10_000_000          # opcodes in one pickle
    max_memo: int = 1_000_000          # memo entries (and the largest memo index)
    max_container: int = 5_000_000     # items in one list / dict / set / tuple
    max_bytes: int = 4 << 30           # one byte or text string
    max_depth: int = 64                # nesting of containers built from the stream
    max_tuple_nodes: int = 256         # tuples within one tuple, shared ones counted each time (hash cost)
    max_int_bits: int = 4096           # one integer


class PickleRefused(pickle.UnpicklingError):
    """The pickle was refused: the message is one line naming the reason."""


class Opaque:
    """What an unresolved global, call or persistent id becomes while a pickle is only scanned."""

    __slots__ = ("name",)

    def __init__(self, name: str = "?"):
        self.name = name

    def __call__(self, *args, **kwargs):
        return Opaque(self.name + "()")

    def __reduce__(self):  # never pickled again
        raise TypeError("scan placeholder")


_CONTAINERS = (list, dict, set, frozenset, tuple)


class CappedUnpickler(pickle._Unpickler):
    """See the module docstring. Subclasses set ``buildable`` / ``newobj_classes`` and override ``find_class``."""

    buildable: tuple[type, ...] = ()
    fillable_dicts: tuple[type, ...] = (dict,)
    newobj_classes: tuple[type, ...] = ()
    dispatch: dict = {}  # filled below: every opcode counted, the ones above replaced

    def __init__(self, file: BinaryIO, *, size: int | None = None, limits: PickleLimits = PickleLimits()):
        super().__init__(file)
        self.limits = limits
        self._size = _source_size(file) if size is None else size
        self._ops = 0
        self._depth: dict[int, int] = {}      # id -> nesting depth, for containers this pickle built
        self._tuple_nodes: dict[int, int] = {}
        self._own: set[int] = set()           # ids of containers / stand-ins this pickle made (mutable by it)
        self._keep: list[Any] = []            # keeps tracked objects alive so their ids stay unique

    # ---------------------------------------------------------------------------------------------- helpers
    def refuse(self, reason: str):
        raise PickleRefused(reason)

    def _track(self, obj: Any, children=()) -> Any:
        depth = 1 + max((self._depth.get(id(c), 0) for c in children), default=0)
        if depth > self.limits.max_depth:
            self.refuse(f"containers nested deeper than {self.limits.max_depth} levels")
        if len(children) > self.limits.max_container:
            self.refuse(f"a container of {len(children):,} items (at most {self.limits.max_container:,})")
        self._depth[id(obj)] = depth
        self._own.add(id(obj))
        self._keep.append(obj)
        if isinstance(obj, (tuple, frozenset)):
            nodes = 1 + sum(self._tuple_nodes.get(id(c), 0) for c in children)
            if nodes > self.limits.max_tuple_nodes:
                self.refuse(f"a tuple built from {nodes:,}+ nested tuples (shared ones counted each time; at most "
                            f"{self.limits.max_tuple_nodes}): hashing it would take that many steps or more")
            self._tuple_nodes[id(obj)] = nodes
        return obj

    def _grow(self, container: Any, items) -> None:
        depth = 1 + max((self._depth.get(id(c), 0) for c in items), default=0)
        if depth > self.limits.max_depth:
            self.refuse(f"containers nested deeper than {self.limits.max_depth} levels")
        self._depth[id(container)] = max(self._depth.get(id(container), 1), depth)
        if len(container) + len(items) > self.limits.max_container:
            self.refuse(f"a container of more than {self.limits.max_container:,} items")

    def _check_key(self, key: Any) -> None:
        if isinstance(key, (tuple, frozenset)) and id(key) not in self._tuple_nodes and len(key) > 0:
            self.refuse("a tuple key the pickle did not build itself")  # cannot happen from a stream; be safe

    def _mutable(self, obj: Any, kinds: tuple[type, ...], op: str) -> bool:
        if type(obj) in kinds and id(obj) in self._own:
            return True
        if isinstance(obj, Opaque):
            return False  # scanning: the target is unknown, only the arguments are checked
        self.refuse(f"{op} on a {type(obj).__module__}.{type(obj).__qualname__}: a pickle may only fill plain "
                    "containers it built itself (anything else could change objects outside the file)")

    def _declared(self, n: int, what: str) -> int:
        if n < 0:
            self.refuse(f"{what} declares a negative length")
        if n > self.limits.max_bytes or (self._size is not None and n > self._size):
            self.refuse(f"{what} declares {n:,} bytes but the source holds {self._size:,}"
                        if self._size is not None and n > self._size else
                        f"{what} declares {n:,} bytes (at most {self.limits.max_bytes:,})")
        return n

    # ---------------------------------------------------------------------------------------------- opcodes
    def load(self):
        try:
            return super().load()
        except PickleRefused:
            raise
        except RecursionError:
            raise PickleRefused("structure too deeply nested") from None

    def load_frame(self):
        (n,) = unpack("<Q", self.read(8))
        self._unframer.load_frame(self._declared(n, "a frame"))

    def _check_int(self):
        value = self.stack[-1]
        if value.bit_length() > self.limits.max_int_bits:
            self.refuse(f"an integer of {value.bit_length():,} bits (at most {self.limits.max_int_bits})")

    def load_long1(self):
        pickle._Unpickler.load_long1(self)
        self._check_int()

    def load_long4(self):
        (n,) = unpack("<i", self.read(4))
        self._declared(n, "a long integer")
        if n * 8 > self.limits.max_int_bits:
            self.refuse(f"an integer of {n * 8:,} bits (at most {self.limits.max_int_bits})")
        self.append(pickle.decode_long(self.read(n)))

    def load_long(self):
        line = self.readline()[:-1]
        if len(line) > self.limits.max_int_bits // 3:
            self.refuse(f"an integer of {len(line):,} digits")
        self.append(int(line[:-1] if line.endswith(b"L") else line, 0))

    def _memo_put(self, i: int):
        if not self.stack:
            self.refuse("a memo store with an empty stack")
        if i < 0 or i >= self.limits.max_memo or len(self.memo) >= self.limits.max_memo:
            self.refuse(f"memo index {i:,} (at most {self.limits.max_memo:,} entries)")
        self.memo[i] = self.stack[-1]

    def load_put(self):
        self._memo_put(int(self.readline()[:-1]))

    def load_binput(self):
        self._memo_put(self.read(1)[0])

    def load_long_binput(self):
        self._memo_put(unpack("<I", self.read(4))[0])

    def load_memoize(self):
        self._memo_put(len(self.memo))

    def _hashable_items(self, items) -> None:
        for k in items:
            self._check_key(k)

    def load_dict(self):
        items = self.pop_mark()
        keys = items[0::2]
        self._hashable_items(keys)
        self.append(self._track({items[i]: items[i + 1] for i in range(0, len(items) - 1, 2)}, items))

    def load_list(self):
        items = self.pop_mark()
        self.append(self._track(items, items))

    def load_tuple(self):
        items = self.pop_mark()
        self.append(self._track(tuple(items), items))

    def _tuple_n(self, n: int):
        if len(self.stack) < n:
            self.refuse("a tuple opcode with too few items on the stack")
        items = self.stack[len(self.stack) - n:] if n else []
        del self.stack[len(self.stack) - n:]
        self.append(self._track(tuple(items), items))

    def load_tuple1(self):
        self._tuple_n(1)

    def load_tuple2(self):
        self._tuple_n(2)

    def load_tuple3(self):
        self._tuple_n(3)

    def load_empty_list(self):
        self.append(self._track([]))

    def load_empty_dict(self):
        self.append(self._track({}))

    def load_empty_set(self):
        self.append(self._track(set()))

    def load_empty_tuple(self):
        self.append(self._track(()))

    def load_frozenset(self):
        items = self.pop_mark()
        self._hashable_items(items)
        self.append(self._track(frozenset(items), items))

    def load_append(self):
        value = self.stack.pop()
        target = self.stack[-1]
        if self._mutable(target, (list,), "APPEND"):
            self._grow(target, [value])
            target.append(value)

    def load_appends(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if self._mutable(target, (list,), "APPENDS"):
            self._grow(target, items)
            target.extend(items)

    def load_setitem(self):
        value, key = self.stack.pop(), self.stack.pop()
        self._check_key(key)
        target = self.stack[-1]
        if self._mutable(target, self.fillable_dicts, "SETITEM"):
            self._grow(target, [value])
            target[key] = value

    def load_setitems(self):
        items = self.pop_mark()
        self._hashable_items(items[0::2])
        target = self.stack[-1]
        if self._mutable(target, self.fillable_dicts, "SETITEMS"):
            self._grow(target, items[1::2])
            for i in range(0, len(items) - 1, 2):
                target[items[i]] = items[i + 1]

    def load_additems(self):
        items = self.pop_mark()
        self._hashable_items(items)
        target = self.stack[-1]
        if self._mutable(target, (set,), "ADDITEMS"):
            self._grow(target, items)
            target.update(items)

    def load_build(self):
        state = self.stack.pop()
        target = self.stack[-1]
        if isinstance(target, Opaque):
            return
        if not (isinstance(target, self.buildable) and id(target) in self._own):
            self.refuse(f"BUILD on a {type(target).__module__}.{type(target).__qualname__}: setting the state of an "
                        "object the file did not create through an inert stand-in is refused")
        self.set_state(target, state)

    def set_state(self, target, state) -> None:
        """BUILD on one of this pickle's own ``buildable`` objects (subclasses validate ``state``)."""
        target.__setstate__(state)

    def load_newobj(self):
        args, cls = self.stack.pop(), self.stack.pop()
        self.append(self._new(cls, args, {}))

    def load_newobj_ex(self):
        kwargs, args, cls = self.stack.pop(), self.stack.pop(), self.stack.pop()
        self.append(self._new(cls, args, kwargs))

    def _new(self, cls, args, kwargs):
        if isinstance(cls, Opaque):
            return Opaque(cls.name)
        if cls not in self.newobj_classes or args or kwargs:
            self.refuse(f"NEWOBJ of {getattr(cls, '__qualname__', type(cls).__name__)} with arguments "
                        f"{len(args)}: only {', '.join(c.__name__ for c in self.newobj_classes) or 'nothing'} "
                        "may be created this way, without arguments")
        return self._track(cls.__new__(cls))

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if not isinstance(args, tuple):
            self.refuse("REDUCE arguments must be a tuple")
        self.stack[-1] = self.call(func, args)

    def call(self, func, args: tuple):
        """REDUCE: subclasses decide what a resolved global may be called with."""
        if isinstance(func, Opaque):
            return func(*args)
        self.refuse(f"calling {getattr(func, '__qualname__', type(func).__name__)} is not allowed")


def _counted(fn):
    def counted(self):
        self._ops += 1
        if self._ops > self.limits.max_ops:
            self.refuse(f"more than {self.limits.max_ops:,} pickle operations")
        fn(self)
    return counted


def _sized(fmt: str, what: str, convert):
    """A length-prefixed opcode whose declared length is checked (``_declared``) before anything is read."""
    width = struct.calcsize(fmt)

    def sized_opcode(self):
        (n,) = struct.unpack(fmt, self.read(width))
        self.append(convert(self, self.read(self._declared(n, what))))
    return sized_opcode


def _raw(unpickler, data: bytes) -> bytes:
    return data


def _utf8(unpickler, data: bytes) -> str:
    return str(data, "utf-8", "surrogatepass")


def _refused_op(name: str):
    def refused(self):
        self.refuse(f"the {name} opcode is not used by checkpoints and is refused")
    return refused


def _dispatch() -> dict:
    table = dict(pickle._Unpickler.dispatch)
    U = CappedUnpickler
    for name, fn in (("BUILD", U.load_build), ("SETITEM", U.load_setitem), ("SETITEMS", U.load_setitems),
                     ("APPEND", U.load_append), ("APPENDS", U.load_appends), ("ADDITEMS", U.load_additems),
                     ("NEWOBJ", U.load_newobj), ("NEWOBJ_EX", U.load_newobj_ex), ("REDUCE", U.load_reduce),
                     ("FRAME", U.load_frame), ("BINBYTES", _sized("<I", "a byte string", _raw)),
                     ("BINBYTES8", _sized("<Q", "a byte string", _raw)),
                     ("BYTEARRAY8", _sized("<Q", "a byte array", lambda u, b: bytearray(b))),
                     ("BINUNICODE", _sized("<I", "a text string", _utf8)),
                     ("BINUNICODE8", _sized("<Q", "a text string", _utf8)),
                     ("BINSTRING", _sized("<i", "a string", lambda u, b: u._decode_string(b))), ("LONG1", U.load_long1),
                     ("LONG4", U.load_long4), ("LONG", U.load_long), ("PUT", U.load_put), ("BINPUT", U.load_binput),
                     ("LONG_BINPUT", U.load_long_binput), ("MEMOIZE", U.load_memoize), ("DICT", U.load_dict),
                     ("LIST", U.load_list), ("TUPLE", U.load_tuple), ("TUPLE1", U.load_tuple1),
                     ("TUPLE2", U.load_tuple2), ("TUPLE3", U.load_tuple3), ("FROZENSET", U.load_frozenset),
                     ("EMPTY_LIST", U.load_empty_list), ("EMPTY_DICT", U.load_empty_dict),
                     ("EMPTY_SET", U.load_empty_set), ("EMPTY_TUPLE", U.load_empty_tuple)):
        table[getattr(pickle, name)[0]] = fn
    for name in ("INST", "OBJ", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER", "READONLY_BUFFER"):
        table[getattr(pickle, name)[0]] = _refused_op(name)
    # every opcode counts towards the work cap; methods are looked up on the instance's class (subclasses override)
    def bound(fn):
        name = fn.__name__
        if getattr(pickle._Unpickler, name, None) is fn or getattr(U, name, None) is fn:
            return _counted(lambda self: getattr(type(self), name)(self))
        return _counted(fn)
    return {code: bound(fn) for code, fn in table.items()}


CappedUnpickler.dispatch = _dispatch()


def _source_size(file) -> int | None:
    try:
        pos = file.tell()
        end = file.seek(0, io.SEEK_END)
        file.seek(pos)
        return end - pos
    except (OSError, AttributeError, ValueError):
        return None
