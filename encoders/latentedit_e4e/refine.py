"""Optional refinement of inverted codes: optimise W+ (and, if asked, the per-layer noise) against the target
image with LPIPS + L2, starting from the encoder's output. Trades time for fidelity (and some editability: keep
``steps`` small, the codes drift away from W the longer it runs).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from latentedit.latents import check_w_plus


@dataclass(frozen=True)
class RefineConfig:
    """Settings of ``refine_w_plus`` (defaults follow the StyleGAN2 projector's spirit, shortened)."""

    steps: int = 100
    lr: float = 0.01
    l2_weight: float = 1.0
    lpips_weight: float = 1.0
    noise: bool = False
    noise_reg: float = 1e3
    lpips_net: str = "alex"


def noise_regularisation(noise: list[torch.Tensor]) -> torch.Tensor:
    """Auto-correlation penalty that keeps optimised noise maps (B, 1, r, r) white (StyleGAN2 projector)."""
    total = noise[0].new_zeros(())
    for n in noise:
        x = n
        while x.shape[-1] >= 8:
            total = total + (x * x.roll(1, dims=3)).mean() ** 2 + (x * x.roll(1, dims=2)).mean() ** 2
            x = F.avg_pool2d(x, 2)
    return total


def _lpips_model(cfg: RefineConfig, model):
    if model is not None or cfg.lpips_weight == 0:
        return model
    from latentedit.losses import MissingWeightsError, build_lpips

    try:
        return build_lpips(cfg.lpips_net)
    except MissingWeightsError as exc:
        why = " ".join(str(exc).split())[:300]
        warnings.warn(f"refine: LPIPS is unavailable ({why}); refining with L2 only",
                      stacklevel=3)
        return None


def refine_w_plus(w_plus: torch.Tensor, target: torch.Tensor, generator, *, steps: int = 100,
                  config: RefineConfig | None = None, lpips_model=None, return_noise: bool = False, **overrides):
    """w_plus (B, num_ws, w_dim), target (B, 3, H, W) in [-1, 1] (resized to the generator's size) ->
    refined w_plus (and the noise list when ``return_noise``). The generator is not modified."""
    cfg = config or RefineConfig()
    cfg = RefineConfig(**{**cfg.__dict__, "steps": int(steps), **overrides})
    G = generator
    check_w_plus(w_plus, G.num_ws, G.w_dim)
    if target.ndim != 4 or target.shape[0] != w_plus.shape[0] or target.shape[1] != 3:
        raise ValueError(f"target must be (B={w_plus.shape[0]}, 3, H, W) in [-1, 1]; got {tuple(target.shape)}")
    device = G.mapping.w_avg.device
    target = target.to(device, torch.float32)
    if target.shape[-1] != G.resolution:
        target = F.interpolate(target, size=(G.resolution, G.resolution), mode="bilinear", align_corners=False,
                               antialias=target.shape[-1] > G.resolution)
    lp = _lpips_model(cfg, lpips_model)
    w = w_plus.detach().to(device).clone().requires_grad_(True)
    params = [w]
    noise = None
    if cfg.noise:
        noise = [n.requires_grad_(True) for n in G.synthesis.make_noise(w.shape[0], device=device)]
        params += noise
    opt = torch.optim.Adam(params, lr=cfg.lr)
    grads = [p.requires_grad for p in G.parameters()]
    G.requires_grad_(False)
    try:
        for _ in range(cfg.steps):
            img = G.synthesis(w, noise_mode="const" if noise is None else "random", noise=noise)
            loss = cfg.l2_weight * F.mse_loss(img, target)
            if lp is not None:
                from latentedit.losses import lpips_loss

                loss = loss + cfg.lpips_weight * lpips_loss(img, target, lp)
            if noise is not None:
                loss = loss + cfg.noise_reg * noise_regularisation(noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if noise is not None:
                with torch.no_grad():
                    for n in noise:
                        n.sub_(n.mean()).div_(n.square().mean().sqrt().clamp_min(1e-8))
    finally:
        for p, g in zip(G.parameters(), grads, strict=True):
            p.requires_grad_(g)
    out = w.detach()
    return (out, [n.detach() for n in noise] if noise else None) if return_noise else out
