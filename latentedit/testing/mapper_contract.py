"""A reusable test of the mapper contract: any plugin's test suite calls ``check_mapper_contract``.

    from latentedit.testing.mapper_contract import check_mapper_contract

    def test_contract(tmp_path):
        check_mapper_contract(MyMapper, MyConfig(hidden=8), tmp_path=tmp_path)

Each check is also a function of its own (``check_shapes_preserved``, ``check_config_roundtrip``,
``check_save_load``, ``check_keyword_only``, ``check_determinism``, ``check_declarations``, ``check_gradients``)
so a plugin can run only some of them. They raise ``AssertionError`` with a message saying what broke. The default
generator is tiny (``num_ws=6, w_dim=16``, three attributes), so the whole contract runs in well under a second
for small mappers.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from latentedit.plugins.config import GeneratorInfo, MapperConfig
from latentedit.plugins.contract import CONTRACT_KEYWORDS, KINDS, Mapper

TINY_GENERATOR = GeneratorInfo(num_ws=6, w_dim=16, attribute_names=("smile", "glasses", "age"), resolution=16)


def _fail(msg: str) -> None:
    raise AssertionError(msg)


def make_inputs(mapper: Mapper, *, batch: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded inputs for ``mapper``: ``w_plus (B, num_ws, w_dim)``, ``target (B, n_attr)`` in {0, 1}, and
    ``z (B, z_dim)`` / ``style (B, style_dim)`` when the mapper takes them."""
    gi = mapper.generator_info
    g = torch.Generator().manual_seed(seed)
    inputs = {"w_plus": torch.randn(batch, gi.num_ws, gi.w_dim, generator=g),
              "target": torch.randint(0, 2, (batch, gi.n_attr), generator=g).float()}
    if mapper.takes_noise:
        inputs["z"] = torch.randn(batch, max(mapper.z_dim, 1), generator=g)
    if mapper.takes_style:
        inputs["style"] = torch.randn(batch, max(mapper.style_dim, 1), generator=g)
    return inputs


