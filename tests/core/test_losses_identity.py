"""Identity loss: 1 - cos by hand, any embedder plugged in, facenet's InceptionResnetV1 without downloads."""

import os

import pytest
import torch
from torch import nn

from latentedit.losses import FaceNetEmbedder, IdentityLoss, MissingWeightsError, identity_loss
from latentedit.losses.identity import crop_and_resize


@pytest.fixture(autouse=True)
def empty_torch_home(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


class TinyEmbedder(nn.Module):
    """(B, 3, 4, 4) -> (B, 5): a linear map, enough to check the loss arithmetic."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(48, 5)

    def forward(self, x):
        return self.lin(x.flatten(1))


def test_identity_loss_hand_values():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [3.0, 4.0]])
    b = torch.tensor([[0.0, 2.0], [-5.0, 0.0], [6.0, 8.0]])
    # cos: 0 -> 1 ; -1 -> 2 ; 1 -> 0
    assert torch.allclose(identity_loss(a, b, reduction="none"), torch.tensor([1.0, 2.0, 0.0]), atol=1e-6)
    assert identity_loss(a, b).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"two \(B, D\) embeddings of equal shape; got \(3, 2\) and \(2, 2\)"):
        identity_loss(a, b[:2])


def test_identity_module_with_any_embedder():
    torch.manual_seed(0)
    emb = TinyEmbedder()
    loss = IdentityLoss(emb, weight=0.1)
    loss.train()
    assert not emb.training and not any(p.requires_grad for p in emb.parameters())
    x_edit = torch.randn(3, 3, 4, 4, requires_grad=True)
    x_src = torch.randn(3, 3, 4, 4, requires_grad=True)
    value = loss(x_edit, x_src)
    ea, eb = emb(x_edit).detach(), emb(x_src).detach()
    by_hand = 1 - (ea * eb).sum(1) / (ea.norm(dim=1) * eb.norm(dim=1))
    assert value.item() == pytest.approx(0.1 * by_hand.mean().item(), rel=1e-5)
    value.backward()
    assert x_edit.grad.abs().sum() > 0 and x_src.grad is None  # the source embedding is a constant
    assert loss(x_src, x_src).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(TypeError, match="nn.Module embedder"):
        IdentityLoss(lambda x: x)
    with pytest.raises(ValueError, match=r"must return \(B=3, D\)"):
        IdentityLoss(nn.Flatten(0))(x_src, x_src)


def test_identity_l1_distance_by_hand_and_from_the_loss_settings():
    from latentedit.losses import LossSettings, build_loss_modules
    from latentedit.losses.identity import identity_l1

    a = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    b = torch.tensor([[0.0, 2.0], [3.0, 3.0]])
    assert torch.allclose(identity_l1(a, b, reduction="none"), torch.tensor([1.5, 0.5]))
    torch.manual_seed(0)
    emb = TinyEmbedder()
    x_edit, x_src = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    by_hand = (emb(x_edit) - emb(x_src)).abs().mean().item()
    assert IdentityLoss(emb, weight=2.0, distance="l1")(x_edit, x_src).item() == pytest.approx(2 * by_hand, rel=1e-5)
    mods = build_loss_modules({"identity": 2.0}, LossSettings(identity_distance="l1"), embedder=emb)
    assert mods["identity"](x_edit, x_src).item() == pytest.approx(2 * by_hand, rel=1e-5)
    with pytest.raises(ValueError, match="identity_distance must be one of"):
        LossSettings(identity_distance="l2")
    with pytest.raises(ValueError, match="distance must be one of"):
        IdentityLoss(emb, distance="euclid")


def test_crop_and_resize():
    x = torch.arange(64.0).reshape(1, 1, 8, 8).expand(1, 3, 8, 8)
    out = crop_and_resize(x, 4, crop=(0.0, 0.5, 0.5, 1.0))  # the top-right 4x4 block, unchanged
    assert torch.equal(out[0, 0], x[0, 0, :4, 4:])
    assert crop_and_resize(x, 2).shape == (1, 3, 2, 2)
    assert crop_and_resize(x, 16).shape == (1, 3, 16, 16)
    assert crop_and_resize(x, 2)[0, 0, 0, 0].item() == pytest.approx(x[0, 0, :4, :4].mean().item())
    with pytest.raises(ValueError, match="fractions"):
        crop_and_resize(x, 4, crop=(0.5, 0.2, 0.0, 1.0))


@pytest.fixture(scope="module")
def random_facenet():
    torch.manual_seed(0)
    return FaceNetEmbedder(pretrained=False)


def test_facenet_missing_weights_names_the_cache_path(tmp_path):
    expected = tmp_path / "torch" / "checkpoints" / "20180402-114759-vggface2.pt"
    with pytest.raises(MissingWeightsError) as info:
        IdentityLoss.facenet()
    msg = str(info.value)
    assert str(expected) in msg and "weights_path" in msg and "pretrained=False" in msg
    assert "timesler/facenet-pytorch/releases" in msg
    with pytest.raises(ValueError, match="vggface2, casia-webface"):
        FaceNetEmbedder("ms1m")


def test_facenet_random_embeds_160px_crops(random_facenet):
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    e = random_facenet(x)
    assert e.shape == (1, 512)
    assert e.norm(dim=1).item() == pytest.approx(1.0, abs=1e-5)  # InceptionResnetV1 L2-normalises
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"):
        random_facenet(torch.zeros(1, 64, 64))


def test_facenet_weights_from_cache_or_file(random_facenet, tmp_path):
    state = dict(random_facenet.net.state_dict())
    state["logits.weight"], state["logits.bias"] = torch.zeros(2, 512), torch.zeros(2)  # real files carry a head
    path = tmp_path / "facenet.pt"
    torch.save(state, path)
    loaded = FaceNetEmbedder(weights_path=path)
    key = "last_linear.weight"
    assert torch.equal(loaded.net.state_dict()[key], state[key])
    cache = tmp_path / "torch" / "checkpoints"
    cache.mkdir(parents=True)
    os.symlink(path, cache / "20180402-114759-vggface2.pt")
    from_cache = IdentityLoss.facenet(weight=0.5)
    assert torch.equal(from_cache.embedder.net.state_dict()[key], state[key]) and from_cache.weight == 0.5
    torch.save({"conv2d_1a.conv.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="weights do not fit the model"):
        FaceNetEmbedder(weights_path=tmp_path / "bad.pt")
