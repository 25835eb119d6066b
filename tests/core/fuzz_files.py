"""Seeded generators of hostile and malformed files, one family per loader, for ``test_fuzz_hostile``.

``make_corpus(folder, seed, per_kind)`` writes ``per_kind`` files of each kind and returns ``[(kind, path), ...]``.
Every file derives from a valid one (a tiny generator's NVIDIA pickle, rosinality-style torch zip and our
safetensors; a PNG; a W+ file; a mapper file; an e4e encoder file; direction files) by a seeded mutation: byte flips, truncation,
hostile opcodes spliced in, random opcode streams, inflated declared sizes, edited headers and metadata.
"""

from __future__ import annotations

import io
import json
import pickle
import random
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch

from latentedit.testing import hostile_files as hf

P = pickle


# --------------------------------------------------------------------------------------------- valid seeds
def valid_files(folder: Path) -> dict[str, bytes]:
    """The valid file of each kind (bytes), built from tiny seeded networks."""
    from latentedit.io.ours import save_generator
    from latentedit.latents import save_latents
    from latentedit.plugins import GeneratorInfo, registered_mapper
    from latentedit_directions import DirectionsConfig, DirectionsMapper
    from PIL import Image

    from tests.conftest import tiny_generator
    from latentedit.testing.foreign_formats import export_nvidia_pkl, export_rosinality

    folder.mkdir(parents=True, exist_ok=True)
    G = tiny_generator()
    out = {"pickle": export_nvidia_pkl(folder / "v.pkl", G).read_bytes(),
           "torchzip": export_rosinality(folder / "v.pt", G).read_bytes(),
           "safetensors": save_generator(G, folder / "v.safetensors").read_bytes()}
    buf = io.BytesIO()
    Image.fromarray((np.arange(12 * 10 * 3) % 251).astype(np.uint8).reshape(12, 10, 3)).save(buf, format="PNG")
    out["photo"] = buf.getvalue()
    w = torch.randn(1, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(0))
    out["latents"] = save_latents(folder / "v.wplus.safetensors", w, space="w_plus", generator=G).read_bytes()
    gi = GeneratorInfo.from_generator(G, ("smile", "age"))
    with registered_mapper("directions", DirectionsMapper):
        lab = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
        wp = torch.randn(64, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(2))
        mapper = DirectionsMapper(DirectionsConfig(), gi).fit(w_plus=wp, labels=lab)
        out["mapper"] = mapper.save(folder / "v.mapper.safetensors").read_bytes()
    from latentedit_e4e.encoder import E4EEncoder

    from latentedit_e4e.config import E4EConfig

    cfg = E4EConfig.small(16, 8, input_resolution=32, stage_units=(1, 2, 2, 1), stage_widths=(16, 24, 32, 48))
    out["encoder"] = E4EEncoder(cfg).save(folder / "v.enc.safetensors").read_bytes()
    buf = io.BytesIO()
    np.save(buf, np.linspace(-1, 1, G.w_dim, dtype=np.float32).reshape(1, -1))
    out["direction"] = buf.getvalue()
    buf = io.BytesIO()
    torch.save({"mean": torch.zeros(1, G.w_dim), "comp": torch.eye(G.w_dim)[:3, None], "std": torch.ones(3)}, buf)
    out["ganspace"] = buf.getvalue()
    return out


SUFFIX = {"pickle": ".pkl", "torchzip": ".pt", "safetensors": ".safetensors", "photo": ".png",
          "latents": ".wplus.safetensors", "mapper": ".safetensors", "direction": ".npy", "ganspace": ".pt",
          "encoder": ".safetensors"}


# --------------------------------------------------------------------------------------------- mutations
def flip(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice([1, 2, 8, 64])):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


