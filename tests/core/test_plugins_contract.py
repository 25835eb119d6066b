"""The mapper contract: the base class checks, config dataclasses, save/load, and the reusable contract test."""

from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

from latentedit.io.modelfile import ModelFileError
from latentedit.plugins import ConfigError, GeneratorInfo, Mapper, MapperConfig, MapperContractError
from latentedit.testing.mapper_contract import TINY_GENERATOR, check_mapper_contract, make_inputs


@dataclass(frozen=True)
class NoisyConfig(MapperConfig):
    hidden: int = field(default=8, metadata={"doc": "hidden width"})
    z_dim: int = field(default=4, metadata={"doc": "noise width"})
    style_dim: int = field(default=5, metadata={"doc": "style width"})
    layers: tuple[int, ...] = field(default=(0, 2), metadata={"doc": "W+ layers to edit"})


class NoisyMapper(Mapper):
    """Multimodal: w' = w + MLP([target, z, style]) on the chosen layers."""

    config_class = NoisyConfig
    takes_noise = True
    takes_style = True

    def __init__(self, config, generator_info):
        super().__init__(config, generator_info)
        c = self.config
        self.net = nn.Sequential(nn.Linear(generator_info.n_attr + c.z_dim + c.style_dim, c.hidden), nn.ReLU(),
                                 nn.Linear(c.hidden, generator_info.w_dim))
        mask = torch.zeros(generator_info.num_ws, 1)
        mask[list(c.layers)] = 1.0
        self.register_buffer("mask", mask)

    @classmethod
    def default_loss_weights(cls):
        return {"attribute": 2.0, "diversity": 2.0, "neighbourhood": 0.01}

    def forward(self, w_plus, *, target, z=None, style=None):
        b = w_plus.shape[0]
        z = torch.zeros(b, self.z_dim) if z is None else z
        style = torch.zeros(b, self.style_dim) if style is None else style
        return w_plus + self.mask * self.net(torch.cat([target, z, style], 1))[:, None, :]


@dataclass(frozen=True)
class DirConfig(MapperConfig):
    strength: float = 1.0


class DirectionMapper(Mapper):
    """Fit-style: a mean-difference direction per attribute."""

    config_class = DirConfig
    kind = "fit"

    def __init__(self, config, generator_info):
        super().__init__(config, generator_info)
        self.register_buffer("dirs", torch.zeros(generator_info.n_attr, generator_info.num_ws, generator_info.w_dim))

    def fit(self, *, w_plus=None, labels=None, **options):
        for a in range(labels.shape[1]):
            pos, neg = w_plus[labels[:, a] > 0.5], w_plus[labels[:, a] <= 0.5]
            self.dirs[a] = pos.mean(0) - neg.mean(0)
        return self

    def forward(self, w_plus, *, target):
        return w_plus + self.config.strength * torch.einsum("ba,alw->blw", target, self.dirs)


def _fit(m):
    g = torch.Generator().manual_seed(1)
    m.fit(w_plus=torch.randn(20, 6, 16, generator=g), labels=torch.randint(0, 2, (20, 3), generator=g).float())


def test_contract_passes_for_a_multimodal_mapper(tmp_path):
    m = check_mapper_contract(NoisyMapper, NoisyConfig(layers=(1, 3, 5)), tmp_path=tmp_path)
    assert m.z_dim == 4 and m.style_dim == 5


def test_contract_passes_for_a_fit_style_mapper(tmp_path):
    check_mapper_contract(DirectionMapper, tmp_path=tmp_path, prepare=_fit)
    assert DirectionMapper.default_loss_weights() == {}


def test_shape_errors_say_expected_and_found():
    m = NoisyMapper(None, TINY_GENERATOR)
    inputs = make_inputs(m, batch=4)
    with pytest.raises(ValueError, match=r"^w_plus must be \(B, 6, 16\); got \(4, 16\)"):
        m(inputs["w_plus"][:, 0], target=inputs["target"])
    with pytest.raises(ValueError, match=r"target must be \(B=4, 3\); got \(4, 2\)"):
        m(inputs["w_plus"], target=inputs["target"][:, :2])
    with pytest.raises(ValueError, match=r"z must be \(B=4, 4\); got \(4, 3\)"):
        m(inputs["w_plus"], target=inputs["target"], z=torch.randn(4, 3))
    with pytest.raises(MapperContractError, match=r"needs target=\(B, 3\)"):
        m(inputs["w_plus"])
    with pytest.raises(TypeError):
        m(inputs["w_plus"], inputs["target"])  # conditioning is keyword-only


