"""The only module that touches ``torch.distributed``: process-group setup, rank info and collectives.

Launch with ``torchrun --nproc_per_node=N`` (plus its multi-node flags): ``init_distributed`` reads
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from the environment and picks gloo on CPU, NCCL on CUDA.
Without those variables everything degrades to a single process and every collective is the identity.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from openclap.device import pick_device


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def env_info() -> DistInfo:
    """Rank information from the torchrun environment variables (single process when absent)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def resolve_device(device: str, info: DistInfo) -> torch.device:
    """``auto`` -> ``cuda:LOCAL_RANK`` when CUDA is available, else CPU; ``cuda`` gets the local rank."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        pick_device("cuda")  # a clear error where there is no GPU
        return torch.device("cuda", info.local_rank)
    return pick_device(device)


def init_distributed(device: str = "auto", timeout_minutes: float = 30.0) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun; return rank info and this rank's device."""
    info = env_info()
    dev = resolve_device(device, info)
    if info.is_distributed and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=timeout_minutes))
    return current_info(), dev


def current_info() -> DistInfo:
    """Rank info of the initialised process group (or the environment's when none is initialised)."""
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", 0))
        return DistInfo(dist.get_rank(), dist.get_world_size(), local)
    return DistInfo()


def backend() -> str | None:
    """The initialised process group's backend (``nccl``, ``gloo``), or None outside a job."""
    return str(dist.get_backend()) if dist.is_available() and dist.is_initialized() else None


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


SHUTDOWN_KEY = "openclap/shutdown"


def shutdown(timeout_seconds: float = 300.0) -> None:
    """Leave the process group once every rank is done with it.

    Destroying a gloo group while a peer is still inside a collective aborts that peer
    ("terminate called without an active exception"). A barrier alone is not enough: the first rank
    out of it can tear down while the last message of the barrier is still on its way to a peer (seen
    once in a 2-process CPU index build). So every rank, once out of the barrier, counts itself in the
    rendezvous store and waits until all have; rank 0 (which may host the store) leaves last.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    world = dist.get_world_size()
    if world > 1:
        dist.barrier()
        store = dist.distributed_c10d._get_default_store()
        _count_and_wait(store, f"{SHUTDOWN_KEY}/out", world, timeout_seconds)  # all out of the barrier
        if dist.get_rank() == 0:
            _wait_for(store, f"{SHUTDOWN_KEY}/seen", world - 1, timeout_seconds)  # all saw that
        else:
            store.add(f"{SHUTDOWN_KEY}/seen", 1)
    dist.destroy_process_group()


def _count_and_wait(store: Any, key: str, target: int, timeout_seconds: float) -> None:
    store.add(key, 1)
    _wait_for(store, key, target, timeout_seconds)


def _wait_for(store: Any, key: str, target: int, timeout_seconds: float) -> None:
    """Poll the store's counter ``key`` (``add(key, 0)`` reads it) until it reaches ``target``."""
    deadline = time.monotonic() + timeout_seconds
    while store.add(key, 0) < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"distributed shutdown: {key} did not reach {target} in {timeout_seconds} s")
        time.sleep(0.005)


def barrier() -> None:
    if is_distributed():
        dist.barrier()


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every rank's gradient for this rank's slice.

    Each rank computes a loss on the gathered tensor; the gradient of the sum of all ranks' losses
    with respect to this rank's input is the all-reduced (summed) gradient of the gathered tensor,
    restricted to this rank's rows. Implemented with all_reduce, which every backend supports.
    """

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        out = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(out, tensor.contiguous())
        return tuple(out)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        stacked = torch.stack([g.contiguous() for g in grads])  # [world, B, ...]
        dist.all_reduce(stacked)
        return stacked[dist.get_rank()]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` [B, ...] from every rank along dim 0, keeping the autograd graph.

    Every rank must pass the same shape. Identity in a single process.
    """
    if not is_distributed():
        return tensor
    return torch.cat(_GatherWithGrad.apply(tensor), dim=0)


def all_gather_no_grad(tensor: torch.Tensor, keep_local_grad: bool = True) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank without a cross-rank graph.

    With ``keep_local_grad`` this rank's own slice stays the (differentiable) input, as in open_clip's
    ``gather_with_grad=False``.
    """
    if not is_distributed():
        return tensor
    out = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    with torch.no_grad():
        dist.all_gather(out, tensor.detach().contiguous())
    if keep_local_grad:
        out[dist.get_rank()] = tensor
    return torch.cat(out, dim=0)



def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks (a detached copy); identity in a single process."""
    out = tensor.detach().clone()
    if is_distributed():
        dist.all_reduce(out)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Send a picklable object from ``src`` to every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]



def broadcast_tensors(tensors: Sequence[torch.Tensor], src: int = 0) -> None:
    """Overwrite ``tensors`` in place with ``src``'s values (e.g. BatchNorm running statistics)."""
    if not is_distributed():
        return
    for tensor in tensors:
        dist.broadcast(tensor.data, src=src)


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``module`` when running distributed, otherwise ``module``."""
    if not is_distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=True)
