"""DistributedDataParallel plumbing for ``torchrun``: process group, device, reductions.

A process launched by ``torchrun`` (environment ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``) joins a process group, ``gloo`` on the CPU and ``nccl``
on CUDA. A plain process is rank 0 of a world of 1 and needs none of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run.

    Attributes:
        rank: global rank (0 writes files and shows progress).
        world_size: number of processes.
        device: the torch device this process trains on.
        created: this module created the process group (and destroys it).
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    created: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def pick_device(device: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` → ``cuda:<local_rank>`` if CUDA is available, else CPU; others as given."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(device)


def setup(device: str = "auto") -> Distributed:
    """Join the ``torchrun`` process group if launched by it (a no-op otherwise).

    Args:
        device: see :func:`pick_device`.

    Returns:
        :class:`Distributed`.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch_device = pick_device(device, local_rank)
    if world_size <= 1:
        return Distributed(device=torch_device)
    created = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch_device.type == "cuda" else "gloo")
        created = True
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    return Distributed(dist.get_rank(), dist.get_world_size(), torch_device, created)


def teardown(info: Distributed) -> None:
    """Destroy the process group if :func:`setup` created it."""
    if info.created and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(values: list[float], info: Distributed) -> list[float]:
    """Sum numbers over all processes (float64; returned as is in a world of 1)."""
    if not info.enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def shard_indices(n: int, info: Distributed) -> list[int]:
    """This process's share ``rank, rank + world, ...`` of ``range(n)`` (no padding)."""
    return list(range(info.rank, n, info.world_size))


__all__ = ["Distributed", "all_sum", "pick_device", "setup", "shard_indices", "teardown"]