_GLOBALS = [("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
            ("collections", "OrderedDict"), ("numpy", "dtype"), ("builtins", "set"), ("builtins", "frozenset"),
            ("dnnlib.util", "EasyDict"), ("torch_utils.persistence", "_reconstruct_persistent_obj"),
            ("torch.storage", "_load_from_bytes"), ("_codecs", "encode"), ("torch", "float32"),
            ("os", "system"), ("builtins", "getattr"), ("numpy.core.multiarray", "scalar")]


def random_opcodes(rng: random.Random, n: int) -> bytes:
    """A random but plausible opcode stream: pushes, containers, memo traffic, globals, calls, mutations."""
    out = bytearray()
    for _ in range(n):
        r = rng.random()
        if r < 0.25:
            out += rng.choice([P.NONE, P.NEWTRUE, P.EMPTY_TUPLE, P.EMPTY_LIST, P.EMPTY_DICT, P.EMPTY_SET,
                               P.BININT1 + bytes([rng.randrange(256)]), hf.binunicode(rng.choice(["k", "state", "G"]))])
        elif r < 0.45:
            out += rng.choice([P.MARK, P.TUPLE, P.TUPLE1, P.TUPLE2, P.TUPLE3, P.LIST, P.DICT, P.FROZENSET,
                               P.APPEND, P.APPENDS, P.SETITEM, P.SETITEMS, P.ADDITEMS, P.POP, P.DUP])
        elif r < 0.6:
            out += P.MEMOIZE if rng.random() < 0.5 else P.BINGET + bytes([rng.randrange(8)])
        elif r < 0.75:
            out += hf.op_global(*rng.choice(_GLOBALS))
        elif r < 0.85:
            out += rng.choice([P.REDUCE, P.BUILD, P.NEWOBJ, P.STACK_GLOBAL])
        elif r < 0.92:  # declared sizes larger than the file
            op, fmt = rng.choice([(P.BINBYTES, "<I"), (P.BINBYTES8, "<Q"), (P.BINUNICODE, "<I"), (P.FRAME, "<Q"),
                                  (P.LONG4, "<i"), (P.LONG_BINPUT, "<I")])
            out += op + struct.pack(fmt, rng.choice([1 << 20, (1 << 31) - 1, 7]))
        else:
            out += rng.choice([hf.poison_defaults(), hf.poison_dtype(), hf.hash_bomb(rng.randrange(20, 60))[2:-1]])
    return bytes(out)


def mutate_pickle(data: bytes, rng: random.Random) -> bytes:
    how = rng.randrange(6)
    if how == 0:
        return flip(data, rng)
    if how == 1:
        return truncate(data, rng)
    if how == 2:
        return hf.append_before_stop(data, rng.choice([hf.poison_defaults(), hf.poison_dtype()]))
    if how == 3:
        return rng.choice([hf.hash_bomb(rng.randrange(30, 64)), hf.memo_bomb(), hf.bytes_bomb()])
    if how == 4:
        return P.PROTO + bytes([rng.choice([2, 4])]) + random_opcodes(rng, rng.randrange(5, 60)) + P.STOP
    return hf.append_before_stop(data, random_opcodes(rng, rng.randrange(3, 20)))


def _rezip(data: bytes, edit) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            body = edit(info.filename, body)
            if body is not None:
                dst.writestr(info.filename, body)
    return out.getvalue()


def mutate_torchzip(data: bytes, rng: random.Random) -> bytes:
    how = rng.randrange(6)
    if how == 0:
        return flip(data, rng)
    if how == 1:
        return truncate(data, rng)
    if how == 2:  # data.pkl replaced or mutated
        return _rezip(data, lambda name, body: mutate_pickle(body, rng) if name.endswith("data.pkl") else body)
    if how == 3:  # a storage record cut short (its pickle still declares the full size)
        return _rezip(data, lambda name, body: body[: len(body) // 3] if "/data/" in name else body)
    if how == 4:  # deflated bomb member
        out = io.BytesIO(data)
        with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("archive/data/bomb", bytes(rng.choice([8, 32]) << 20))
        return out.getvalue()
    return _rezip(data, lambda name, body: None if rng.random() < 0.3 else body)


def _safetensors_parts(data: bytes) -> tuple[dict, bytes]:
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8: 8 + n]), data[8 + n:]


def _safetensors_join(header: dict, body: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


_HOSTILE_VALUES = [20_000, 10 ** 9, -1, 0, float("nan"), float("inf"), "x", None, [1] * 50, {"a": 1}, 1e308, True]


def mutate_safetensors(data: bytes, rng: random.Random) -> bytes:
    how = rng.randrange(6)
    if how == 0:
        return flip(data, rng)
    if how == 1:
        return truncate(data, rng)
    header, body = _safetensors_parts(data)
    meta = header.get("__metadata__", {})
    names = [k for k in header if k != "__metadata__"]
    if how == 2 and "latentedit.config" in meta:  # config fields set to hostile values
        cfg = json.loads(meta["latentedit.config"])
        for key in rng.sample(sorted(cfg), k=min(len(cfg), rng.choice([1, 2]))):
            cfg[key] = rng.choice(_HOSTILE_VALUES)
        meta["latentedit.config"] = json.dumps(cfg)
    elif how == 3 and meta:  # other metadata removed or garbled
        key = rng.choice(sorted(meta))
        if rng.random() < 0.5:
            del meta[key]
        else:
            meta[key] = rng.choice(["{", "[]", "nan", "1e999", '{"a": ' * 200 + "1" + "}" * 200, "null"])
    elif how == 4 and names:  # a tensor's dtype or shape changed
        t = header[rng.choice(names)]
        if rng.random() < 0.5:
            t["dtype"] = rng.choice(["I32", "F16", "U8", "BOOL", "F64", "I64"])
        else:
            t["shape"] = [rng.choice([1 << 20, 3, 0])] + t["shape"][1:]
    else:  # a value replaced by NaN
        name = rng.choice(names)
        lo, hi = header[name]["data_offsets"]
        if header[name]["dtype"] == "F32" and hi > lo:
            b = bytearray(body)
            b[lo: lo + 4] = struct.pack("<f", float("nan"))
            body = bytes(b)
    return _safetensors_join(header, body)


def mutate_photo(data: bytes, rng: random.Random) -> bytes:
    how = rng.randrange(4)
    if how == 0:
        return flip(data, rng)
    if how == 1:
        return truncate(data, rng)
    # IHDR declaring a huge canvas (pixels only, no data)
    w, h = rng.choice([(25_000, 25_000), (70_000, 70_000), (1, 2 ** 31 - 1), (0, 10)])
    b = bytearray(data)
    b[16:24] = struct.pack(">II", w, h)
    import zlib

    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])) & 0xFFFFFFFF) if how == 2 else b[29:33]
    return bytes(b)


