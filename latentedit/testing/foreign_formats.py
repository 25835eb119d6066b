"""Write our networks in foreign layouts (rosinality ``.pt``, NVIDIA snapshot ``.pkl``), for loader tests.

These reproduce the files the reference code writes, key for key and structure for structure (persistent
records with ``module_src``, ``_init_kwargs``, storages through ``torch.storage._load_from_bytes``, EasyDict
kwargs), so that loaders can be tested on sizes, channel tables and mapping depths the golden files lack.
``tests/core/test_io_exporters.py`` checks the exporters themselves.
"""

from __future__ import annotations

import argparse
import collections
import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path

import torch

from latentedit.io.arch_infer import standard_filter


# --------------------------------------------------------------------------------------------- rosinality


def _ros_conv(prefix: str, ours: dict, pre: str, *, up: bool) -> dict:
    out = {f"{prefix}.conv.weight": ours[f"{pre}.weight"][None],
           f"{prefix}.conv.modulation.weight": ours[f"{pre}.affine.weight"],
           f"{prefix}.conv.modulation.bias": ours[f"{pre}.affine.bias"],
           f"{prefix}.noise.weight": ours[f"{pre}.noise_strength"].reshape(1),
           f"{prefix}.activate.bias": ours[f"{pre}.bias"]}
    if up:
        out[f"{prefix}.conv.blur.kernel"] = standard_filter(4.0)
    return out


def _ros_torgb(prefix: str, ours: dict, pre: str, *, up: bool) -> dict:
    out = {f"{prefix}.conv.weight": ours[f"{pre}.weight"][None],
           f"{prefix}.conv.modulation.weight": ours[f"{pre}.affine.weight"],
           f"{prefix}.conv.modulation.bias": ours[f"{pre}.affine.bias"],
           f"{prefix}.bias": ours[f"{pre}.bias"].reshape(1, -1, 1, 1)}
    if up:
        out[f"{prefix}.upsample.kernel"] = standard_filter(4.0)
    return out


def rosinality_generator_state(G) -> dict:
    """Our Generator -> a rosinality ``Generator.state_dict()`` (without ``latent_avg``)."""
    sd = {k: v.detach().clone() for k, v in G.state_dict().items()}
    cfg = G.config
    out = {}
    for i in range(cfg.mapping_layers):
        out[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"]
    out["input.input"] = sd["synthesis.b4.const"][None]
    out.update(_ros_conv("conv1", sd, "synthesis.b4.conv1", up=False))
    out.update(_ros_torgb("to_rgb1", sd, "synthesis.b4.torgb", up=False))
    out["noises.noise_0"] = sd["synthesis.b4.conv1.noise_const"][None, None]
    for k, r in enumerate(cfg.resolutions[1:]):
        out.update(_ros_conv(f"convs.{2 * k}", sd, f"synthesis.b{r}.conv0", up=True))
        out.update(_ros_conv(f"convs.{2 * k + 1}", sd, f"synthesis.b{r}.conv1", up=False))
        out.update(_ros_torgb(f"to_rgbs.{k}", sd, f"synthesis.b{r}.torgb", up=True))
        out[f"noises.noise_{2 * k + 1}"] = sd[f"synthesis.b{r}.conv0.noise_const"][None, None]
        out[f"noises.noise_{2 * k + 2}"] = sd[f"synthesis.b{r}.conv1.noise_const"][None, None]
    return out


def rosinality_discriminator_state(D) -> dict:
    """Our Discriminator -> a rosinality ``Discriminator.state_dict()``."""
    sd = {k: v.detach().clone() for k, v in D.state_dict().items()}
    res = D.config.resolution
    out = {"convs.0.0.weight": sd[f"b{res}.fromrgb.weight"], "convs.0.1.bias": sd[f"b{res}.fromrgb.bias"]}
    for k, r in enumerate(reversed(D.config.resolutions[1:]), start=1):
        out.update({f"convs.{k}.conv1.0.weight": sd[f"b{r}.conv0.weight"],
                    f"convs.{k}.conv1.1.bias": sd[f"b{r}.conv0.bias"],
                    f"convs.{k}.conv2.0.kernel": standard_filter(1.0),
                    f"convs.{k}.conv2.1.weight": sd[f"b{r}.conv1.weight"],
                    f"convs.{k}.conv2.2.bias": sd[f"b{r}.conv1.bias"],
                    f"convs.{k}.skip.0.kernel": standard_filter(1.0),
                    f"convs.{k}.skip.1.weight": sd[f"b{r}.skip.weight"]})
    out.update({"final_conv.0.weight": sd["b4.conv.weight"], "final_conv.1.bias": sd["b4.conv.bias"],
                "final_linear.0.weight": sd["b4.fc.weight"], "final_linear.0.bias": sd["b4.fc.bias"],
                "final_linear.1.weight": sd["b4.out.weight"], "final_linear.1.bias": sd["b4.out.bias"]})
    return out


def export_rosinality(path: Path, G, D=None, *, training_snapshot: bool = False, legacy: bool = False) -> Path:
    """Converted layout ``{g_ema, latent_avg}`` or a training snapshot ``{g, d, g_ema, g_optim, d_optim, args}``."""
    g = rosinality_generator_state(G)
    if training_snapshot:
        args = argparse.Namespace(size=G.config.resolution, latent=G.config.w_dim, n_mlp=G.config.mapping_layers)
        obj = {"g": g, "d": rosinality_discriminator_state(D), "g_ema": g, "g_optim": {"state": {}, "param_groups": []},
               "d_optim": {"state": {}, "param_groups": []}, "args": args}
    else:
        obj = {"g_ema": g, "latent_avg": G.mapping.w_avg.detach().clone()}
        if D is not None:
            obj["d"] = rosinality_discriminator_state(D)
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)  # legacy: torch < 1.6 files
    return path