def test_fewer_keywords_are_fine_and_refused_values_explain():
    class Plain(Mapper):
        def forward(self, w_plus, *, target):
            return w_plus + target.sum(1)[:, None, None]

    m = Plain(None, TINY_GENERATOR)
    w, t = torch.zeros(2, 6, 16), torch.ones(2, 3)
    assert torch.equal(m(w, target=t, z=None, style=None), torch.full((2, 6, 16), 3.0))
    with pytest.raises(MapperContractError, match=r"does not take 'z'.*takes_noise=False"):
        m(w, target=t, z=torch.zeros(2, 1))


def test_class_definition_errors():
    with pytest.raises(MapperContractError, match="'target' must be keyword-only"):
        class Positional(Mapper):
            def forward(self, w_plus, target=None):
                return w_plus
    with pytest.raises(MapperContractError, match="kind must be one of"):
        class BadKind(Mapper):
            kind = "magic"
    with pytest.raises(MapperContractError, match="frozen"):
        @dataclass(frozen=True)
        class NotAMapperConfig:
            a: int = 1

        class UsesIt(Mapper):
            config_class = NotAMapperConfig


def test_output_shape_is_checked_and_config_type_too():
    class Shrinks(Mapper):
        def forward(self, w_plus, *, target=None):
            return w_plus[:, :1]

    with pytest.raises(MapperContractError, match=r"must return w_plus of shape \(2, 6, 16\); returned \(2, 1, 16\)"):
        Shrinks(None, TINY_GENERATOR)(torch.zeros(2, 6, 16))
    with pytest.raises(ConfigError, match="expects a NoisyConfig config; got DirConfig"):
        NoisyMapper(DirConfig(), TINY_GENERATOR)


def test_trainable_without_loss_weights_and_fit_on_trainable():
    class NoWeights(Mapper):
        def forward(self, w_plus):
            return w_plus

    with pytest.raises(NotImplementedError, match="default_loss_weights"):
        NoWeights.default_loss_weights()
    with pytest.raises(MapperContractError, match="trainable, not fit-style"):
        NoWeights(None, TINY_GENERATOR).fit(w_plus=torch.zeros(1, 6, 16))
    with pytest.raises(AssertionError, match="non-empty dict"):
        check_mapper_contract(NoWeights)


def test_config_from_dict_and_fields_info():
    cfg = NoisyConfig.from_dict({"hidden": 3, "layers": [1, 2, 3]})
    assert cfg == NoisyConfig(hidden=3, layers=(1, 2, 3))
    assert cfg.replace(hidden=4).hidden == 4
    with pytest.raises(ConfigError, match=r"expected an int; got str '3'"):
        NoisyConfig.from_dict({"hidden": "3"})
    with pytest.raises(ConfigError, match=r"'hiden' \(did you mean 'hidden'\?\); valid fields: hidden, z_dim"):
        NoisyConfig.from_dict({"hiden": 3})
    with pytest.raises(ConfigError, match="unknown"):
        cfg.replace(nope=1)
    info = {f.name: f for f in NoisyConfig.fields_info()}
    assert (info["hidden"].type, info["hidden"].default, info["hidden"].doc) == ("int", 8, "hidden width")
    assert info["layers"].type == "tuple[int, ...]"


def test_generator_info_validation():
    assert GeneratorInfo(18, 512, ["smile"], 1024).attribute_names == ("smile",)
    with pytest.raises(ConfigError,
                       match=r"num_ws must be 2\*log2\(resolution\)-2 = 18 at resolution 1024; got num_ws=14"):
        GeneratorInfo(14, 512, (), 1024)
    with pytest.raises(ConfigError, match="power of two"):
        GeneratorInfo(6, 8, (), 24)
    with pytest.raises(ConfigError, match="distinct"):
        GeneratorInfo(6, 8, ("a", "a"), 16)
    gi = GeneratorInfo(6, 8, ("a",), 16)
    assert GeneratorInfo.from_dict(gi.to_dict()) == gi

    class G:
        num_ws, w_dim, img_resolution = 6, 8, 16

    assert GeneratorInfo.from_generator(G(), ("a",)) == gi
    with pytest.raises(ConfigError, match="lacks"):
        GeneratorInfo.from_generator(object())


