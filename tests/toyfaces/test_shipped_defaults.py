"""The shipped toy-faces defaults (``plugins/latentedit_toyfaces/assets/``): they load, belong together (generator
fingerprints), do what their figures say on small held-out sets, and make the no-argument commands work end to end.

Each test skips when its asset is not in this checkout (a build without the trained files)."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from latentedit_toyfaces import assets
from latentedit.cli.main import cli

GEN = assets.DEFAULT_GENERATOR
ISF, DIRS, E4E, SENS = ("toyfaces_isf.safetensors", "toyfaces_directions.safetensors", "toyfaces_e4e.safetensors",
                        "toyfaces_sensorium.safetensors")


def need(*names):
    missing = [n for n in names if not assets.has_asset(n)]
    return pytest.mark.skipif(bool(missing), reason=f"not shipped in this checkout: {', '.join(missing)}")


@pytest.fixture(scope="module")
def G():
    from latentedit.editing import load_generator

    return load_generator(assets.asset_path(GEN))


@need(GEN)
@torch.no_grad()
def test_generator_reproduces_the_renderer_on_held_out_latents(G):
    from latentedit_toyfaces.recipes.distill import DistillConfig, heldout_l1

    z = torch.randn(64, G.z_dim, generator=torch.Generator().manual_seed(2024))
    l1 = heldout_l1(G, z, DistillConfig())
    assert l1 < 0.02, l1  # mean |G(z) - render(z)| in [0, 1] units (about 0.012 when shipped)
    x = G(z[:4], noise_mode="const")
    assert x.shape == (4, 3, 64, 64) and float(x.std()) > 0.2


@need(GEN, ISF, DIRS)
def test_every_shipped_mapper_was_made_for_the_shipped_generator(G):
    from latentedit.cli.common import load_mapper_for_edit
    from latentedit_toyfaces.domain import MAPPER_ASSETS

    for name, asset in MAPPER_ASSETS.items():
        if assets.has_asset(asset):
            mapper, plugin, fingerprint = load_mapper_for_edit(name, None, G)
            assert plugin == name and fingerprint == G.fingerprint(), (name, fingerprint)


@need(GEN, ISF)
@torch.no_grad()
def test_shipped_isf_flips_attributes_and_varies_with_noise(G):
    from latentedit.cli.common import load_mapper_for_edit
    from latentedit_toyfaces.judges import load_judge

    isf = load_mapper_for_edit("isf", None, G)[0]
    est = load_judge("factors")
    from latentedit_toyfaces.factors import INDEX

    w = G.mapping(torch.randn(48, G.z_dim, generator=torch.Generator().manual_seed(77)))
    before = est(G.synthesis(w, noise_mode="const"))
    names = list(isf.generator_info.attribute_names)
    hits = []
    for a, name in enumerate(names):
        target = torch.full((len(w), len(names)), float("nan"))
        target[:, a] = (before[:, INDEX[name]] <= 0.5).float()
        z = torch.randn(len(w), isf.z_dim, generator=torch.Generator().manual_seed(a))
        after = est(G.synthesis(isf(w, target=target, z=z), noise_mode="const"))
        hits.append(float(((after[:, INDEX[name]] > 0.5).float() == target[:, a]).float().mean()))
    # shipped figures on these 48 faces: smile 0.60, eyeglasses 0.71, age 0.29, hair colour 0.15, beard 0.50 — far
    # short of the 0.95 (the mapper satisfies the training judge before the factor estimator; see the plugin
    # README); this guards against regressions below the shipped level
    assert max(hits) > 0.55 and sum(hits) / len(hits) > 0.35, dict(zip(names, hits))
    assert torch.equal(isf(w, target=torch.full((len(w), len(names)), float("nan")), z=z), w)  # keep all: untouched
    t = torch.full((len(w), len(names)), float("nan"))
    t[:, 0] = 1.0
    z1, z2 = torch.randn(2, len(w), isf.z_dim, generator=torch.Generator().manual_seed(9))
    assert float((isf(w, target=t, z=z1) - isf(w, target=t, z=z2)).abs().mean()) > 1e-3


@need(GEN, DIRS)
@torch.no_grad()
def test_shipped_directions_edit_within_the_spread_of_the_samples(G):
    """A full edit must land where samples of the generator live: at most ~3.5 standard deviations of the signed
    distance past the boundary (an absolute 3.0 sent the second generator's smile 17 of them away)."""
    from latentedit_toyfaces.directions import load_toy_directions

    m = load_toy_directions(G, fit_if_missing=False)
    w = G.mapping(torch.randn(1000, G.z_dim, generator=torch.Generator().manual_seed(12)))
    spread = m.signed_distance(w).std(dim=0)
    for a, name in enumerate(m.generator_info.attribute_names):
        assert 1.0 < m.full_edit_distance(a) / float(spread[a]) < 3.5, (name, m.full_edit_distance(a), spread[a])


@need(GEN, DIRS)
def test_demo_writes_the_grid_and_reports_flips(tmp_path):
    res = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "shipped generator" in res.output and Image.open(tmp_path / "edits.png").size[0] >= 8 * 64
    rates = [float(part.split()[-1].rstrip("%")) for part in res.output.split("classifier):")[1].split("\n")[0]
             .split(",")]
    # smile is the weak attribute of the shipped generator (its mouths are faint; see docs/toyfaces_generator.md)
    assert len(rates) == 5 and sorted(rates)[1] >= 80, res.output


@need(GEN, ISF, E4E)
def test_edit_a_photo_with_the_toy_defaults_writes_every_file(tmp_path):
    import skimage.data

    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    res = CliRunner().invoke(cli, ["edit", str(photo), "--attr", "smile=+1", "--attr", "eyeglasses=1",
                                   "--samples", "2", "--out", str(tmp_path / "out"), "--gif"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "out"
    assert (out / "astronaut" / "aligned.png").is_file() and (out / "astronaut_grid.png").is_file()
    assert len(list((out / "astronaut").glob("pasted_*.png"))) >= 2 and (out / "astronaut_strip.gif").is_file()
    assert Image.open(next((out / "astronaut").glob("pasted_*.png"))).size == (512, 512)


@need(GEN)
def test_info_describes_the_default():
    res = CliRunner().invoke(cli, ["info"])
    assert res.exit_code == 0, res.output
    assert "64" in res.output and "toyfaces" in res.output.lower()
    # the stored figures are shown with the probe's kind, and every missed bar is named (never hidden)
    from latentedit.io.modelfile import read_model_file

    bars = read_model_file(assets.asset_path(GEN))[3]["quality"]["bars"]
    assert "W-probe balanced accuracy" in res.output
    assert ("bars missed:" in res.output) == (not all(bars.values()))
    assert all(name in res.output for name, met in bars.items() if not met)