# ------------------------------------------------------------------------------------------- NVIDIA .pkl


class _Record:
    """Pickles as ``torch_utils.persistence._reconstruct_persistent_obj(meta)``, like NVIDIA's persistence."""

    def __init__(self, meta):
        self.meta = meta

    def __reduce__(self):
        return (_fake_modules()["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,))


class _FakeEasyDict(dict):
    pass


_FAKES: dict = {}


def _fake_modules() -> dict:
    if not _FAKES:
        tu, tp = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")
        dn, du = types.ModuleType("dnnlib"), types.ModuleType("dnnlib.util")

        def _reconstruct_persistent_obj(meta):  # pragma: no cover - never called by the loader under test
            raise AssertionError("the loader must not call NVIDIA's persistence code")

        _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
        _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
        tp._reconstruct_persistent_obj = _reconstruct_persistent_obj
        _FakeEasyDict.__module__, _FakeEasyDict.__qualname__, _FakeEasyDict.__name__ = \
            "dnnlib.util", "EasyDict", "EasyDict"
        du.EasyDict = _FakeEasyDict
        tu.persistence, dn.util = tp, du
        _FAKES.update({"torch_utils": tu, "torch_utils.persistence": tp, "dnnlib": dn, "dnnlib.util": du})
    return _FAKES


@contextmanager
def fake_nvidia_modules():
    """Make ``torch_utils.persistence`` and ``dnnlib.util`` importable while pickling (removed afterwards)."""
    fakes = _fake_modules()
    saved = {k: sys.modules.get(k) for k in fakes}
    sys.modules.update(fakes)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def easydict(**kw):
    return _FakeEasyDict(**kw)


def module_record(module: torch.nn.Module, *, module_src: str, init_kwargs=None, filters: bool = True) -> _Record:
    """A persistent record for ``module`` and (recursively) its children, as NVIDIA's pickles hold them."""
    params = collections.OrderedDict((k, torch.nn.Parameter(v.detach().clone(), requires_grad=v.requires_grad))
                                     for k, v in module._parameters.items() if v is not None)
    buffers = collections.OrderedDict((k, v.detach().clone()) for k, v in module._buffers.items()
                                      if k not in module._non_persistent_buffers_set)
    if filters and ("resample_filter" in module._buffers or type(module).__name__ == "DiscriminatorBlock"):
        buffers["resample_filter"] = standard_filter(1.0)  # persistent in NVIDIA's code
    children = collections.OrderedDict((k, module_record(m, module_src=module_src, filters=filters))
                                       for k, m in module._modules.items())
    state = {"training": False, "_parameters": params, "_buffers": buffers, "_non_persistent_buffers_set": set(),
             "_modules": children, "_init_args": (), "_init_kwargs": init_kwargs or easydict()}
    return _Record({"type": "class", "version": 6, "module_src": module_src,
                    "class_name": type(module).__name__, "state": state})


def g_init_kwargs(G, *, conv_clamp=None):
    cfg = G.config
    return easydict(z_dim=cfg.z_dim, c_dim=0, w_dim=cfg.w_dim, img_resolution=cfg.resolution, img_channels=3,
                    mapping_kwargs=easydict(num_layers=cfg.mapping_layers),
                    synthesis_kwargs=easydict(channel_base=32768, channel_max=512, num_fp16_res=0,
                                              conv_clamp=conv_clamp))


def d_init_kwargs(D, *, conv_clamp=None, mbstd_group=4):
    cfg = D.config
    return easydict(c_dim=0, img_resolution=cfg.resolution, img_channels=3, architecture="resnet",
                    conv_clamp=conv_clamp, epilogue_kwargs=easydict(mbstd_group_size=mbstd_group))


def export_nvidia_pkl(path: Path, G, D=None, *, conv_clamp=None, mbstd_group=4,
                      module_src: str = "# module source omitted\n") -> Path:
    """A snapshot pickle ``{G, D, G_ema, augment_pipe, training_set_kwargs}`` holding ``G`` (and ``D``)."""
    with fake_nvidia_modules():
        g = module_record(G, module_src=module_src, init_kwargs=g_init_kwargs(G, conv_clamp=conv_clamp))
        d = None if D is None else module_record(D, module_src=module_src,
                                                 init_kwargs=d_init_kwargs(D, conv_clamp=conv_clamp,
                                                                           mbstd_group=mbstd_group))
        obj = {"G": g, "D": d, "G_ema": g, "augment_pipe": None,
               "training_set_kwargs": easydict(resolution=G.config.resolution)}
        Path(path).write_bytes(pickle.dumps(obj, protocol=4))
    return Path(path)
