"""CPU thread settings shared by the jobs (torch intra-op threads)."""

from __future__ import annotations


def set_torch_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` when ``threads`` is given.

    Raises:
        ValueError: ``threads < 1``.
    """
    if threads is None:
        return
    if int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(int(threads))


__all__ = ["set_torch_threads"]
