"""Attribute, latent, cycle, diversity and adversarial losses, and loss weights, checked against hand computations."""

import math

import pytest
import torch
from torch import nn

from latentedit.losses import (
    LOSS_NAMES,
    AttributeLoss,
    CycleLoss,
    DiversityLoss,
    LatentL2Loss,
    LossWeightError,
    NeighbourhoodLoss,
    NonFiniteLossError,
    active_losses,
    attribute_loss,
    discriminator_adversarial_loss,
    diversity_distance,
    diversity_sensitive_loss,
    edit_and_back,
    generator_adversarial_loss,
    image_cycle_loss,
    latent_cycle_loss,
    latent_l2_loss,
    linear_decay,
    neighbourhood_loss,
    r1_penalty,
    resolve_loss_weights,
    sum_losses,
)


# ---- attribute ---------------------------------------------------------------------------------------------------
def test_attribute_loss_hand_values():
    logits = torch.tensor([[0.0, 2.0]])
    target = torch.tensor([[1.0, 0.0]])
    # BCE(0, 1) = log 2 ; BCE(2, 0) = log(1 + e^2)
    expected = (math.log(2) + math.log(1 + math.e ** 2)) / 2
    assert attribute_loss(logits, target).item() == pytest.approx(expected, rel=1e-6)
    # pos_weight multiplies only the positive term: 3 * log 2 and log(1 + e^2)
    pw = torch.tensor([3.0, 5.0])
    expected_pw = (3 * math.log(2) + math.log(1 + math.e ** 2)) / 2
    assert attribute_loss(logits, target, pos_weight=pw).item() == pytest.approx(expected_pw, rel=1e-6)
    # a mask keeps only the first attribute
    assert attribute_loss(logits, target, mask=torch.tensor([1.0, 0.0])).item() == pytest.approx(math.log(2))
    assert attribute_loss(logits, target, mask=torch.zeros(1, 2)).item() == 0.0


def test_attribute_loss_margin_shifts_logits_against_the_target():
    logits = torch.tensor([[4.0, -1.0]])
    target = torch.tensor([[1.0, 0.0]])
    # margin 6: judged as 4 - 6 = -2 against 1 (softplus(2)) and -1 + 6 = 5 against 0 (softplus(5))
    expected = (math.log1p(math.e ** 2) + math.log1p(math.e ** 5)) / 2
    assert attribute_loss(logits, target, margin=6.0).item() == pytest.approx(expected, rel=1e-6)
    # a soft target of 0.5 is not shifted; the gradient at a confident-but-short logit stays large with a margin
    soft = torch.tensor([[0.5, 0.5]])
    assert attribute_loss(logits, soft, margin=6.0).item() == pytest.approx(attribute_loss(logits, soft).item())
    x = torch.tensor([[4.0]], requires_grad=True)
    attribute_loss(x, torch.ones(1, 1)).backward()
    plain = x.grad.item()
    x.grad = None
    attribute_loss(x, torch.ones(1, 1), margin=6.0).backward()
    assert abs(x.grad.item()) > 10 * abs(plain)  # sigmoid(-2) - 1 against sigmoid(4) - 1
    with pytest.raises(ValueError, match="margin must be a number >= 0"):
        attribute_loss(logits, target, margin=-1.0)
    # a per-term margin: only the first column is shifted
    per_term = torch.tensor([[6.0, 0.0]])
    expected = (math.log1p(math.e ** 2) + math.log1p(math.e ** -1)) / 2
    assert attribute_loss(logits, target, margin=per_term).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="margin tensor must be"):
        attribute_loss(logits, target, margin=torch.tensor([[-1.0, 0.0]]))


def test_attribute_module_puts_the_margin_on_changed_attributes_only():
    torch.manual_seed(0)
    clf = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    x = torch.randn(3, 3, 4, 4)
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    changed = torch.tensor([[True, False], [False, False], [True, True]])
    logits = clf(x)
    on_changed = AttributeLoss(clf, margin=4.0, margin_on="changed")(x, t, changed=changed)
    assert on_changed.item() == pytest.approx(attribute_loss(logits, t, margin=4.0 * changed.float()).item())
    on_all = AttributeLoss(clf, margin=4.0, margin_on="all")(x, t, changed=changed)
    assert on_all.item() == pytest.approx(attribute_loss(logits, t, margin=4.0).item())
    assert AttributeLoss(clf, margin=4.0)(x, t, changed=changed).item() == pytest.approx(on_all.item())  # default
    no_mask = AttributeLoss(clf, margin=4.0, margin_on="changed")(x, t)                  # no mask given: every term
    assert no_mask.item() == pytest.approx(on_all.item())
    assert on_changed.item() != pytest.approx(on_all.item())
    with pytest.raises(ValueError, match="margin_on must be one of"):
        AttributeLoss(clf, margin_on="some")