def test_save_load_errors(tmp_path):
    torch.manual_seed(0)
    m = NoisyMapper(NoisyConfig(hidden=5), TINY_GENERATOR)
    path = m.save(tmp_path / "m.safetensors")
    with pytest.raises(ModelFileError, match="not .*DirectionMapper"):
        DirectionMapper.load(path)
    other = GeneratorInfo(4, 16, ("smile", "glasses", "age"), 8)
    with pytest.raises(ModelFileError, match="saved for"):
        NoisyMapper.load(path, generator_info=other)

    class NoisyV2(NoisyMapper):
        format_version = 2

    NoisyV2.__qualname__ = "NoisyMapper"
    with pytest.raises(ModelFileError, match="cannot read format version 1"):
        NoisyV2.load(path)
    NoisyMapper.format_version, old = 3, NoisyMapper.format_version
    try:
        newer = m.save(tmp_path / "newer.safetensors")
    finally:
        NoisyMapper.format_version = old
    with pytest.raises(ModelFileError, match="newer than NoisyMapper understands"):
        NoisyMapper.load(newer)


def test_contract_checker_catches_broken_mappers():
    class InPlace(Mapper):
        def __init__(self, config, generator_info):
            super().__init__(config, generator_info)
            self.p = nn.Parameter(torch.ones(()))

        @classmethod
        def default_loss_weights(cls):
            return {"latent_l2": 1.0}

        def forward(self, w_plus, *, target=None):
            return w_plus.add_(self.p)

    with pytest.raises(AssertionError, match="modified w_plus in place"):
        check_mapper_contract(InPlace)

    class Random(InPlace):
        def forward(self, w_plus, *, target=None):
            return w_plus + self.p + torch.randn_like(w_plus)

    with pytest.raises(AssertionError, match="same inputs gave different outputs"):
        check_mapper_contract(Random)

    class UnknownLoss(Random):
        @classmethod
        def default_loss_weights(cls):
            return {"clip": 1.0}

    with pytest.raises(AssertionError, match="unknown loss 'clip'"):
        check_mapper_contract(UnknownLoss)


@dataclass(frozen=True)
class Inner(MapperConfig):
    depth: int = 2


@dataclass(frozen=True)
class Outer(MapperConfig):
    inner: Inner = field(default_factory=Inner)
    scales: tuple[float, ...] | None = None
    name: str | None = None


def test_config_optional_and_nested_fields_round_trip():
    cfg = Outer.from_dict({"inner": {"depth": 5}, "scales": [1, 2.5], "name": None})
    assert cfg == Outer(inner=Inner(depth=5), scales=(1.0, 2.5))
    assert Outer.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="fits none of"):
        Outer.from_dict({"scales": "wide"})
    with pytest.raises(ConfigError, match=r"unknown Inner field\(s\) 'deep'"):
        Outer.from_dict({"inner": {"deep": 1}})


def test_with_overrides_parses_key_value_strings():
    cfg = Outer().with_overrides(["inner.depth=7", "scales=[0.5, 1]", "name=smile"])
    assert cfg == Outer(inner=Inner(depth=7), scales=(0.5, 1.0), name="smile")
    assert NoisyConfig().with_overrides(["hidden=3"]).hidden == 3
    with pytest.raises(ConfigError, match=r"unknown NoisyConfig field\(s\) 'hiden'"):
        NoisyConfig().with_overrides(["hiden=3"])
    with pytest.raises(ConfigError, match="expected key=value"):
        NoisyConfig().with_overrides(["hidden"])
    with pytest.raises(ConfigError, match="not a nested config"):
        NoisyConfig().with_overrides(["hidden.x=1"])
    with pytest.raises(ConfigError, match="expected an int; got str 'big'"):
        NoisyConfig().with_overrides(["hidden=big"])


def test_generator_info_from_our_stylegan2_config():
    stylegan2 = pytest.importorskip("latentedit.stylegan2.config")
    cfg = stylegan2.GeneratorConfig(resolution=64, w_dim=32)
    assert GeneratorInfo.from_generator(cfg, ("smile",)) == GeneratorInfo(10, 32, ("smile",), 64)


def test_contract_checker_requires_config_class_to_match():
    with pytest.raises(AssertionError, match="set config_class = NoisyConfig"):
        check_mapper_contract(DirectionMapper, NoisyConfig(), prepare=_fit)
