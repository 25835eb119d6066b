"""Training an e4e encoder for a frozen generator on the core ``RunLoop`` (resumable, SIGKILL-safe checkpoints,
NaN rollback, progress bar, samples).

Run folder: ``checkpoint.pt`` (encoder, latent discriminator, W pools, optimisers, RNG, step, config: written
atomically), ``log.jsonl``, ``samples/step*.png`` (rows: targets, reconstructions). Data, real-code z and the
discriminator's row choice are pure functions of (seed, step), the rest of the randomness is the checkpointed
torch RNG, so ``resume`` continues exactly where the run stopped.

One step: encode x -> codes (B, num_ws, w_dim) -> y_hat = G.synthesis(codes) (noise const) ->
(1) latent discriminator step on detached codes vs mapped z (pools, lazy R1), (2) encoder step on ``e4e_loss``.
Deviation from e4e's coach: the discriminator judges the codes the generator actually receives (with
``latent_avg``), not the encoder's raw output.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from latentedit.losses import r1_penalty
from latentedit.training.loop import NonFiniteStep, RunLoop
from latentedit_e4e.config import E4EConfig
from latentedit_e4e.data import ToyRenders, make_source, step_generator
from latentedit_e4e.latent_disc import LatentCodesDiscriminator, WPool
from latentedit_e4e.losses import active_dims, e4e_loss
from latentedit_e4e.train_config import E4E_ID_CROP, E4ETrainConfig, stage_at

HELD_OUT_SEED = 2_000_000_011


def encoder_config(cfg: E4ETrainConfig, G) -> E4EConfig:
    """The encoder architecture for generator ``G``: official when G is a 512-wide >= 256 px generator and nothing
    is overridden, else ``E4EConfig.small`` with the config's overrides."""
    custom = cfg.encoder_stage_units or cfg.encoder_stage_widths or cfg.encoder_input_resolution
    if G.w_dim == 512 and G.resolution >= 256 and not custom:
        base = E4EConfig.official(G.resolution)
        return E4EConfig.from_dict({**base.to_dict(), "start_from_latent_avg": cfg.start_from_latent_avg})
    kw = {}
    if cfg.encoder_stage_units:
        kw["stage_units"] = cfg.encoder_stage_units
    if cfg.encoder_stage_widths:
        kw["stage_widths"] = cfg.encoder_stage_widths
    return E4EConfig.small(G.resolution, G.w_dim, input_resolution=cfg.encoder_input_resolution or None,
                           start_from_latent_avg=cfg.start_from_latent_avg, **kw)


def _toy_domain_model(role: str):
    """The toy-faces domain's ``role`` model ("identity" | "classifier"), read by the domain's own reader."""
    from latentedit.domains import DomainError, load_domain, load_domain_model

    domain = load_domain("toyfaces")
    f = domain.file(role)
    if f is None or f.path is None:
        raise DomainError(f"the toyfaces domain names no {role} file")
    return load_domain_model(f.path, role, domain)


def build_identity(cfg: E4ETrainConfig, embedder=None, G=None):
    """IdentityLoss for the configured embedder (None when the identity term is off). The toy judge
    (identity='toy') is refused for a generator ``G`` outside the toy-faces domain."""
    from latentedit.losses import IdentityLoss

    if not cfg.id_lambda or cfg.identity == "none":
        return None
    if embedder is not None:
        return IdentityLoss(embedder)
    crop = cfg.id_crop or None
    if cfg.identity == "facenet":
        return IdentityLoss.facenet(crop=crop or E4E_ID_CROP)
    if G is not None:
        from latentedit.domains import domain_of

        found = domain_of(G)
        if found is None or found.name != "toyfaces":
            raise ValueError(f"identity='toy' (the toy-faces judge) reads only toy faces and generator "
                             f"{G.fingerprint()} is not in that domain: pass --set identity=facenet (FaceNet "
                             "weights in the torch cache) or --set identity=none")
    try:
        return IdentityLoss(_toy_domain_model("identity"))
    except (ValueError, OSError) as exc:
        raise ValueError(f"identity='toy' needs the toy-faces identity judge: {exc}; or set identity=none / "
                         "id_lambda=0") from None


def build_attributes(cfg: E4ETrainConfig, classifier=None):
    """The frozen attribute classifier of the ``attr`` term (None when it is off)."""
    if not cfg.attr_lambda or cfg.attributes == "none":
        return None
    if classifier is not None:
        return classifier.eval().requires_grad_(False)
    try:
        return _toy_domain_model("classifier")
    except (ValueError, OSError) as exc:
        raise ValueError(f"attributes='toy' needs the toy-faces attribute judge: {exc}; or set attr_lambda=0") \
            from None


