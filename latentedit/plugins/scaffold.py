"""What ``latentedit new-plugin NAME`` writes: a standalone, installable mapper plugin package.

    latentedit-NAME/
      pyproject.toml          the [project.entry-points."latentedit.mappers"] line that makes it discoverable
      README.md
      latentedit_NAME/__init__.py
      latentedit_NAME/mapper.py   config dataclass + Mapper subclass (a conditioned residual MLP to start from)
      tests/test_NAME.py          the shared contract test + a few training steps with latentedit's losses

The tree is written to a temporary sibling folder and renamed into place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from string import Template

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*[a-z0-9]$|^[a-z]$")

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "latentedit-${dash}"
version = "0.1.0"
description = "A latentedit mapper plugin: ${name}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["latentedit"]

[project.optional-dependencies]
test = ["pytest"]

# This line is the whole plugin mechanism: latentedit finds mappers through this entry-point group.
[project.entry-points."latentedit.mappers"]
${name} = "${pkg}.mapper:${cls}"

[tool.setuptools]
packages = ["${pkg}"]
"""

_INIT = '''\
"""The '${name}' latentedit mapper plugin."""

from ${pkg}.mapper import ${cls}, ${cls}Config

__all__ = ["${cls}", "${cls}Config"]
'''

_MAPPER = '''\
"""The '${name}' mapper: edits W+ latents towards target attributes.

Contract (see latentedit.plugins.contract): built from (config, generator_info); forward maps
w_plus (B, num_ws, w_dim) + target (B, n_attr) to an edited w_plus of the same shape.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from latentedit.plugins import Mapper, MapperConfig


@dataclass(frozen=True)
class ${cls}Config(MapperConfig):
    """Settings of the '${name}' mapper (every field needs a default and a doc)."""

    hidden: int = field(default=256, metadata={"doc": "width of the hidden layer of the offset MLP"})
    strength: float = field(default=1.0, metadata={"doc": "scale applied to the predicted latent offset"})


class ${cls}(Mapper):
    """w_plus' = w_plus + strength * MLP([w_plus, target]) per W+ layer; starts as the identity edit."""

    config_class = ${cls}Config
    kind = "trainable"
    takes_noise = False
    takes_style = False

    def __init__(self, config, generator_info):
        super().__init__(config, generator_info)
        w_dim, n_attr = generator_info.w_dim, generator_info.n_attr
        self.net = nn.Sequential(
            nn.Linear(w_dim + n_attr, self.config.hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(self.config.hidden, w_dim),
        )
        nn.init.zeros_(self.net[-1].weight)  # a zero offset at first: the edit starts as the identity
        nn.init.zeros_(self.net[-1].bias)

    @classmethod
    def default_loss_weights(cls):
        """Losses (names from latentedit.losses.LOSS_NAMES) and their default weights."""
        return {"attribute": 1.0, "latent_l2": 0.8, "identity": 0.1}

    def forward(self, w_plus, *, target):
        """w_plus (B, num_ws, w_dim), target (B, n_attr) -> (B, num_ws, w_dim)."""
        b, num_ws, _ = w_plus.shape
        cond = target.to(w_plus.dtype)[:, None, :].expand(b, num_ws, target.shape[1])
        return w_plus + self.config.strength * self.net(torch.cat([w_plus, cond], dim=-1))
'''

