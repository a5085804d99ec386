"""SEAT's similarity encoder and its adversarial contrastive training.

Zhang, Chen, Wagner, "SEAT: Similarity Encoder by Adversarial Training for Detecting Model
Extraction Attack Queries", AISec 2021. The encoder ``E`` maps a query sequence to a vector; it is
trained so that a query and an adversarially perturbed copy stay close while unrelated queries stay
at a margin:

* :class:`SimilarityEncoder` (the pure module) embeds a query sequence: the item table is
  initialised from the target's graph-encoder item embeddings (so items the graph finds similar
  start close), pooled by a mean and an attention pool, then an MLP gives a ``d``-vector.
* Adversarial training (:func:`train_encoder`): for a benign query ``x``, a perturbation
  maximising ``||E(x') - E(x)||^2`` is found by PGD and the contrastive loss
  ``||E(x) - E(x')||^2 + max(0, margin^2 - ||E(x) - E(y)||^2)`` (``margin^2 = 10`` as in the paper)
  is minimised, ``y`` a random other benign query. Two perturbations (``perturbation``):
  ``"embedding"``, L-infinity PGD on the item vectors of the query (the paper's image-space PGD
  moved to the continuous item-embedding space); ``"swap"``, discrete item swaps chosen by the
  gradient (HotFlip-style: the first-order best (position, item) replacement, repeated
  ``swap_steps`` times), which is the kind of near-duplicate an extraction attacker produces.
* Every distance is a SQUARED Euclidean distance (the source project mixed squared and plain ones).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from graphrec.data.split import PAD
from graphrec.progress import progress_bar

log = logging.getLogger(__name__)

PERTURBATIONS = ("embedding", "swap")


# ---------------------------------------------------------------------------- the module
class SimilarityEncoder(nn.Module):
    """Query sequence -> similarity vector (mean + attention pooling of item vectors, then MLP).

    Args:
        num_items: catalogue size ``I`` (tokens ``0..I``, 0 = PAD).
        in_channels: item vector width ``d`` (default 64; must match ``item_embedding``).
        hidden_channels: MLP hidden width (default 128).
        out_channels: output width (default 32).
        item_embedding: optional ``[I, d]`` initial item vectors (the target's graph embeddings),
            rescaled to unit standard deviation.
        freeze_items: keep the item table fixed (default False: it is fine-tuned).

    Shapes:
        input: tokens ``[B, L]`` (left-padded), optional ``delta`` ``[B, L, d]`` added to the item
        vectors; output: ``[B, out_channels]``.
    """

    def __init__(
        self,
        *,
        num_items: int,
        in_channels: int = 64,
        hidden_channels: int = 128,
        out_channels: int = 32,
        item_embedding: Tensor | None = None,
        freeze_items: bool = False,
    ) -> None:
        super().__init__()
        if num_items < 1:
            raise ValueError(f"num_items must be >= 1, got {num_items}")
        if item_embedding is not None and tuple(item_embedding.shape) != (num_items, in_channels):
            raise ValueError(
                f"item_embedding must be [{num_items}, {in_channels}], "
                f"got {tuple(item_embedding.shape)}"
            )
        self.num_items = num_items
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.item_table = nn.Embedding(num_items + 1, in_channels, padding_idx=PAD)
        self.attention = nn.Linear(in_channels, 1)
        self.mlp = nn.Sequential(
            nn.Linear(2 * in_channels, hidden_channels),
            nn.ReLU(),
            nn.Linear(hidden_channels, out_channels),
        )
        self._initial_items = None if item_embedding is None else item_embedding.detach().clone()
        self.reset_parameters()
        self.item_table.weight.requires_grad_(not freeze_items)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            if self._initial_items is not None:
                # rescaled to unit standard deviation: the geometry of the graph embeddings is
                # kept, while the margin^2 = 10 of the loss no longer depends on their scale
                scale = self._initial_items.std().clamp(min=1e-12)
                self.item_table.weight[1:] = (self._initial_items / scale).to(
                    self.item_table.weight
                )
            else:
                nn.init.normal_(self.item_table.weight[1:], std=0.1)
            self.item_table.weight[PAD] = 0.0
        self.attention.reset_parameters()
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def item_vectors(self, tokens: Tensor) -> Tensor:
        """The item vectors of the query, zero at PAD, ``[B, L, d]``."""
        return self.item_table(tokens)

    def forward(self, tokens: Tensor, delta: Tensor | None = None) -> Tensor:
        vectors = self.item_vectors(tokens)  # [B, L, d]
        if delta is not None:
            vectors = vectors + delta  # [B, L, d]
        return self.pool(vectors, tokens != PAD)  # [B, out]

    def pool(self, vectors: Tensor, mask: Tensor) -> Tensor:
        """Mean and attention pooling of ``vectors [B, L, d]`` over ``mask [B, L]``, then MLP."""
        vectors = vectors * mask.unsqueeze(-1)  # [B, L, d], PAD rows (and their delta) zeroed
        count = mask.sum(1, keepdim=True).clamp(min=1)  # [B, 1]
        mean = vectors.sum(1) / count  # [B, d]
        logits = self.attention(vectors).squeeze(-1).masked_fill(~mask, float("-inf"))  # [B, L]
        weights = torch.softmax(logits, dim=1).nan_to_num(0.0)  # [B, L], empty rows -> 0
        attended = (weights.unsqueeze(-1) * vectors).sum(1)  # [B, d]
        return self.mlp(torch.cat([mean, attended], dim=1))  # [B, out]

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_items={self.num_items}, "
            f"in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, "
            f"out_channels={self.out_channels})"
        )


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise squared Euclidean distances ``||a_r - b_r||^2``, ``[B]``."""
    return (a - b).pow(2).sum(-1)


# ---------------------------------------------------------------------------- adversarial pairs
def pgd_embedding(
    encoder: SimilarityEncoder,
    tokens: Tensor,
    *,
    eps: float,
    steps: int = 5,
    step_size: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """L-infinity PGD on the query's item vectors maximising ``||E(x + delta) - E(x)||^2``.

    Args:
        encoder: the similarity encoder.
        tokens: ``[B, L]`` queries.
        eps: L-infinity radius (in item-vector units).
        steps: ascent steps (default 5).
        step_size: per-step size (default ``2.5 * eps / steps``, Madry et al.'s rule).
        generator: RNG of the random start.

    Shapes:
        output: ``delta`` ``[B, L, d]``, zero at PAD positions.
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    step_size = 2.5 * eps / max(steps, 1) if step_size is None else step_size
    mask = (tokens != PAD).unsqueeze(-1)  # [B, L, 1]
    with torch.no_grad():
        anchor = encoder(tokens)  # [B, out]
    shape = (*tokens.shape, encoder.in_channels)
    noise = torch.rand(shape, generator=generator).to(tokens.device)
    delta = (2 * noise - 1) * eps * mask  # [B, L, d]
    for _ in range(steps):
        delta.requires_grad_(True)
        gain = squared_distances(encoder(tokens, delta), anchor).sum()
        (grad,) = torch.autograd.grad(gain, delta)
        delta = ((delta.detach() + step_size * grad.sign()).clamp(-eps, eps) * mask).detach()
    return delta


def gradient_swaps(encoder: SimilarityEncoder, tokens: Tensor, *, steps: int = 2) -> Tensor:
    """Greedy discrete item swaps that most increase ``||E(x') - E(x)||^2`` (first order).

    Each step takes the gradient ``g`` of the squared distance w.r.t. the item vectors of ``x'``
    and, over every non-pad position ``p`` and item ``j``, the replacement with the largest
    ``(e_j - e_{x'_p}) . g_p`` (HotFlip, Ebrahimi et al. 2018). Each step changes one item of each
    query, so ``x'`` differs from ``x`` in at most ``steps`` items: a near-duplicate.

    Shapes:
        input: tokens ``[B, L]``; output: perturbed tokens ``[B, L]``.
    """
    mask = tokens != PAD  # [B, L]
    table = encoder.item_table.weight  # [I + 1, d]
    with torch.no_grad():
        anchor = encoder(tokens)  # [B, out]
    current = tokens.clone()
    rows = torch.arange(tokens.shape[0], device=tokens.device)
    for _ in range(steps):
        vectors = encoder.item_vectors(current).detach().requires_grad_(True)  # [B, L, d]
        gain = squared_distances(encoder.pool(vectors, mask), anchor).sum()
        (grad,) = torch.autograd.grad(gain, vectors)  # [B, L, d]
        with torch.no_grad():
            scores = grad @ table[1:].T  # [B, L, I]
            scores = scores - (grad * vectors).sum(-1, keepdim=True)  # [B, L, I] gain of swap
            scores = scores.masked_fill(~mask.unsqueeze(-1), float("-inf"))
            flat = scores.flatten(1).argmax(1)  # [B]
            position, item = flat // encoder.num_items, flat % encoder.num_items
            current[rows, position] = item + 1  # tokens
    return current


def contrastive_loss(anchor: Tensor, positive: Tensor, other: Tensor, margin_sq: float) -> Tensor:
    """``mean ||a - p||^2 + mean max(0, margin^2 - ||a - o||^2)``, all squared distances."""
    close = squared_distances(anchor, positive)  # [B]
    apart = (margin_sq - squared_distances(anchor, other)).clamp(min=0)  # [B]
    return close.mean() + apart.mean()


@dataclass(frozen=True)
class EncoderTraining:
    """How the similarity encoder is trained.

    Attributes:
        epochs: passes over the training queries (default 5).
        batch_size: queries per step (default 256).
        lr: AdamW learning rate (default 1e-3).
        margin_sq: squared margin of the contrastive term (default 10, the paper's).
        perturbation: ``"embedding"`` (PGD on item vectors) or ``"swap"`` (gradient item swaps).
        pgd_eps: PGD radius as a multiple of the item table's standard deviation (default 0.25).
        pgd_steps: PGD steps (default 5).
        swap_steps: item swaps per query in ``"swap"`` mode (default 2).
        max_queries: at most this many training queries, drawn at random (default 20,000).
        seed: RNG seed (default 0).
    """

    epochs: int = 5
    batch_size: int = 256
    lr: float = 1e-3
    margin_sq: float = 10.0
    perturbation: str = "embedding"
    pgd_eps: float = 0.25
    pgd_steps: int = 5
    swap_steps: int = 2
    max_queries: int = 20_000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.perturbation not in PERTURBATIONS:
            raise ValueError(
                f"unknown perturbation {self.perturbation!r}; expected one of {PERTURBATIONS}"
            )
        if self.margin_sq <= 0:
            raise ValueError(f"margin_sq must be > 0, got {self.margin_sq}")
        for name in ("batch_size", "max_queries"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def train_encoder(
    encoder: SimilarityEncoder, tokens: Tensor, training: EncoderTraining
) -> list[dict[str, float]]:
    """SEAT's adversarial contrastive training on benign query tokens ``[N, L]``.

    Returns:
        One ``{"epoch", "loss", "close", "apart"}`` record per epoch (means over steps).
    """
    if len(tokens) < 2:
        raise ValueError("need at least two benign queries to train the encoder")
    generator = torch.Generator().manual_seed(training.seed)
    if len(tokens) > training.max_queries:
        keep = torch.randperm(len(tokens), generator=generator)[: training.max_queries]
        tokens = tokens[keep]
    std = float(encoder.item_table.weight[1:].detach().std())
    eps = training.pgd_eps * (std if std > 0 else 1.0)
    params = [p for p in encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=training.lr)
    history: list[dict[str, float]] = []
    encoder.train()
    starts = range(0, len(tokens), training.batch_size)
    for epoch in range(1, training.epochs + 1):
        order = torch.randperm(len(tokens), generator=generator)
        sums = {"loss": 0.0, "close": 0.0, "apart": 0.0}
        steps = 0
        for lo in progress_bar(starts, desc=f"SEAT encoder epoch {epoch}/{training.epochs}"):
            x = tokens[order[lo : lo + training.batch_size]]  # [b, L]
            others = torch.randint(len(tokens), (len(x),), generator=generator)
            y = tokens[others]  # [b, L] random other benign queries
            if training.perturbation == "embedding":
                delta = pgd_embedding(
                    encoder, x, eps=eps, steps=training.pgd_steps, generator=generator
                )
                positive = encoder(x, delta)  # [b, out]
            else:
                positive = encoder(gradient_swaps(encoder, x, steps=training.swap_steps))
            anchor, other = encoder(x), encoder(y)  # [b, out]
            loss = contrastive_loss(anchor, positive, other, training.margin_sq)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                sums["loss"] += float(loss)
                sums["close"] += float(squared_distances(anchor, positive).mean())
                sums["apart"] += float(squared_distances(anchor, other).mean())
            steps += 1
        record = {"epoch": float(epoch), **{k: v / max(steps, 1) for k, v in sums.items()}}
        history.append(record)
        log.info("SEAT encoder epoch %d: %s", epoch, {k: round(v, 4) for k, v in record.items()})
    encoder.eval()
    return history