class E4ETrainer:
    """One run folder; ``train_step`` advances one step, ``save`` checkpoints, ``export`` writes the encoder."""

    def __init__(self, cfg: E4ETrainConfig, G, run_dir, *, encoder_cls, resume: bool = False, identity_embedder=None,
                 lpips_model=None, attribute_classifier=None, max_nonfinite: int = 5):
        self.cfg, self.dir = cfg, Path(run_dir)
        self.G = G.eval().requires_grad_(False)
        torch.manual_seed(cfg.seed)
        self.device = G.mapping.w_avg.device
        self.encoder = encoder_cls.for_generator(G, encoder_config(cfg, G)).train().to(self.device)
        self.encoder.training_config = cfg.to_dict()
        self.disc = LatentCodesDiscriminator(G.w_dim, cfg.w_discriminator_layers).to(self.device)
        size = cfg.w_pool_size if cfg.use_w_pool else 0
        self.real_pool, self.fake_pool = WPool(size, G.w_dim).to(self.device), WPool(size, G.w_dim).to(self.device)
        self.opt = torch.optim.Adam(self.encoder.net.parameters(), lr=cfg.learning_rate)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.w_discriminator_lr)
        self.source = make_source(cfg, G)
        self.lpips_model = lpips_model
        if lpips_model is None and cfg.lpips_lambda:
            from latentedit.losses import build_lpips

            self.lpips_model = build_lpips(cfg.lpips_net, pretrained_backbone=cfg.lpips_pretrained)
        if isinstance(self.lpips_model, torch.nn.Module):
            self.lpips_model = self.lpips_model.to(self.device)
        self.identity = build_identity(cfg, identity_embedder, G)
        if self.identity is not None:
            self.identity = self.identity.to(self.device)
        self.attributes = build_attributes(cfg, attribute_classifier)
        if self.attributes is not None:
            self.attributes = self.attributes.to(self.device)
        self.loop = RunLoop(self.dir, config=cfg, total_steps=0, resume=resume, max_nonfinite=max_nonfinite,
                            meta={"generator_fingerprint": G.fingerprint()}, exists_hint="choose another --run-dir",
                            diverged_hint="resume from the last checkpoint with a lower learning_rate")
        self.ckpt = self.loop.checkpoint_path
        self.loop.track(modules=self._modules(), optimizers=self._optimizers())
        self.loop.restore()
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.loop.saved_meta.get("generator_fingerprint") not in (None, G.fingerprint()):
            raise ValueError(f"{self.ckpt}: the run was trained for generator "
                             f"{self.loop.saved_meta['generator_fingerprint']}; this generator is {G.fingerprint()}. "
                             "Resume with the same --generator")

    @property
    def step(self) -> int:
        return self.loop.step

    def _modules(self):
        return {"encoder": self.encoder, "disc": self.disc, "real_pool": self.real_pool, "fake_pool": self.fake_pool}

    def _optimizers(self):
        return {"encoder": self.opt, "disc": self.opt_d}

    @property
    def num_ws(self) -> int:
        return self.G.num_ws

    def save(self) -> Path:
        return self.loop.save()

    def _disc_step(self, codes: torch.Tensor, stage: int) -> dict[str, float]:
        cfg, G = self.cfg, self.G
        gen = step_generator(cfg.seed, self.step, stream=2)
        b = codes.shape[0]
        with torch.no_grad():
            real = G.mapping.z_to_w(torch.randn(b, G.z_dim, generator=gen).to(codes.device))
            dims = active_dims(stage, codes.shape[1], cfg.progressive_start is not None)
            pick = torch.tensor(dims)[torch.randint(0, len(dims), (b,), generator=gen)]
            fake = codes[torch.arange(b), pick.to(codes.device)]
        real, fake = self.real_pool.query(real), self.fake_pool.query(fake)
        loss = F.softplus(-self.disc(real)).mean() + F.softplus(self.disc(fake)).mean()
        out = {"d": float(loss.detach())}
        if self.step % cfg.d_reg_every == 0 and cfg.r1:
            real = real.detach().requires_grad_(True)
            r1 = r1_penalty(self.disc(real), real)
            loss = loss + cfg.r1 * cfg.d_reg_every * r1
            out["r1"] = float(r1.detach())
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return out

    def train_step(self) -> dict[str, float] | None:
        """One step (rolled back and skipped, returning None, when it goes non-finite)."""
        return self.loop.advance(self._step)

    def _step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        stage = stage_at(self.step, cfg, self.num_ws)
        self.encoder.set_stage(stage)
        self.encoder.train()
        x = self.source.batch(self.step).to(self.device)
        codes = self.encoder(F.interpolate(x, size=(self.encoder.input_resolution,) * 2, mode="bilinear",
                                           align_corners=False) if x.shape[-1] != self.encoder.input_resolution
                             else x)
        log: dict[str, float] = {"stage": stage}
        use_disc = bool(cfg.w_discriminator_lambda)
        if use_disc:
            log.update(self._disc_step(codes.detach(), stage))
        y_hat = self.G.synthesis(codes, noise_mode="const")
        loss, parts = e4e_loss(cfg, x, y_hat, codes, stage, lpips_model=self.lpips_model,
                               identity=self.identity, disc=self.disc if use_disc else None,
                               attributes=self.attributes)
        if not torch.isfinite(loss):
            raise NonFiniteStep("loss", {"loss": float(loss.detach()), **parts})
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        log.update(parts)
        log["loss"] = float(loss.detach())
        return log

    @torch.no_grad()
    def reconstruction_error(self, images: torch.Tensor) -> float:
        """Mean squared error of G(E(x)) against x (eval mode, all offsets) on ``images`` (B, 3, R, R)."""
        stage = self.encoder.stage
        self.encoder.set_stage(self.num_ws)
        w = self.encoder.invert(images)
        self.encoder.set_stage(stage)
        self.encoder.train()
        return float(F.mse_loss(self.G.synthesis(w, noise_mode="const"), images))

    def held_out(self, n: int = 8) -> torch.Tensor:
        """Fixed images never trained on (toy: a disjoint seed stream; others: a far-away step's batch)."""
        if self.cfg.data == "toy":
            return ToyRenders(self.G.resolution, n, HELD_OUT_SEED, self.cfg.toy_prior).batch(0).to(self.device)
        return self.source.batch(10_000_019)[:n].to(self.device)

    def sample_grid(self, images: torch.Tensor) -> Path:
        from latentedit.images import save_image

        stage = self.encoder.stage
        self.encoder.set_stage(self.num_ws)
        with torch.no_grad():
            recon = self.G.synthesis(self.encoder.invert(images), noise_mode="const").clamp(-1, 1)
        self.encoder.set_stage(stage)
        self.encoder.train()
        return save_image(torch.cat([images, recon]).cpu(), self.dir / "samples" / f"step{self.step:07d}.png",
                          ncol=images.shape[0])

    def export(self, out, *, bundle_generator: bool = True) -> Path:
        """Write the encoder (eval, all offsets) in our format, training config and step in the metadata."""
        stage = self.encoder.stage
        self.encoder.set_stage(self.num_ws)
        try:
            return self.encoder.save(out, generator=self.G if bundle_generator else None,
                                     extra={"training_steps": self.step})
        finally:
            self.encoder.set_stage(stage)