_TEST = '''\
"""Tests of the '${name}' mapper: the shared latentedit contract, and a few training steps."""

import torch

from latentedit.losses import attribute_loss, latent_l2_loss
from latentedit.plugins import GeneratorInfo
from latentedit.testing.mapper_contract import check_mapper_contract

from ${pkg} import ${cls}, ${cls}Config


def test_contract(tmp_path):
    check_mapper_contract(${cls}, ${cls}Config(hidden=16), tmp_path=tmp_path)


def test_learns_to_flip_a_linear_judge():
    torch.manual_seed(0)
    info = GeneratorInfo(num_ws=6, w_dim=16, attribute_names=("smile",), resolution=16)
    mapper = ${cls}(${cls}Config(hidden=32), info)
    judge = torch.nn.Linear(16, 1)  # a frozen stand-in classifier on the mean W code
    judge.requires_grad_(False)
    w = torch.randn(8, 6, 16)
    target = (judge(w.mean(1)) < 0).float()  # ask for the opposite of what the judge sees now
    opt = torch.optim.Adam(mapper.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        w_edit = mapper(w, target=target)
        loss = attribute_loss(judge(w_edit.mean(1)), target) + 0.1 * latent_l2_loss(w_edit, w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
'''

_README = """\
# latentedit-${dash}

A mapper plugin named `${name}` for latentedit (editing StyleGAN2 images through their latent space).

## Install and check

```
pip install -e .
latentedit plugins list            # shows '${name}' with its version and kind
latentedit plugins show ${name}    # its config fields, defaults and docs
pytest tests
```

latentedit finds the plugin through the entry point in `pyproject.toml`:

```
[project.entry-points."latentedit.mappers"]
${name} = "${pkg}.mapper:${cls}"
```

## Use

```python
from latentedit.plugins import build_mapper, GeneratorInfo
info = GeneratorInfo(num_ws=18, w_dim=512, attribute_names=("smile",), resolution=1024)
mapper = build_mapper("${name}", info, {"hidden": 256})
w_edit = mapper(w_plus, target=target)      # (B, 18, 512), (B, 1) -> (B, 18, 512)
mapper.save("${name}.safetensors")
```

Train it with the shared trainer: `latentedit train mapper --method ${name} --config cfg.yaml`; the losses and their
default weights come from `${cls}.default_loss_weights()`.

## The contract

Edit `${pkg}/mapper.py`. Keep the config a frozen dataclass with defaults and docs, keep conditioning arguments
keyword-only (`forward(self, w_plus, *, target)`; add `z` / `style` and set `takes_noise` / `takes_style` if you
use them), and bump `format_version` when the saved weights change layout. `tests/test_${name}.py` runs
`latentedit.testing.mapper_contract.check_mapper_contract`, which checks all of this.
"""


class ScaffoldError(ValueError):
    """The plugin name or the destination is not usable."""


def plugin_names(name: str) -> dict[str, str]:
    """The names used in the scaffold: entry name, distribution suffix, import package and class name."""
    if not isinstance(name, str) or not NAME_RE.match(name) or "__" in name or "--" in name:
        raise ScaffoldError(f"plugin name must be lowercase letters, digits, '_' or '-', starting with a letter "
                            f"(e.g. 'smile_shift'); got {name!r}")
    snake = name.replace("-", "_")
    cls = "".join(part.capitalize() for part in snake.split("_")) + "Mapper"
    return {"name": snake, "dash": snake.replace("_", "-"), "pkg": f"latentedit_{snake}", "cls": cls}


def scaffold_plugin(name: str, dest: str | os.PathLike | None = None) -> tuple[Path, list[Path]]:
    """Write the plugin package for ``name`` into ``dest`` (default ``./latentedit-<name>``), which must not exist or
    be empty. Returns ``(project_dir, files written)``."""
    names = plugin_names(name)
    dest = Path(dest) if dest is not None else Path.cwd() / f"latentedit-{names['dash']}"
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ScaffoldError(f"{dest} already exists and is not an empty folder; choose another --dir")
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"{names['pkg']}/__init__.py": _INIT,
        f"{names['pkg']}/mapper.py": _MAPPER,
        f"tests/test_{names['name']}.py": _TEST,
    }
    from latentedit.io.modelfile import atomic_folder

    with atomic_folder(dest, remove_existing=Path.rmdir) as tmp:  # an existing dest is empty (checked above)
        for rel, template in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(Template(template).substitute(names), encoding="utf-8")
    return dest, [dest / rel for rel in files]