def test_attribute_loss_shape_errors():
    with pytest.raises(ValueError, match=r"logits must be \(B, n_attr\); got \(3,\)"):
        attribute_loss(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match=r"target must be \(2, 3\) like the logits; got \(2, 2\)"):
        attribute_loss(torch.zeros(2, 3), torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"pos_weight must be \(3,\)"):
        attribute_loss(torch.zeros(2, 3), torch.zeros(2, 3), pos_weight=torch.ones(2))


def test_attribute_module_freezes_the_classifier_and_passes_gradients_to_images():
    torch.manual_seed(0)
    clf = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    loss_fn = AttributeLoss(clf, weight=0.5, pos_weight=[1.0, 2.0])
    loss_fn.train()
    assert not clf.training and not any(p.requires_grad for p in clf.parameters())
    x = torch.randn(3, 3, 4, 4, requires_grad=True)
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    value = loss_fn(x, t)
    expected = 0.5 * attribute_loss(clf(x), t, pos_weight=torch.tensor([1.0, 2.0]))
    assert value.item() == pytest.approx(expected.item())
    value.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="positive"):
        AttributeLoss(clf, pos_weight=[1.0, 0.0])
    with_margin = AttributeLoss(clf, margin=3.0)(x.detach(), t)
    assert with_margin.item() == pytest.approx(attribute_loss(clf(x), t, margin=3.0).item())


# ---- latent regularisers ----------------------------------------------------------------------------------------
def test_latent_l2_and_neighbourhood_hand_values():
    w = torch.zeros(2, 3, 4)
    w2 = w.clone()
    w2[0, 0, :] = 1.0  # sample 0: four entries of 1 in layer 0
    w2[1, 1, 0] = 3.0  # sample 1: one entry of 3 in layer 1
    # squares: 4 * 1 + 9 = 13 over 24 entries
    assert latent_l2_loss(w2, w).item() == pytest.approx(13 / 24)
    # per-sample norms: sqrt(4) = 2 and 3 -> mean 2.5
    assert neighbourhood_loss(w2, w).item() == pytest.approx(2.5)
    # per layer: sample 0 -> [2, 0, 0], sample 1 -> [0, 3, 0] -> mean 5/6
    assert neighbourhood_loss(w2, w, per_layer=True).item() == pytest.approx(5 / 6)
    assert LatentL2Loss(weight=2.0)(w2, w).item() == pytest.approx(26 / 24)
    assert NeighbourhoodLoss(weight=0.01)(w2, w).item() == pytest.approx(0.025)
    with pytest.raises(ValueError, match=r"equal shape \(B, num_ws, w_dim\); got \(2, 3, 4\) and \(2, 4\)"):
        latent_l2_loss(w, w[:, 0])