def train(cfg: E4ETrainConfig, G, run_dir, *, encoder_cls, steps: int, resume: bool = False,
          checkpoint_minutes: float = 5.0, checkpoint_every: int = 0, sample_every: int = 500, eval_every: int = 250,
          progress: bool = True, identity_embedder=None, lpips_model=None) -> E4ETrainer:
    """Train until ``steps`` total steps; checkpoint every ``checkpoint_minutes`` (and every ``checkpoint_every``
    steps when > 0) and at the end. ``encoder_cls``: the encoder class to train (``E4EEncoder``; passed in so that
    the encoder module never imports the trainer)."""
    run = E4ETrainer(cfg, G, run_dir, encoder_cls=encoder_cls, resume=resume, identity_embedder=identity_embedder,
                     lpips_model=lpips_model)
    held = run.held_out()
    loop = run.loop
    loop.total_steps, loop.progress = steps, progress
    loop.checkpoint_minutes, loop.checkpoint_every = checkpoint_minutes, checkpoint_every

    def step(_: int) -> dict | None:
        rec = run.train_step()
        if rec is not None and (run.step % eval_every == 0 or run.step == steps):
            rec["heldout_mse"] = run.reconstruction_error(held)
        return rec

    loop.every(sample_every, lambda _: run.sample_grid(held))
    loop.run(step, advances=True)
    return run
