"""DDP on CPU: two gloo processes keep identical replicas and match one process on the same global batch."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from latentedit.training.config import build_run_config
from latentedit.training.distributed import DistContext
from latentedit.training.runlog import read_log
from latentedit.training.toys import ToyNoiseMapper, ToyStyleMapper, calibrated_judge, tiny_generator
from latentedit.training.trainer import MapperTrainer

STEPS = 4
MODES = {
    "frozen": {"loss_weights": {"latent_cycle": 1.0}},  # (image_cycle is |0 + rounding| at init: ill-posed)
    "joint": {"discriminator": "joint", "d_channels": [4, 8], "loss_weights": {"adversarial": 0.5}},
    "style": {"loss_weights": {"latent_cycle": 1.0}},  # ToyStyleMapper: its encode_style hook runs inside DDP
    # the latent probe is fitted on rank 0 only and broadcast
    "probe": {"loss_weights": {"latent_attribute": 1.0}, "losses": {"latent_probe_samples": 64}},
}


def run_mode(mode: str, out, ctx: DistContext):
    torch.set_num_threads(1)
    G = tiny_generator()
    judge = calibrated_judge(G, 2)
    tc = {"steps": STEPS, "batch": 4, "lr": 0.02, "ema_beta": 0.5, "progress": False, "sample_count": 0,
          "log_interval": 1, "checkpoint_interval": 0, "mixing_prob": 0.5, **MODES[mode]}
    cls, mapper = (ToyStyleMapper, {"style_dim": 3}) if mode == "style" else (ToyNoiseMapper, {"z_dim": 3})
    run = build_run_config("toy", cls, {"mapper": mapper, "trainer": tc})
    t = MapperTrainer(run, G, out, mapper_class=cls, classifier=judge, ctx=ctx)
    t.train()
    state = {f"{k}.{n}": v.clone() for k, m in t.modules.items() for n, v in m.state_dict().items()}
    if t.probe is not None:
        state |= {"probe.weight": t.probe["weight"], "probe.bias": t.probe["bias"],
                  "probe.fitted_here": torch.tensor("accuracy" in t.probe)}
    return state


def _worker(rank: int, world: int, store: str, root: str):
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    ctx = DistContext.from_env("cpu", init_method=f"file://{store}")
    try:
        for mode in MODES:
            state = run_mode(mode, os.path.join(root, f"ddp-{mode}"), ctx)
            torch.save(state, os.path.join(root, f"{mode}-rank{rank}.pt"))
    finally:
        ctx.close()


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo")
def test_two_gloo_processes_match_one_process(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    for mode in MODES:
        single = run_mode(mode, tmp_path / f"single-{mode}", DistContext())
        r0, r1 = (torch.load(tmp_path / f"{mode}-rank{r}.pt", weights_only=True) for r in (0, 1))
        if "probe.fitted_here" in single:
            assert bool(r0.pop("probe.fitted_here")) and not bool(r1.pop("probe.fitted_here"))
            del single["probe.fitted_here"]
            assert float(single["probe.weight"].abs().sum()) > 0
        for k in single:
            assert torch.equal(r0[k], r1[k]), f"{mode}: replicas differ at {k}"
            torch.testing.assert_close(r0[k], single[k], rtol=1e-4, atol=1e-5, msg=f"{mode}: {k} differs from 1 process")
        ddp_log = [x for x in read_log(tmp_path / f"ddp-{mode}" / "log.jsonl") if "losses" in x]
        one_log = [x for x in read_log(tmp_path / f"single-{mode}" / "log.jsonl") if "losses" in x]
        assert len(ddp_log) == len(one_log) == STEPS
        for a, b in zip(ddp_log, one_log):
            assert a["losses"].keys() == b["losses"].keys()
            for name in a["losses"]:
                assert a["losses"][name] == pytest.approx(b["losses"][name], rel=1e-4, abs=1e-6), (mode, name)
        assert not (tmp_path / f"ddp-{mode}" / "rank1").exists()
