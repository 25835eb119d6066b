"""LPIPS: built without downloads, weights found in the hub cache or an explicit file, value checked by hand."""

import pytest
import torch
import torchvision

from latentedit.losses import LPIPSLoss, MissingWeightsError, build_lpips, lpips_loss


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Any attempt to download fails loudly; the torch cache is an empty temp folder."""

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@pytest.fixture(scope="module")
def random_lpips():
    """One random-backbone LPIPS(alex) shared by the tests that only read it (building one takes ~1 s)."""
    torch.manual_seed(0)
    return build_lpips("alex", pretrained_backbone=False)


def _images(seed, n=2, size=64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def lpips_by_hand(model, x, y):
    """LPIPS v0.1 written out: scale, backbone slices, unit-normalise channels, squared difference, 1x1 linear
    weights, spatial mean, sum over layers."""
    shift, scale = model.scaling_layer.shift, model.scaling_layer.scale
    hx, hy = (x - shift) / scale, (y - shift) / scale
    total = torch.zeros(x.shape[0])
    for k in range(1, 6):
        sl = getattr(model.net, f"slice{k}")
        hx, hy = sl(hx), sl(hy)
        nx = hx / (hx.square().sum(1, keepdim=True).sqrt() + 1e-10)
        ny = hy / (hy.square().sum(1, keepdim=True).sqrt() + 1e-10)
        w = getattr(model, f"lin{k - 1}").model[-1].weight.reshape(-1)  # (C,)
        total += torch.einsum("bchw,c->bhw", (nx - ny).square(), w).mean(dim=(1, 2))
    return total


def test_missing_backbone_error_names_the_exact_cache_path(tmp_path):
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    with pytest.raises(MissingWeightsError) as info:
        LPIPSLoss("alex")
    msg = str(info.value)
    assert str(expected) in msg and "alexnet-owt-7be5be79.pth" in msg
    assert "backbone_path" in msg and "pretrained_backbone=False" in msg and "download.pytorch.org" in msg
    with pytest.raises(MissingWeightsError, match="does not exist"):
        build_lpips("alex", backbone_path=tmp_path / "nope.pth")
    with pytest.raises(ValueError, match="one of alex, vgg, squeeze"):
        build_lpips("resnet")


def test_random_backbone_matches_hand_computation(random_lpips):
    loss = LPIPSLoss(model=random_lpips, weight=2.0)
    x, y = _images(1), _images(2)
    by_hand = lpips_by_hand(loss.model, x, y)
    assert torch.allclose(lpips_loss(x, y, loss.model, reduction="none"), by_hand, rtol=1e-5, atol=1e-7)
    assert loss(x, y).item() == pytest.approx(2.0 * by_hand.mean().item(), rel=1e-5)
    assert loss(x, x).item() == pytest.approx(0.0, abs=1e-7)


def test_backbone_from_hub_cache_and_explicit_path(tmp_path):
    torch.manual_seed(0)
    full = torchvision.models.alexnet(weights=None).state_dict()
    reference = {k: v for k, v in full.items() if k.startswith("features.")}  # what LPIPS reads (10 MB, not 233)
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(reference, cache / "alexnet-owt-7be5be79.pth")
    model = build_lpips("alex")  # pretrained_backbone=True: found in the cache
    assert torch.equal(getattr(model.net.slice1, "0").weight, reference["features.0.weight"])
    assert torch.equal(getattr(model.net.slice5, "10").weight, reference["features.10.weight"])
    explicit = tmp_path / "mine.pth"
    torch.save(reference, explicit)
    model2 = build_lpips("alex", backbone_path=explicit)
    assert torch.equal(getattr(model2.net.slice3, "6").bias, reference["features.6.bias"])
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match="not the expected torchvision backbone"):
        build_lpips("alex", backbone_path=tmp_path / "wrong.pth")


def test_linear_heads_come_from_the_lpips_package(random_lpips):
    import lpips

    model = random_lpips
    shipped = torch.load(f"{lpips.__path__[0]}/weights/v0.1/alex.pth", map_location="cpu", weights_only=True)
    assert torch.equal(model.lin0.model[1].weight, shipped["lin0.model.1.weight"])


def test_frozen_judge_gradients_reach_images_only_and_pooling(random_lpips):
    loss = LPIPSLoss(model=random_lpips, max_size=64)
    loss.train()
    assert not loss.model.training and not any(p.requires_grad for p in loss.parameters())
    x = _images(3, size=128).requires_grad_()
    y = _images(4, size=128)
    value = loss(x, y)
    value.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    pooled = torch.nn.functional.avg_pool2d(x.detach(), 2), torch.nn.functional.avg_pool2d(y, 2)
    assert value.item() == pytest.approx(lpips_loss(*pooled, loss.model, max_size=None).item(), rel=1e-5)


def test_shape_errors(random_lpips):
    model = random_lpips
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\) images in \[-1, 1\]; got \(2, 1, 8, 8\)"):
        lpips_loss(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8), model)
    with pytest.raises(ValueError, match="same shape"):
        lpips_loss(torch.zeros(2, 3, 64, 64), torch.zeros(1, 3, 64, 64), model)
