"""Distributed data parallel plumbing: one process per device under ``torchrun``, or a single process.

``DistContext.from_env()`` reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (set by ``torchrun``); with a world size
above 1 it joins the process group: NCCL when CUDA is available, gloo on CPU. Every rank draws a disjoint
slice of the global batch (``batch_slice``); rank 0 logs and writes checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


class DistributedSetupError(RuntimeError):
    """The distributed environment is inconsistent (batch not divisible, bad env variables)."""


@dataclass
class DistContext:
    """Where this process stands: ``rank`` of ``world`` processes, its ``device``, and whether it joined a group."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @classmethod
    def from_env(cls, device: str | torch.device | None = None, *, init_method: str | None = None) -> DistContext:
        """Single process unless ``WORLD_SIZE`` > 1; then join the group (``init_method`` defaults to env://).

        ``device``: 'cpu', 'cuda' or None (cuda:LOCAL_RANK when available, else cpu).
        """
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError as exc:
            raise DistributedSetupError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers ({exc}); launch with "
                                        "torchrun --nproc_per_node=N") from None
        want_cuda = (device is None and torch.cuda.is_available()) or str(device).startswith("cuda")
        if want_cuda and not torch.cuda.is_available():
            raise DistributedSetupError("device cuda was asked for but CUDA is not available; use --device cpu")
        dev = torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1)) if want_cuda else torch.device("cpu")
        if want_cuda:
            torch.cuda.set_device(dev)
        if world <= 1:
            return cls(0, 1, 0, dev, False)
        if not dist.is_initialized():
            backend = "nccl" if want_cuda else "gloo"
            kw = {"device_id": dev} if want_cuda else {}
            dist.init_process_group(backend=backend, init_method=init_method or "env://", rank=rank,
                                    world_size=world, **kw)
        return cls(rank, world, local_rank, dev, True)

    def batch_slice(self, batch: int) -> tuple[int, int]:
        """Rows ``[lo, hi)`` of a global batch of ``batch`` that this rank owns."""
        if batch % self.world:
            raise DistributedSetupError(f"the global batch ({batch}) must be divisible by the number of processes "
                                        f"({self.world}); set trainer.batch to a multiple of {self.world}")
        per = batch // self.world
        return self.rank * per, (self.rank + 1) * per

    def all_reduce_mean(self, t: torch.Tensor) -> torch.Tensor:
        """Mean of ``t`` over ranks (in place; identity on one process)."""
        if self.distributed:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            t /= self.world
        return t

    def all_reduce_max(self, t: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t

    def broadcast_from_main(self, t: torch.Tensor) -> torch.Tensor:
        """Overwrite ``t`` on every rank with rank 0's ``t`` (in place; identity on one process)."""
        if self.distributed:
            dist.broadcast(t, src=0)
        return t

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group if this context joined one."""
        if self.initialized and dist.is_initialized():
            dist.destroy_process_group()
            self.initialized = False
