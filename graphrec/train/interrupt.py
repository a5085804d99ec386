"""Ctrl-C during training: finish the batch, save a resumable checkpoint, say how to resume.

Why: an interrupt that lands mid-epoch used to lose the epoch (and the whole run, in the first
epoch). :func:`capture_sigint` turns the first SIGINT into a flag the training loop reads at each
batch boundary; the loop then writes ``last.pt`` with its position inside the epoch and raises
:class:`TrainingInterrupted`. A second Ctrl-C stops at once, as usual.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from graphrec.errors import GraphrecError


class TrainingInterrupted(GraphrecError):
    """Training stopped on Ctrl-C after saving a checkpoint it can resume from."""


@dataclass
class EpochProgress:
    """How far an epoch got: batches done, optimizer steps and the running loss sums."""

    batch: int = 0
    steps: int = 0
    totals: dict[str, float] = field(default_factory=dict)


@dataclass
class InterruptFlag:
    """Set by the first SIGINT while :func:`capture_sigint` is active."""

    raised: bool = False


@contextmanager
def capture_sigint() -> Iterator[InterruptFlag]:
    """Within the block the first SIGINT sets the flag; the second raises KeyboardInterrupt.

    Outside the main thread (signal handlers cannot be installed there) the flag never sets and
    Ctrl-C behaves as before.
    """
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def handle(signum: int, frame: FrameType | None) -> None:
        if flag.raised:
            raise KeyboardInterrupt
        flag.raised = True

    signal.signal(signal.SIGINT, handle)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
