"""The batch every recommender reads, and the training batches built from a split.

A batch holds whole left-padded sequences. For training, the targets are the inputs shifted one
step ahead, so one forward pass trains every position of every sequence at once (as SASRec,
Kang & McAuley 2018, does) instead of one sample per prefix: that is most of why training is an
order of magnitude faster than per-prefix pipelines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from graphrec.data.split import PAD, Split, from_token, pad_sequences, user_histories


@dataclass
class SequenceBatch:
    """Users and their item sequences.

    Attributes:
        users: contiguous user ids, ``[B]``; a negative id means "no known user" (an ad-hoc query):
            models that fuse a user embedding then use none.
        items: input tokens (item id + 1, :data:`~graphrec.data.split.PAD` = 0), left-padded,
            ``[B, L]``; the last column is always the most recent item.
        targets: next-item token at each position (PAD where there is none), ``[B, L]``; only
            training batches have them.
    """

    users: Tensor
    items: Tensor
    targets: Tensor | None = None

    def __post_init__(self) -> None:
        if self.items.dim() != 2:
            raise ValueError(f"items must be [B, L], got shape {tuple(self.items.shape)}")
        if self.users.shape != (self.items.shape[0],):
            raise ValueError(
                f"users must be [B]={self.items.shape[0]}, got shape {tuple(self.users.shape)}"
            )
        if self.targets is not None and self.targets.shape != self.items.shape:
            raise ValueError(
                f"targets shape {tuple(self.targets.shape)} != "
                f"items shape {tuple(self.items.shape)}"
            )

    def __len__(self) -> int:
        return int(self.items.shape[0])

    @property
    def max_len(self) -> int:
        return int(self.items.shape[1])

    def to(self, device: torch.device | str) -> SequenceBatch:
        """The same batch on ``device``."""
        return SequenceBatch(
            users=self.users.to(device),
            items=self.items.to(device),
            targets=None if self.targets is None else self.targets.to(device),
        )

    def select(self, rows: Tensor | slice) -> SequenceBatch:
        """The sub-batch of the given rows (an index tensor or a slice)."""
        return SequenceBatch(
            users=self.users[rows],
            items=self.items[rows],
            targets=None if self.targets is None else self.targets[rows],
        )


def training_sequences(
    split: Split, max_len: int, rng: np.random.Generator | None = None
) -> SequenceBatch:
    """One training sequence per user, from the train events only.

    Each user's train history is cut to its most recent ``max_len + 1`` items — or, with ``rng``,
    to ``max_len + 1`` consecutive items ending at a uniformly drawn position (a random crop:
    over the epochs every part of a long history is trained on, at the cost of one sequence per
    user per epoch). The inputs are all but the last of them and the targets all but the first,
    so ``targets[:, t]`` is the item that followed ``items[:, t]``. Users with fewer than two
    train items have nothing to predict and are left out. Valid and test events never enter: they
    are not in ``split.train``.

    Args:
        split: the leave-one-out split.
        max_len: input length ``L``.
        rng: draws each long history's window (None: the most recent one).

    Shapes:
        output: users ``[N]``, items and targets ``[N, max_len]``.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    histories = user_histories(split.train, split.num_users)
    users = np.array([u for u, h in enumerate(histories) if len(h) >= 2], dtype=np.int64)
    recent = [_window(histories[u], max_len + 1, rng) for u in users]
    return SequenceBatch(
        users=torch.from_numpy(users),
        items=pad_sequences([h[:-1] for h in recent], max_len),  # [N, L]
        targets=pad_sequences([h[1:] for h in recent], max_len),  # [N, L], one step ahead
    )


def _window(history: np.ndarray, size: int, rng: np.random.Generator | None) -> np.ndarray:
    """``size`` consecutive items of ``history``: the last ones, or ending at a random place."""
    if rng is None or len(history) <= size:
        return history[-size:]
    end = int(rng.integers(size, len(history) + 1))
    return history[end - size : end]


def iter_batches(
    data: SequenceBatch,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[SequenceBatch]:
    """Consecutive (or shuffled) sub-batches of at most ``batch_size`` rows."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield data.select(order[start : start + batch_size])


def sequence_positives(batch: SequenceBatch) -> tuple[Tensor, Tensor]:
    """Every (user, item) pair the batch shows, for pairwise losses such as BPR.

    The items are the inputs plus, in a training batch, the last target (the one target that is not
    also an input), so a user's whole visible sequence counts once. Rows of unknown users
    (negative ids) are skipped.

    Shapes:
        output: users ``[P]``, item ids ``[P]`` (contiguous ids, not tokens).
    """
    tokens = batch.items  # [B, L]
    if batch.targets is not None:
        tokens = torch.cat([tokens, batch.targets[:, -1:]], dim=1)  # [B, L+1]
    keep = (tokens != PAD) & (batch.users >= 0).unsqueeze(1)  # [B, L(+1)]
    users = batch.users.unsqueeze(1).expand_as(tokens)[keep]  # [P]
    return users, from_token(tokens[keep])