def mutate_npy(data: bytes, rng: random.Random) -> bytes:
    how = rng.randrange(4)
    if how == 0:
        return flip(data, rng)
    if how == 1:
        return truncate(data, rng)
    if how == 2:
        return data.replace(b"(1, 8)", rng.choice([b"(100000, 100000)", b"(1, 80)", b"(2, 8)"]))
    arr = np.full((1, 8), rng.choice([np.nan, np.inf]), np.float32)
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


MUTATE = {"pickle": mutate_pickle, "torchzip": mutate_torchzip, "safetensors": mutate_safetensors,
          "photo": mutate_photo, "latents": mutate_safetensors, "mapper": mutate_safetensors,
          "direction": mutate_npy, "ganspace": mutate_torchzip, "encoder": mutate_safetensors}


def make_corpus(folder: Path, valid: dict[str, bytes], seed: int, per_kind: int) -> list[tuple[str, Path]]:
    """``per_kind`` mutated files of each kind under ``folder``; the same seed gives the same files."""
    rng = random.Random(seed)
    out = []
    for kind in sorted(MUTATE):
        for i in range(per_kind):
            path = folder / f"{kind}_{i:03d}{SUFFIX[kind]}"
            path.write_bytes(MUTATE[kind](valid[kind], rng))
            out.append((kind, path))
    return out
