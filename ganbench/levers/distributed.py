"""Data parallelism: ``nn.DataParallel`` (``levers.parallel: dp``) and processes
(``ddp``): who this process is in the group, which rows of a global batch are its own,
and the one all-reduce that turns its local gradients into the global batch's.

Why not ``DistributedDataParallel``: DDP averages gradients from hooks that fire when
``backward()`` accumulates into ``.grad``. The gradient oracle takes each player's
gradients with ``torch.autograd.grad`` at the points SRFB, extragradient and SVRE choose,
and never touches ``.grad``, so DDP's hooks would not fire. The same reduction is done
explicitly instead: one all-reduce of one flat buffer per gradient evaluation (both
players' gradients and losses together), weighted by each rank's number of examples, so
unequal shards (the last chunk of SVRE's full pass) still give the exact global mean.

Every rank draws the same global batch indices and the same global noise (same seeds)
and keeps its own rows, so N processes see exactly the examples one process would see;
their parameters, SRFB shadows and SVRE snapshots stay identical because every rank
applies the same averaged gradient (``in_sync`` checks it at the end of a run).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ganbench.trackers.comm import CommMeter

T = TypeVar("T")


@dataclass(frozen=True)
class Replicas:
    """This process's place in a data-parallel group (one process: rank 0 of 1).
    ``control``: a gloo group beside the training group for the loop's small decisions
    (host tensors: under NCCL they never touch the GPU's queue); ``comm``: what the
    gradient all-reduces moved (``CommMeter``)."""

    rank: int = 0
    world: int = 1
    control: Any = field(default=None, compare=False, repr=False)
    comm: CommMeter = field(default_factory=CommMeter, compare=False, repr=False)

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def writes(self) -> bool:
        """Only rank 0 writes results; the others train alongside it."""
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This rank's rows of a global batch of ``n`` (sizes differ by at most one)."""
        base, extra = divmod(n, self.world)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def mean(self, tensors: list[torch.Tensor], count: int) -> list[torch.Tensor]:
        """Global means from this rank's means over ``count`` examples (one all-reduce of
        one float32 buffer: the tensors and the count; what comes back are views of it)."""
        if not self.distributed:
            return tensors
        one = torch.ones(1, device=tensors[0].device)
        flat = torch.cat([*(t.detach().reshape(-1).float() for t in tensors), one])
        flat.mul_(count)
        self.comm.run(flat, lambda: dist.all_reduce(flat))
        means = flat[:-1].div_(flat[-1]).split([t.numel() for t in tensors])
        return [
            m.view_as(t) if t.dtype == flat.dtype else m.view_as(t).to(t.dtype)
            for m, t in zip(means, tensors, strict=True)
        ]

    def gather(self, value: object) -> list[object]:
        """Every rank's ``value``, in rank order (on every rank)."""
        if not self.distributed:
            return [value]
        values: list[object] = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def from_rank0(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (pickled: for rare decisions; on the control
        group when there is one, so never through the GPU)."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]

    def in_sync(self, tensors: list[torch.Tensor]) -> bool:
        """Whether every rank holds the same values (exact comparison of float64 sums)."""
        if not self.distributed:
            return True
        probe = torch.stack([t.detach().double().sum() for t in tensors]).cpu()
        return all(torch.equal(probe, other) for other in self.gather(probe))


LOCAL = Replicas()


def data_parallel(
    parallel: str, device: torch.device, replicas: Replicas, skipped: dict[str, str]
) -> bool:
    """Whether to wrap the networks in ``nn.DataParallel`` (``parallel: dp`` with 2+ GPUs);
    a lever that cannot apply here is named in ``skipped`` with the reason."""
    if parallel == "dp":
        count = torch.cuda.device_count() if device.type == "cuda" else 0
        if count >= 2:
            return True
        skipped["parallel"] = f"dp needs 2 or more CUDA devices; found {count}"
    elif parallel == "ddp" and not replicas.distributed:
        skipped["parallel"] = (
            "ddp: trained in one process (train-suite --launcher torchrun, or "
            "--nproc-per-node N, trains it in N)"
        )
    return False


def init_from_env(device_type: str) -> tuple[Replicas, torch.device | None]:
    """Join the process group torch.distributed.run set up (gloo on CPU, nccl on CUDA);
    returns the replicas and, on CUDA, this rank's device."""
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = None
    if device_type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    control = dist.new_group(backend="gloo")  # every rank creates it here, in this order
    return Replicas(rank, world, control), device