def _call(mapper: Mapper, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    kw = {k: v for k, v in inputs.items() if k != "w_plus"}
    if mapper._accepted is not None:  # a mapper may take fewer keywords than the contract offers
        kw = {k: v for k, v in kw.items() if k in mapper._accepted}
    return mapper(inputs["w_plus"], **kw)


def check_declarations(cls: type[Mapper]) -> None:
    """Class attributes are valid; trainable mappers declare known losses with finite non-negative weights."""
    from latentedit.losses import LOSS_NAMES

    if not (isinstance(cls, type) and issubclass(cls, Mapper)):
        _fail(f"{cls!r} is not a subclass of latentedit.plugins.Mapper")
    if cls.kind not in KINDS:
        _fail(f"{cls.__name__}.kind must be one of {KINDS}; got {cls.kind!r}")
    if not isinstance(cls.takes_noise, bool) or not isinstance(cls.takes_style, bool):
        _fail(f"{cls.__name__}.takes_noise/takes_style must be bools")
    if cls.kind == "trainable":
        try:
            weights = cls.default_loss_weights()
        except NotImplementedError as exc:
            _fail(f"{cls.__name__}: trainable mappers must declare a non-empty dict of loss weights: {exc}")
        if not isinstance(weights, dict) or not weights:
            _fail(f"{cls.__name__}.default_loss_weights() must return a non-empty dict; got {weights!r}")
        for name, w in weights.items():
            if name not in LOSS_NAMES:
                _fail(f"{cls.__name__}.default_loss_weights(): unknown loss {name!r}; known: {', '.join(LOSS_NAMES)}")
            if not isinstance(w, (int, float)) or isinstance(w, bool) or not math.isfinite(w) or w < 0:
                _fail(f"{cls.__name__}.default_loss_weights()[{name!r}] must be a finite float >= 0; got {w!r}")
    elif "fit" not in vars(cls) and not any("fit" in vars(b) for b in cls.__mro__[1:] if b is not Mapper):
        _fail(f"{cls.__name__} is fit-style but does not implement fit(...)")


def check_config_roundtrip(config: MapperConfig) -> None:
    """The config is a frozen dataclass whose dict form rebuilds an equal config, and has a default for every field."""
    cls = type(config)
    if not dataclasses.is_dataclass(config) or not cls.__dataclass_params__.frozen:
        _fail(f"{cls.__name__} must be a @dataclass(frozen=True)")
    import json

    data = json.loads(json.dumps(config.to_dict()))
    again = cls.from_dict(data)
    if again != config:
        _fail(f"{cls.__name__} does not survive a JSON round trip: {config} -> {again}")
    try:
        cls()
    except TypeError as exc:
        _fail(f"{cls.__name__}() must work (give every field a default): {exc}")


def check_shapes_preserved(mapper: Mapper, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Output has the input's shape, dtype and device, and the input is not modified in place."""
    w = inputs["w_plus"]
    before = w.clone()
    out = _call(mapper, inputs)
    if out.shape != w.shape or out.dtype != w.dtype or out.device != w.device:
        _fail(f"{type(mapper).__name__} returned {tuple(out.shape)} {out.dtype} on {out.device}; expected "
              f"{tuple(w.shape)} {w.dtype} on {w.device}")
    if not torch.equal(w, before):
        _fail(f"{type(mapper).__name__} modified w_plus in place")
    if not torch.isfinite(out).all():
        _fail(f"{type(mapper).__name__} returned non-finite values")
    one = _call(mapper, {k: v[:1] for k, v in inputs.items()})
    if one.shape != (1, *w.shape[1:]):
        _fail(f"{type(mapper).__name__} fails on a batch of one: got {tuple(one.shape)}")
    return out


def check_keyword_only(cls: type[Mapper], mapper: Mapper, inputs: dict[str, torch.Tensor]) -> None:
    """Conditioning is keyword-only in forward and in the call; unknown keywords are refused."""
    params = list(inspect.signature(cls.forward).parameters.values())[2:]
    positional = [p.name for p in params if p.kind not in (p.KEYWORD_ONLY, p.VAR_KEYWORD)]
    if positional:
        _fail(f"{cls.__name__}.forward: {positional} must be keyword-only (after '*')")
    extra = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in CONTRACT_KEYWORDS
             and p.default is inspect.Parameter.empty]
    if extra:
        _fail(f"{cls.__name__}.forward: extension keywords {extra} need defaults so callers of the contract work")
    try:
        mapper(inputs["w_plus"], inputs["target"])
    except TypeError:
        pass
    else:
        _fail(f"{cls.__name__}: calling with target as a positional argument must raise TypeError")


def check_determinism(cls: type[Mapper], config: MapperConfig, generator_info: GeneratorInfo,
                      inputs: dict[str, torch.Tensor], *, seed: int = 0,
                      prepare: Callable[[Mapper], None] | None = None) -> None:
    """Same seed -> same weights; same inputs -> same outputs (eval mode; noise always passed explicitly)."""
    mappers = []
    for _ in range(2):
        torch.manual_seed(seed)
        m = cls(config, generator_info).eval()
        if prepare is not None:
            prepare(m)
        mappers.append(m)
    sa, sb = mappers[0].state_dict(), mappers[1].state_dict()
    diff = [k for k in sa if not torch.equal(sa[k], sb[k])]
    if diff:
        _fail(f"{cls.__name__}: two constructions under torch.manual_seed({seed}) differ in {diff[:5]}")
    with torch.no_grad():
        a, b, c = _call(mappers[0], inputs), _call(mappers[0], inputs), _call(mappers[1], inputs)
    if not (torch.equal(a, b) and torch.equal(a, c)):
        _fail(f"{cls.__name__}: the same inputs gave different outputs (max diff "
              f"{max((a - b).abs().max().item(), (a - c).abs().max().item()):.3g})")


def check_save_load(mapper: Mapper, inputs: dict[str, torch.Tensor], tmp_dir: str | Path) -> None:
    """save -> load rebuilds the same config, generator info and outputs (bit for bit)."""
    cls = type(mapper)
    path = Path(tmp_dir) / f"{cls.__name__}.safetensors"
    mapper.eval()
    mapper.save(path)
    loaded = cls.load(path).eval()
    if loaded.config != mapper.config or loaded.generator_info != mapper.generator_info:
        _fail(f"{cls.__name__}: load() gave config {loaded.config} / {loaded.generator_info}; saved "
              f"{mapper.config} / {mapper.generator_info}")
    with torch.no_grad():
        a, b = _call(mapper, inputs), _call(loaded, inputs)
    if not torch.equal(a, b):
        _fail(f"{cls.__name__}: outputs differ after save/load (max diff {(a - b).abs().max().item():.3g})")


def check_gradients(mapper: Mapper, inputs: dict[str, torch.Tensor]) -> None:
    """Trainable mappers: gradients reach at least one parameter, and all of them are finite."""
    params = [p for p in mapper.parameters() if p.requires_grad]
    if not params:
        _fail(f"{type(mapper).__name__} is trainable but has no trainable parameters")
    mapper.train()
    mapper.zero_grad(set_to_none=True)
    out = _call(mapper, inputs)
    (out.square().mean() + out.mean()).backward()
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        _fail(f"{type(mapper).__name__}: no parameter received a gradient from the output")
    if not all(torch.isfinite(g).all() for g in grads):
        _fail(f"{type(mapper).__name__}: non-finite gradients")
    mapper.zero_grad(set_to_none=True)
    mapper.eval()


def check_mapper_contract(cls: type[Mapper], config: MapperConfig | None = None,
                          generator_info: GeneratorInfo | None = None, *, tmp_path: str | Path | None = None,
                          batch: int = 3, seed: int = 0, prepare: Callable[[Mapper], None] | None = None) -> Mapper:
    """Run every check on ``cls``; ``prepare(mapper)`` (e.g. a quick ``fit``) runs after each construction.
    Returns the mapper it built."""
    check_declarations(cls)
    config = cls.config_class() if config is None else config
    if type(config) is not cls.config_class:
        _fail(f"{cls.__name__}.config_class is {cls.config_class.__name__} but the config given is "
              f"{type(config).__name__}: set config_class = {type(config).__name__} on the mapper")
    generator_info = generator_info or TINY_GENERATOR
    check_config_roundtrip(config)
    torch.manual_seed(seed)
    mapper = cls(config, generator_info).eval()
    if prepare is not None:
        prepare(mapper)
    inputs = make_inputs(mapper, batch=batch, seed=seed)
    check_shapes_preserved(mapper, inputs)
    check_keyword_only(cls, mapper, inputs)
    check_determinism(cls, config, generator_info, inputs, seed=seed, prepare=prepare)
    if cls.kind == "trainable":
        check_gradients(mapper, inputs)
    if tmp_path is None:
        with tempfile.TemporaryDirectory() as tmp:
            check_save_load(mapper, inputs, tmp)
    else:
        check_save_load(mapper, inputs, tmp_path)
    return mapper
