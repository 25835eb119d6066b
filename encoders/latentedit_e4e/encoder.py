"""``E4EEncoder``: the ``latentedit.encoders`` entry point ``e4e``.

    encoder = E4EEncoder.load("e4e_ffhq_encode.pt")      # official layout (decoder bundled) or our .safetensors
    w_plus = encoder.invert(images)                       # (B, 3, H, W) in [-1, 1] -> (B, num_ws, w_dim)
    w_plus = encoder.refine(w_plus, images, encoder.generator, steps=100)

Our file: one ``.safetensors`` of kind ``encoder``: ``net.*`` (official encoder names under ``net.``),
``latent_avg`` (num_ws, w_dim) and, optionally, the generator under ``decoder.*`` (our names) with its
GeneratorConfig in the metadata; config (``E4EConfig``), format version, generator info and fingerprint in the
metadata, plus the training config when it came from our recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from latentedit.io.errors import CheckpointError
from latentedit.io.modelfile import ModelFileError, load_state_dict_strict, read_model_file, save_model_file
from latentedit.io.skip_init import without_random_init
from latentedit.plugins.config import GeneratorInfo
from latentedit_e4e.config import E4EConfig
from latentedit.plugins.encoder import ENCODER_FILE_KIND, Encoder
from latentedit_e4e.network import E4ENetwork

PLUGIN_NAME = "e4e"


def _sniff(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04") or head[:2] == b"\x80\x02":
        return "torch"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return "unknown"


class E4EEncoder(Encoder):
    """e4e (Tov et al. 2021): one base code plus per-layer offsets, ``latent_avg`` added when configured."""

    config_class: ClassVar[type] = E4EConfig
    format_version: ClassVar[int] = 1
    plugin_name: ClassVar[str | None] = PLUGIN_NAME

    def __init__(self, config: E4EConfig | None = None, generator_info: GeneratorInfo | None = None):
        config = config or E4EConfig.official()
        info = generator_info or GeneratorInfo(config.num_ws, config.w_dim, (), config.generator_resolution)
        super().__init__(config, info)
        if (info.num_ws, info.w_dim) != (config.num_ws, config.w_dim):
            raise ValueError(f"E4EConfig is for W+ {config.num_ws}x{config.w_dim} but the generator has "
                             f"{info.num_ws}x{info.w_dim}; build it with E4EConfig.small({info.resolution}, "
                             f"{info.w_dim}) or E4EConfig.official({info.resolution})")
        self.net = E4ENetwork(config)
        self.register_buffer("latent_avg", torch.zeros(config.num_ws, config.w_dim))
        self.training_config: dict[str, Any] | None = None

    @classmethod
    def for_generator(cls, G, config: E4EConfig | None = None) -> E4EEncoder:
        """An untrained encoder for generator ``G``: ``latent_avg`` = G's w_avg, a small config by default."""
        config = config or (E4EConfig.official(G.resolution) if G.w_dim == 512 and G.resolution >= 256
                            else E4EConfig.small(G.resolution, G.w_dim))
        enc = cls(config, GeneratorInfo(G.num_ws, G.w_dim, (), G.resolution))
        enc.latent_avg.copy_(G.mapping.w_avg.detach().cpu().reshape(1, -1).expand(G.num_ws, -1))
        enc.generator_fingerprint = G.fingerprint()
        return enc

    # ---- progressive stage ---------------------------------------------------------------------------------
    @property
    def stage(self) -> int:
        """Offsets 1..stage are active (num_ws = all, e4e's Inference)."""
        return self.net.stage

    def set_stage(self, stage: int) -> None:
        self.net.set_stage(stage)

    # ---- the call ------------------------------------------------------------------------------------------
    def codes_without_avg(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, R, R) -> base + offsets (B, num_ws, w_dim), before ``latent_avg``."""
        return self.net(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, R, R) in [-1, 1], R = input_resolution -> w_plus (B, num_ws, w_dim)."""
        codes = self.net(images)
        if self.config.start_from_latent_avg:
            codes = codes + self.latent_avg.to(codes.dtype)
        return codes

    def refine(self, w_plus: torch.Tensor, target: torch.Tensor, generator, steps: int = 100, **options):
        """Optimise ``w_plus`` (and the noise) against ``target`` images; see ``latentedit_e4e.refine``."""
        from latentedit_e4e.refine import refine_w_plus

        return refine_w_plus(w_plus, target, generator, steps=steps, **options)

    # ---- training hooks (used by `latentedit train encoder` through the entry point) -------------------------
    training_presets: ClassVar[tuple[str, ...]] = ("e4e", "toy")

    @classmethod
    def make_training_config(cls, preset: str = "e4e", overrides=()):
        """The recipe config: ``preset`` 'e4e' (the paper's defaults) or 'toy' (toy-faces schedule), then
        ``key=value`` overrides."""
        from latentedit_e4e.train_config import E4ETrainConfig

        if preset not in cls.training_presets:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(cls.training_presets)}")
        base = E4ETrainConfig.toy() if preset == "toy" else E4ETrainConfig()
        return base.with_overrides(list(overrides))

    @classmethod
    def run_training(cls, config, generator, run_dir, *, steps: int, resume: bool = False,
                     checkpoint_minutes: float = 5.0, progress: bool = True):
        """Train (or resume) a run; returns the trainer (``.step``, ``.ckpt``, ``.export(path)``)."""
        from latentedit_e4e.trainer import train

        return train(config, generator, run_dir, encoder_cls=cls, steps=steps, resume=resume,
                     checkpoint_minutes=checkpoint_minutes, progress=progress)

    # ---- files ---------------------------------------------------------------------------------------------
    def save(self, path: str | Path, *, generator=None, extra: dict | None = None) -> Path:
        """Write weights + config (+ the generator, if given) to one .safetensors file, atomically."""
        state = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        state["latent_avg"] = self.latent_avg
        meta: dict[str, Any] = dict(extra or {})
        meta.update({"encoder_name": self.plugin_name or PLUGIN_NAME,
                     "encoder_class": f"{type(self).__module__}:{type(self).__qualname__}",
                     "encoder_format_version": self.format_version,
                     "generator_info": self.generator_info.to_dict(),
                     "generator_fingerprint": self.generator_fingerprint})
        if self.training_config is not None:
            meta.setdefault("training_config", self.training_config)
        generator = generator if generator is not None else self.generator
        if generator is not None:
            if (generator.num_ws, generator.w_dim) != (self.num_ws, self.w_dim):
                raise ValueError(f"the generator has W+ {generator.num_ws}x{generator.w_dim}; this encoder "
                                 f"produces {self.num_ws}x{self.w_dim}")
            state.update({f"decoder.{k}": v for k, v in generator.state_dict().items()})
            meta["generator_config"] = generator.config.to_dict()
            meta["generator_fingerprint"] = generator.fingerprint()
        return save_model_file(path, state, kind=ENCODER_FILE_KIND, config=self.config, extra=meta)

    @classmethod
    def can_load(cls, path: str | Path) -> bool:
        path = Path(path)
        if not path.is_file():
            return False
        kind = _sniff(path)
        if kind == "safetensors":
            try:
                _, _, _, extra = read_model_file(path, expect_kind=ENCODER_FILE_KIND)
            except ModelFileError:
                return False
            return extra.get("encoder_name") == PLUGIN_NAME
        if kind != "torch":
            return False
        import argparse

        from latentedit_e4e.official import looks_like_official, remember_sniffed

        from latentedit.io.torch_guard import GuardRefused, check_torch_path

        try:  # bounded sizes and work before torch.load (a hostile file is refused by load(), in one line)
            check_torch_path(path)
        except (GuardRefused, OSError):
            return True
        try:  # weights-only and memory-mapped: cheap even for a 1 GB checkpoint, and runs no code
            with torch.serialization.safe_globals([argparse.Namespace]):
                obj = torch.load(str(path), weights_only=True, map_location="cpu", mmap=True)
        except Exception:  # noqa: BLE001 - legacy (non-zip) or damaged files: let load() explain
            return True
        if not looks_like_official(obj):
            return False
        remember_sniffed(path, obj)  # what read_torch_file would return: load() does not read the file again
        return True

    @classmethod
    def load(cls, path: str | Path, *, map_location: str | torch.device = "cpu") -> E4EEncoder:
        """Our .safetensors or an official e4e .pt; the bundled generator (if any) is ``encoder.generator``."""
        path = Path(path)
        from latentedit.io.paths import require_regular_file

        require_regular_file(path, what="encoder file", error=CheckpointError)
        try:
            enc = cls._load_official(path) if _sniff(path) == "torch" else cls._load_ours(path)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError, OverflowError) as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(path, f"damaged encoder metadata ({type(exc).__name__}: "
                                        f"{' '.join(str(exc).split())[:200]})") from None
        if enc.generator is not None:
            enc.set_generator(enc.generator.to(map_location))
        return enc.to(map_location).eval()

    @classmethod
    def _load_ours(cls, path: Path) -> E4EEncoder:
        from latentedit.stylegan2 import Generator, GeneratorConfig

        try:
            tensors, _, config, extra = read_model_file(path, expect_kind=ENCODER_FILE_KIND)
        except ModelFileError as exc:
            raise CheckpointError(path, str(exc).removeprefix(f"{path}: ")) from None
        if extra.get("encoder_name", PLUGIN_NAME) != PLUGIN_NAME:
            raise CheckpointError(path, f"holds a {extra.get('encoder_name')!r} encoder, not e4e")
        version = int(extra.get("encoder_format_version", 1))
        if version > cls.format_version:
            raise CheckpointError(path, f"e4e encoder format {version} is newer than this plugin reads "
                                        f"({cls.format_version}); upgrade latentedit")
        try:
            cfg = E4EConfig.from_dict(config, source=str(path))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(path, f"the stored E4EConfig is invalid: {exc}") from None
        with without_random_init():  # every weight of enc.net comes from the file (strict, below)
            enc = cls(cfg, GeneratorInfo.from_dict(extra["generator_info"]) if "generator_info" in extra else None)
        own = {k: v for k, v in tensors.items() if not k.startswith("decoder.")}
        try:
            load_state_dict_strict(enc.net, {k[4:]: v for k, v in own.items() if k.startswith("net.")},
                                   source=str(path), assign=True)
        except ModelFileError as exc:
            raise CheckpointError(path, str(exc).removeprefix(f"{path}: ")) from None
        if "latent_avg" not in own:
            raise CheckpointError(path, "no 'latent_avg' tensor in the encoder file")
        enc.latent_avg.copy_(own["latent_avg"])
        enc.generator_fingerprint = extra.get("generator_fingerprint")
        enc.training_config = extra.get("training_config")
        dec = {k[len("decoder."):]: v for k, v in tensors.items() if k.startswith("decoder.")}
        if dec:
            from latentedit.io.arch_infer import build_and_load

            from latentedit.io.network_caps import check_generator_config

            g_config = GeneratorConfig.from_dict(extra["generator_config"])
            check_generator_config(g_config, path)
            G = build_and_load(lambda: Generator(g_config).eval(), dec, path)
            enc.set_generator(G.requires_grad_(False))
        return enc

    @classmethod
    def _load_official(cls, path: Path) -> E4EEncoder:
        from latentedit_e4e.official import build_decoder, read_official

        ckpt = read_official(path)
        with without_random_init():  # every weight of enc.net comes from the file (strict, below)
            enc = cls(ckpt.config)
        try:
            load_state_dict_strict(enc.net, ckpt.encoder_state, source=str(path), assign=True)
        except ModelFileError as exc:
            raise CheckpointError(path, str(exc).removeprefix(f"{path}: ")) from None
        G = build_decoder(ckpt, path)
        if ckpt.latent_avg is not None:
            enc.latent_avg.copy_(ckpt.latent_avg)
        elif G is not None:
            enc.latent_avg.copy_(G.mapping.w_avg.reshape(1, -1).expand(enc.num_ws, -1))
        elif enc.config.start_from_latent_avg:
            raise CheckpointError(path, "start_from_latent_avg is set but the file has neither 'latent_avg' nor "
                                        "a decoder to compute it from")
        if G is not None:
            enc.set_generator(G)
            enc.generator_fingerprint = G.fingerprint()
        enc.training_config = {"source": "official e4e", "opts": {k: v for k, v in ckpt.opts.items()
                                                                   if isinstance(v, (int, float, str, bool))}}
        return enc

