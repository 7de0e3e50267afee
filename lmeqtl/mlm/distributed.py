"""Data-parallel training with torch DDP, launched by ``torchrun``.

``torchrun --nproc_per_node=K -m lmeqtl.cli train ...`` (or ``--nnodes`` for several
machines) sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous variables;
:func:`setup` reads them and joins the process group (NCCL on GPUs, gloo on CPU). Without
them everything runs as one process. Only rank 0 writes files and shows progress bars.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def resolve_device(device: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` -> the local GPU when there is one, else the CPU."""
    if str(device) == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def setup(device: str | torch.device = "auto") -> Context:
    """Join the process group when launched by torchrun; return this process's context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
        dist.init_process_group(backend=backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    return Context(rank=rank, world_size=world_size if dist.is_initialized() else 1, device=resolved)


def all_reduce_sum(tensor: torch.Tensor, context: Context) -> torch.Tensor:
    """Sum a tensor over all processes (in place; a no-op in a single process)."""
    if context.active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_process(flag: bool, context: Context) -> bool:
    """True when ``flag`` is true on any process (keeps early stops in step)."""
    if not context.active:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=context.device if context.device.type == "cuda" else "cpu")
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def broadcast_buffers(model: torch.nn.Module, context: Context) -> None:
    """Copy rank 0's buffers (BatchNorm statistics) to every rank, e.g. before validation."""
    if context.active:
        for buffer in model.buffers():
            dist.broadcast(buffer.data, src=0)


def barrier(context: Context) -> None:
    if context.active:
        dist.barrier()


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
