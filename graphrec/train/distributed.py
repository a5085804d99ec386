"""Multi-process training under torchrun: one process per device, gradients averaged by DDP.

torchrun starts the same command N times and tells each copy its place through the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``). :func:`launch`
reads it and initialises ``torch.distributed`` only when ``WORLD_SIZE > 1``: a plain run (or
torchrun with one process) initialises nothing, and its :class:`Distributed` (rank 0 of 1) turns
every collective into the identity, so the trainer keeps one code path and the single-process
run is exactly what it was.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from graphrec.data.split import PAD
from graphrec.models.batch import SequenceBatch
from graphrec.train.seeding import seed_everything, set_rng_state

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Distributed:
    """This process's place among the training processes, and the few collectives training needs.

    Attributes:
        rank: global rank (0 = the main process, the only one that writes files and logs).
        world_size: number of processes (1 = no ``torch.distributed`` at all).
    """

    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, n: int) -> slice:
        """This process's contiguous share of ``n`` rows (shares differ by at most one row)."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def share(self, batch: SequenceBatch) -> tuple[SequenceBatch, float]:
        """This process's rows of a global training batch, and the factor to scale its loss by.

        Every process draws the same shuffled order, so they all hold the same global batch
        and take disjoint slices of it. The next-item loss is a mean over target positions, so
        rank ``r`` with ``N_r`` of the batch's ``N`` positions scales its loss by ``W * N_r / N``:
        DDP's gradient AVERAGE over ``W`` processes is then ``sum_r (N_r / N) grad mean_r``, the
        gradient of the global batch's mean, as one process computes it.

        How exact: for the full-softmax next-item loss (``graphrec``, ``simple``) equal up to
        float32 summation order. BPR terms (``bpr_weight``, all of ``lightgcn_bpr``) are means
        over a share's (user, item) pairs, ``N_r + rows`` of them, weighted here by positions
        all the same, and like gBCE they draw negatives, as dropout draws masks, from each
        process's own RNG: they match the single-process gradient in expectation only.

        When the batch has fewer rows than processes, a process without rows computes one
        borrowed row with factor 0, so it still joins the gradient all-reduce.
        """
        if not self.enabled:
            return batch, 1.0
        rows = self.rows(len(batch))
        if rows.start == rows.stop:
            return batch.select(slice(0, 1)), 0.0
        local = batch.select(rows)
        total = int((batch.targets != PAD).sum())
        return local, self.world_size * int((local.targets != PAD).sum()) / max(total, 1)

    def gather(self, value: T) -> list[T]:
        """``value`` (any picklable object) from every process, in rank order."""
        if not self.enabled:
            return [value]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every process (others pass anything, e.g. None)."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def summed(self, values: dict[str, float]) -> dict[str, float]:
        """The key-wise sum of every process's ``values`` (same keys on every process)."""
        if not self.enabled:
            return values
        names = sorted(values)
        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        totals = torch.tensor([values[k] for k in names], dtype=torch.float64, device=device)
        dist.all_reduce(totals)
        return dict(zip(names, totals.tolist(), strict=True))

    def seed_rank(self, seed: int) -> None:
        """Give ranks above 0 their own RNG streams (dropout, negatives) derived from ``seed``.

        Rank 0 keeps the stream it has, the one a single-process run draws from; without
        this every rank would draw identical dropout masks and negatives.
        """
        if self.rank:
            seed_everything((seed + 1_000_003 * self.rank) % 2**32)

    def restore_rng(self, states: list[dict[str, Any]], seed: int) -> None:
        """Continue this process's RNG streams from a checkpoint's, one state per saved process.

        A run saved by another number of processes cannot continue its random draws exactly:
        every process then takes the saved rank 0's state, and :meth:`seed_rank` with ``seed``.
        """
        if len(states) == self.world_size:
            set_rng_state(states[self.rank])
            return
        if self.is_main:
            log.warning(
                "resuming a %d-process run with %d processes: the random draws do not continue "
                "exactly (weights and optimizer do)",
                len(states),
                self.world_size,
            )
        set_rng_state(states[0])
        self.seed_rank(seed)


_NO_BUFFER_SYNC = (
    "forward_sync_buffers"  # torch >= 2.13 renamed (and deprecated) broadcast_buffers
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    else "broadcast_buffers"
)


class LossModule(nn.Module):
    """``forward(batch) = model.calculate_loss(batch)``: the module DDP and torch.compile wrap.

    DDP synchronises gradients through its ``forward``: each call marks a new iteration and
    prepares the reducer for the output's backward pass. Recommenders train through
    ``calculate_loss``, not ``forward`` (which returns hidden states); calling
    ``ddp.module.calculate_loss`` would skip that preparation, and re-pointing the model's own
    ``forward`` would change it for every other caller. A wrapper whose ``forward`` is the loss
    keeps both intact and holds the model as its only submodule: the parameters are shared,
    not copied, and checkpoints keep saving ``model.state_dict()`` with its usual keys.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: SequenceBatch) -> Tensor:
        return self.model.calculate_loss(batch)


def training_module(
    model: nn.Module, ctx: Distributed, device: torch.device, *, compile: bool = False
) -> nn.Module:
    """The module a training step calls: the loss, maybe compiled, under DDP across processes.

    The loss module is compiled in place before DDP wraps it: torch's guide (where to apply
    torch.compile) advises compiling the module inside DDP, not the wrapper. DDP does not re-send
    buffers before each forward: the only buffers are the training graph and constants, equal on
    every process by construction, and re-sending the edge list every step would cost more
    than the step on a large graph. ``static_graph``: the loss uses the same parameters at
    every step, but not always all of them (GAT's edge-attention weights stay unused when the
    graph has no edge weights), which plain DDP rejects; a static graph lets DDP learn the set
    once, where ``find_unused_parameters`` would walk the autograd graph at every step.
    """
    step = LossModule(model)
    if compile:
        step.compile()
    if not ctx.enabled:
        return step
    return DistributedDataParallel(
        step,
        device_ids=[device.index] if device.type == "cuda" else None,
        static_graph=True,
        **{_NO_BUFFER_SYNC: False},
    )


@contextmanager
def launch(device: torch.device) -> Iterator[tuple[Distributed, torch.device]]:
    """Join the torchrun process group when there is one; yield this process's place and device.

    Under torchrun a CUDA device becomes ``cuda:LOCAL_RANK`` (one GPU per process) and the
    backend is NCCL; on CPU it is gloo. A process group the caller already initialised is used
    as it is and left open; one initialised here is destroyed on exit, error or not.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if dist.is_available() and dist.is_initialized():
        rank, world, owns = dist.get_rank(), dist.get_world_size(), False
    else:
        world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
        owns = world > 1
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if owns:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world)
        log.debug("rank %d of %d joined (%s, %s)", rank, world, backend, device)
    try:
        yield Distributed(rank, world), device
        if owns:
            dist.barrier()  # no rank leaves while another still needs the group
    finally:
        if owns:
            dist.destroy_process_group()
