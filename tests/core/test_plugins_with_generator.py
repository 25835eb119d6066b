"""Integration: a mapper plugin + our StyleGAN2 generator + the losses, the way the shared trainer will use them.

A tiny random generator (32 px) and tiny random judges: one optimisation step through G.synthesis reaches the mapper,
never the frozen generator or judges, and every configured loss is finite.
"""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from latentedit.losses import LossSettings, build_loss_modules, edit_and_back, resolve_loss_weights, sum_losses
from latentedit.plugins import GeneratorInfo, Mapper, MapperConfig, registry
from latentedit.testing.fake_plugins import isolate_plugins
from latentedit.testing.mapper_contract import check_mapper_contract
from tests.conftest import tiny_generator


@dataclass(frozen=True)
class OffsetConfig(MapperConfig):
    hidden: int = 16


class OffsetMapper(Mapper):
    """w' = w + MLP([target, z]) broadcast to every layer (multimodal)."""

    config_class = OffsetConfig
    takes_noise = True

    def __init__(self, config, generator_info):
        super().__init__(config, generator_info)
        hidden = self.config.hidden
        self.net = nn.Sequential(nn.Linear(generator_info.n_attr + 4, hidden), nn.ReLU(),
                                 nn.Linear(hidden, generator_info.w_dim))

    @property
    def z_dim(self):
        return 4

    @classmethod
    def default_loss_weights(cls):
        return {"attribute": 1.0, "lpips": 1.0, "identity": 0.1, "latent_l2": 0.8, "neighbourhood": 0.01,
                "latent_cycle": 1.0, "image_cycle": 1.0, "diversity": 1.0}

    def forward(self, w_plus, *, target, z=None):
        z = torch.zeros(w_plus.shape[0], 4) if z is None else z
        return w_plus + self.net(torch.cat([target, z], 1))[:, None, :]


def _judge(out_dim):
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, out_dim))


def test_one_training_step_through_the_generator(monkeypatch):
    isolate_plugins(monkeypatch)
    G = tiny_generator(resolution=32).requires_grad_(False)
    info = GeneratorInfo.from_generator(G, ("smile", "glasses"))
    assert info == GeneratorInfo(8, 8, ("smile", "glasses"), 32)
    check_mapper_contract(OffsetMapper, OffsetConfig(), info)

    registry.register_mapper("offset", OffsetMapper)
    mapper = registry.build_mapper("offset", info)
    weights = resolve_loss_weights(OffsetMapper.default_loss_weights(), {"identity": 0.2})
    losses = build_loss_modules(weights, LossSettings(lpips_pretrained_backbone=False, diversity_decay_steps=100),
                                classifier=_judge(2), embedder=_judge(6))
    opt = torch.optim.Adam(mapper.parameters(), lr=1e-3)

    w = G.mapping(torch.randn(3, G.z_dim))
    source = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    target = 1 - source
    z1, z2 = torch.randn(3, 4), torch.randn(3, 4)
    before = [p.detach().clone() for p in mapper.parameters()]

    w_edit, w_back = edit_and_back(mapper, w, target=target, source=source, z=z1, z_back=z2)
    w_edit2 = mapper(w, target=target, z=z2)
    x_src = G.synthesis(w)
    x_edit, x_back, x_edit2 = G.synthesis(w_edit), G.synthesis(w_back), G.synthesis(w_edit2)
    assert x_edit.shape == (3, 3, 32, 32)
    terms = {
        "attribute": losses["attribute"](x_edit, target),
        "lpips": losses["lpips"](x_edit, x_src),
        "identity": losses["identity"](x_edit, x_src),
        "latent_l2": losses["latent_l2"](w_edit, w),
        "neighbourhood": losses["neighbourhood"](w_edit, w),
        "latent_cycle": losses["latent_cycle"](w_back, w),
        "image_cycle": losses["image_cycle"](x_back, x_src),
        "diversity": losses["diversity"](x_edit, x_edit2, step=10),
    }
    total, log = sum_losses(terms)  # the modules already carry their weights
    assert set(log) == set(weights) and all(torch.isfinite(torch.tensor(v)) for v in log.values())
    assert log["identity"] == pytest.approx(0.2 * (terms["identity"] / 0.2).item())
    opt.zero_grad()
    total.backward()
    opt.step()

    assert all(p.grad is None for p in G.parameters())
    assert all(p.grad is None for m in losses.values() for p in m.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, mapper.parameters(), strict=True))