# ---- cycle -------------------------------------------------------------------------------------------------------
class AddTarget(nn.Module):
    """A fake mapper: adds the mean target value to every entry; records its calls."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, w_plus, *, target, **kw):
        self.calls.append(sorted(kw))
        return w_plus + target.mean(1)[:, None, None]


def test_edit_and_back_and_cycle_losses():
    m = AddTarget()
    w = torch.zeros(2, 3, 4)
    w_edit, w_back = edit_and_back(m, w, target=torch.ones(2, 2), source=torch.zeros(2, 2))
    assert torch.equal(w_edit, torch.ones(2, 3, 4)) and torch.equal(w_back, torch.ones(2, 3, 4))
    assert m.calls == [[], []]  # no z passed when none given
    z = torch.zeros(2, 1)
    edit_and_back(m, w, target=torch.ones(2, 2), source=torch.zeros(2, 2), z=z, z_back=z)
    assert m.calls[-2:] == [["z"], ["z"]]
    assert latent_cycle_loss(w_back, w).item() == 1.0
    x, y = torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    y[0, 0, 0, 0] = 6.0
    assert image_cycle_loss(y, x).item() == pytest.approx(0.5)  # 6 / 12 entries
    assert CycleLoss(weight=2.0, kind="l2")(y, x).item() == pytest.approx(2 * 36 / 12)
    with pytest.raises(ValueError, match="same shape"):
        latent_cycle_loss(w, w[:1])
    with pytest.raises(ValueError, match="'l1' or 'l2'"):
        CycleLoss(kind="huber")


# ---- diversity ---------------------------------------------------------------------------------------------------
def test_diversity_hand_values_and_decay():
    a, b = torch.zeros(2, 3), torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    assert diversity_distance(a, b).item() == pytest.approx(1.0)  # 6 / 6
    assert diversity_sensitive_loss(a, b).item() == pytest.approx(-1.0)
    assert [linear_decay(2.0, s, 100) for s in (0, 25, 100, 150)] == [2.0, 1.5, 0.0, 0.0]
    assert linear_decay(2.0, 10_000, 0) == 2.0  # no decay (ISF-GAN's effective behaviour)
    loss = DiversityLoss(weight=2.0, decay_steps=100)
    assert loss(a, b, step=0).item() == pytest.approx(-2.0)
    assert loss(a, b, step=50).item() == pytest.approx(-1.0)
    assert loss(a, b, step=200).item() == 0.0
    with pytest.raises(ValueError, match=">= 0"):
        DiversityLoss(decay_steps=-1)


def test_diversity_detaches_the_second_output_by_default():
    a = torch.zeros(1, 4, requires_grad=True)
    b = torch.ones(1, 4, requires_grad=True)
    DiversityLoss()(a, b).backward()
    assert b.grad is None and torch.allclose(a.grad, torch.full((1, 4), 0.25))  # d(-mean|a-b|)/da = +1/4 (a < b)
    a.grad = None
    DiversityLoss(detach_second=False)(a, b).backward()
    assert torch.allclose(b.grad, torch.full((1, 4), -0.25))


# ---- adversarial -------------------------------------------------------------------------------------------------
def test_adversarial_and_r1_hand_values():
    zero = torch.zeros(4)
    assert generator_adversarial_loss(zero).item() == pytest.approx(math.log(2))
    assert discriminator_adversarial_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    a = torch.tensor([1.0, 2.0, 2.0], requires_grad=True)  # D(x) = <a, x>: grad = a, |a|^2 = 9 -> R1 = 4.5
    x = torch.randn(5, 3, requires_grad=True)
    r1 = r1_penalty(x @ a, x)
    assert r1.item() == pytest.approx(4.5)
    r1.backward()  # create_graph: the penalty trains the discriminator; d(0.5 |a|^2)/da = a
    assert torch.allclose(a.grad, a.detach())
    with pytest.raises(ValueError, match="requires_grad_"):
        r1_penalty(torch.zeros(2), torch.zeros(2, 3))


# ---- weights -----------------------------------------------------------------------------------------------------
def test_resolve_loss_weights():
    w = resolve_loss_weights({"attribute": 1, "latent_l2": 0.8}, {"latent_l2": 0.0, "lpips": 1.0})
    assert w == {"attribute": 1.0, "latent_l2": 0.0, "lpips": 1.0}
    assert active_losses(w) == ["attribute", "lpips"]
    with pytest.raises(LossWeightError,
                       match=r"unknown loss 'lpip' \(did you mean 'lpips'\?\); known losses: attribute"):
        resolve_loss_weights({}, {"lpip": 1.0})
    with pytest.raises(LossWeightError, match="finite number >= 0"):
        resolve_loss_weights({"attribute": -1.0})
    assert set(LOSS_NAMES) >= {"attribute", "lpips", "identity", "latent_l2", "neighbourhood", "latent_cycle",
                               "image_cycle", "diversity"}


def test_sum_losses_weights_and_reports_non_finite_terms():
    terms = {"attribute": torch.tensor(2.0, requires_grad=True), "lpips": torch.tensor(3.0),
             "identity": torch.tensor(7.0)}
    total, log = sum_losses(terms, {"attribute": 0.5, "lpips": 2.0})
    assert total.item() == pytest.approx(7.0) and log == {"attribute": 1.0, "lpips": 6.0}
    assert total.requires_grad
    with pytest.raises(NonFiniteLossError) as info:
        sum_losses({"attribute": torch.tensor(float("nan")), "lpips": torch.tensor(float("inf"))})
    assert set(info.value.terms) == {"attribute", "lpips"}
    with pytest.raises(ValueError, match="scalar"):
        sum_losses({"attribute": torch.zeros(2)})


def test_random_shift_flip_moves_each_image_by_at_most_the_shift_and_passes_gradients():
    from latentedit.losses.attribute import random_shift_flip

    x = torch.zeros(64, 1, 9, 9)
    x[:, :, 4, 4] = 1.0                                   # one bright pixel in the centre of every image
    x.requires_grad_(True)
    assert random_shift_flip(x, 0) is x
    out = random_shift_flip(x, 2, generator=torch.Generator().manual_seed(0))
    pos = out.detach().flatten(1).argmax(dim=1)
    rows, cols = pos // 9, pos % 9
    assert int((rows - 4).abs().max()) == 2 and int((cols - 4).abs().max()) == 2  # every offset reached, none more
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 10
    assert torch.allclose(out.detach().sum(dim=(1, 2, 3)), torch.ones(64))    # the pixel is moved, not lost
    out.sum().backward()                                  # every output pixel comes from exactly one input pixel
    assert float(x.grad.sum()) == out.numel() and torch.equal(x.grad[:, :, 4, 4], torch.ones(64, 1))
    asym = torch.zeros(200, 1, 1, 4)
    asym[..., 0] = 1.0                                    # a left edge: mirrored images have it on the right
    mirrored = random_shift_flip(asym, 1, generator=torch.Generator().manual_seed(1))[..., 0, 0, 3] == 1.0
    assert 60 < int(mirrored.sum()) < 140


def test_attribute_augment_shift_is_validated():
    from latentedit.losses import LossSettings

    with pytest.raises(ValueError, match="attribute_augment_shift must be an int >= 0"):
        LossSettings(attribute_augment_shift=-1)
