"""SEAT: flag accounts whose oracle queries are too similar to each other.

Zhang, Chen, Wagner, "SEAT: Similarity Encoder by Adversarial Training for Detecting Model
Extraction Attack Queries", AISec 2021. Extraction attacks send many near-duplicate queries (for
a sequential recommender: the prefixes of autoregressively grown sequences, Yue et al. 2021); a
benign user rarely does. SEAT learns an encoder ``E`` under which a query and an adversarially
perturbed copy stay close while unrelated queries stay apart, counts per account the pairs of
queries closer than a threshold, and flags an account whose count exceeds a limit.

Here:

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
* Every distance is a SQUARED Euclidean distance: the loss, the pair threshold and the pair
  counts (the source project mixed squared and plain distances).
* Calibration (:meth:`SEATDetector.fit`) uses benign traffic held out from the encoder's training
  data: the pair threshold ``pair_threshold_`` is the ``pair_fpr`` quantile (default 0.01 %) of the
  squared distances of benign query pairs from DIFFERENT calibration accounts holding DIFFERENT
  queries (independent benign queries, as the paper's random benign pairs); a pair is similar when
  its squared distance is strictly below it. Identical queries are left out of the calibration
  pairs: in a discrete query space many users ask the same short query (one popular item), and
  those exact duplicates, over 0.01 % of pairs, would pin the threshold at 0 so that no pair could
  ever count as similar. Identical queries within one account still count as a similar pair.
  With fewer than ``1 / pair_fpr`` benign pairs the quantile cannot be resolved: the threshold
  is then the smallest benign pair distance (no calibration pair is similar) and a warning is
  logged. The account limit ``threshold_`` is the split-conformal ``1 - account_fpr``
  quantile of the calibration accounts' similar-pair counts (default ``account_fpr`` 1 %): at most
  1 % of calibration accounts exceed it, and a new benign account does with probability at most
  1 %. An account is flagged when its similar-pair count is strictly greater.

The detector contract (STYLE.md) holds over per-account query streams: ``fit(streams) -> self``,
``decision_function(streams) -> [N]`` (similar-pair counts), ``predict`` against ``threshold_``.
The online gate and the accounts-needed simulation live in :mod:`graphrec.security.monitor`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from graphrec.data.split import PAD, pad_sequences
from graphrec.errors import GraphrecError

log = logging.getLogger(__name__)

Query = Sequence[int]
"""A query: item ids (0-based), oldest first, as sent to the oracle."""
Streams = Sequence[Sequence[Query]] | Mapping[str, Sequence[Query]]
"""Per-account query streams (a list of streams, or a mapping account -> stream)."""

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
    for epoch in range(1, training.epochs + 1):
        order = torch.randperm(len(tokens), generator=generator)
        sums = {"loss": 0.0, "close": 0.0, "apart": 0.0}
        steps = 0
        for lo in range(0, len(tokens), training.batch_size):
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


# ---------------------------------------------------------------------------- pair counting
def count_similar_pairs(embeddings: Tensor, threshold: float, *, block: int = 2048) -> int:
    """Pairs ``i < j`` of rows with squared distance strictly below ``threshold``."""
    return len(similar_pairs(embeddings, threshold, block=block)[0])


def squared_distance_matrix(a: Tensor, b: Tensor) -> Tensor:
    """All squared distances ``||a_i - b_j||^2`` in float64, clamped at 0, ``[n, m]``.

    One formula (``||a||^2 + ||b||^2 - 2 a.b``) for the offline counts and the online monitor, so
    both decide every pair the same way.
    """
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return (a.pow(2).sum(1)[:, None] + b.pow(2).sum(1)[None, :] - 2 * a @ b.T).clamp(min=0)


def similar_pairs(
    embeddings: Tensor, threshold: float, *, block: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``(i, j)``, ``i < j``, whose squared distance is strictly below ``threshold``.

    Computed block by block (:func:`squared_distance_matrix`), so thousands of queries never
    need the full distance matrix at once.

    Shapes:
        input: ``[n, d]``; output: two int64 arrays of equal length.
    """
    z = embeddings.detach().double().cpu()  # [n, d]
    n = z.shape[0]
    first: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    second: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        dist = squared_distance_matrix(z[lo:hi], z[lo:])  # [b, n - lo]
        upper = torch.arange(lo, hi)[:, None] < torch.arange(lo, n)[None, :]  # i < j
        rows, cols = torch.nonzero((dist < threshold) & upper, as_tuple=True)
        first.append((rows + lo).numpy().astype(np.int64))
        second.append((cols + lo).numpy().astype(np.int64))
    return np.concatenate(first), np.concatenate(second)


def benign_pair_distances(
    embeddings: Tensor,
    accounts: np.ndarray,
    *,
    query_ids: np.ndarray | None = None,
    max_pairs: int = 2_000_000,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    """Squared distances of DISTINCT query pairs from DIFFERENT accounts (all, or a sample).

    All such pairs are used when there are at most ``max_pairs`` cross-account pairs; otherwise
    ``max_pairs`` pairs are drawn uniformly (with replacement) among them.

    Args:
        embeddings: ``[n, d]`` similarity vectors.
        accounts: ``[n]`` account index of each query.
        query_ids: ``[n]`` content id of each query (equal ids = identical queries, whose pairs
            are left out); default: every query distinct.

    Shapes:
        output: ``[P]`` float64.
    """
    z = embeddings.detach().double().cpu()
    n = len(accounts)
    if z.shape[0] != n:
        raise ValueError(f"{z.shape[0]} embeddings for {n} account labels")
    ids = np.arange(n) if query_ids is None else np.asarray(query_ids)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} query ids for {n} account labels")
    sizes = np.bincount(accounts)
    cross = (n * n - int((sizes.astype(np.int64) ** 2).sum())) // 2
    if cross == 0:
        return np.zeros(0)
    rng = generator if generator is not None else np.random.default_rng(0)
    if cross <= max_pairs:
        i, j = np.triu_indices(n, k=1)
        keep = (accounts[i] != accounts[j]) & (ids[i] != ids[j])
        i, j = i[keep], j[keep]
    else:
        draws = int(max_pairs * 1.2) + 16
        i_parts, j_parts, have = [], [], 0
        for _ in range(100):  # bounded: almost every pair could be an identical query
            i = rng.integers(n, size=draws)
            j = rng.integers(n, size=draws)
            keep = (accounts[i] != accounts[j]) & (ids[i] != ids[j])
            i_parts.append(i[keep])
            j_parts.append(j[keep])
            have += int(keep.sum())
            if have >= max_pairs:
                break
        i = np.concatenate(i_parts)[:max_pairs]
        j = np.concatenate(j_parts)[:max_pairs]
    out = np.empty(len(i))
    for lo in range(0, len(i), 1_000_000):
        a = z[torch.from_numpy(i[lo : lo + 1_000_000])]
        b = z[torch.from_numpy(j[lo : lo + 1_000_000])]
        rows = (a.pow(2).sum(1) + b.pow(2).sum(1) - 2 * (a * b).sum(1)).clamp(min=0)
        out[lo : lo + 1_000_000] = rows.numpy()  # the formula of squared_distance_matrix
    return out


def pair_threshold(distances: np.ndarray, fpr: float) -> float:
    """The squared distance below which at most ``fpr`` of the benign pairs fall.

    With ``d_(0) <= d_(1) <= ...`` the sorted distances and ``m = floor(fpr * P)``, the threshold
    is ``d_(m)``: strictly fewer than ``m + 1`` pairs lie strictly below it. With ``P < 1 / fpr``
    (``m = 0``) it is the smallest benign distance: no benign pair counts as similar, the
    requested rate cannot be verified, and a warning says so.
    """
    if not 0 < fpr < 1:
        raise ValueError(f"fpr must be in (0, 1), got {fpr}")
    if len(distances) == 0:
        raise GraphrecError("no distinct benign queries from different accounts to calibrate on")
    ordered = np.sort(distances)
    m = int(math.floor(fpr * len(ordered)))
    if len(ordered) < math.ceil(1 / fpr):
        log.warning(
            "only %d benign pairs: a %.4g%% pair FPR needs >= %d; using the smallest benign "
            "distance as the threshold (no calibration pair is similar)",
            len(ordered),
            100 * fpr,
            math.ceil(1 / fpr),
        )
    threshold = float(ordered[m])
    if threshold <= 0:
        log.warning(
            "more than %.4g%% of distinct benign pairs embed at distance 0: the pair threshold "
            "is 0 and no pair can count as similar",
            100 * fpr,
        )
    return threshold


def account_limit(counts: np.ndarray, account_fpr: float) -> int:
    """The per-account limit: the conformal ``1 - account_fpr`` quantile of benign counts.

    With the ``n`` calibration counts sorted, the limit is the ``ceil((n + 1)(1 - a))``-th
    smallest (split-conformal rule): at most ``a * n`` calibration accounts exceed it, and a NEW
    benign account exchangeable with them exceeds it with probability at most ``a``. When
    ``n < 1 / a - 1`` that rank is beyond the largest count: the limit is then the largest
    count and the guarantee does not hold (a warning says so).
    """
    if not 0 <= account_fpr < 1:
        raise ValueError(f"account_fpr must be in [0, 1), got {account_fpr}")
    if len(counts) == 0:
        raise GraphrecError("no calibration accounts")
    ordered = np.sort(np.asarray(counts))
    rank = int(math.ceil((len(ordered) + 1) * (1 - account_fpr)))
    if rank > len(ordered):
        log.warning(
            "only %d calibration accounts: a %.4g%% account FPR cannot be guaranteed; "
            "using the largest benign count as the limit",
            len(ordered),
            100 * account_fpr,
        )
        rank = len(ordered)
    return int(ordered[rank - 1])


# ---------------------------------------------------------------------------- the detector
def account_names(streams: Streams) -> list:
    """The accounts of per-account streams: a mapping's keys, or positions ``0..N-1``."""
    return list(streams.keys()) if isinstance(streams, Mapping) else list(range(len(streams)))


def as_stream_list(streams: Streams) -> list[list[Query]]:
    """Per-account streams as a list (a mapping's values, in its order)."""
    values = streams.values() if isinstance(streams, Mapping) else streams
    return [list(stream) for stream in values]


class SEATDetector:
    """SEAT over per-account query streams (detector contract: fit / decision_function / predict).

    Args:
        item_embedding: ``[I, d]`` item vectors that initialise the encoder's item table (the
            target's graph-encoder embeddings; see :meth:`from_recommender`).
        max_len: the query length the oracle reads (most recent items; default 50).
        hidden_channels: encoder MLP width (default 128).
        out_channels: similarity vector width (default 32).
        freeze_items: keep the item table fixed during training (default False).
        training: encoder training settings (default :class:`EncoderTraining`).
        pair_fpr: share of benign cross-account pairs allowed below the pair threshold
            (default 1e-4, the paper's 0.01 %).
        account_fpr: share of calibration accounts allowed above the limit (default 0.01).
        calibration_fraction: share of the ``fit`` accounts held out for calibration when no
            ``calibration_streams`` are given (default 0.5).
        max_calibration_pairs: benign pairs sampled for the pair threshold (default 2,000,000).
        device: where the encoder runs (default cpu).

    Attributes (after ``fit``):
        encoder_: the trained :class:`SimilarityEncoder`.
        pair_threshold_: squared-distance threshold of a similar pair.
        threshold_: the account limit: flagged when the similar-pair count is greater.
        decision_score_: similar-pair counts of the calibration accounts.
        calibration_pairs_: benign pairs the pair threshold was set on.
        training_accounts_, calibration_accounts_: the accounts (mapping keys or positions) that
            trained the encoder and that calibrated the thresholds (disjoint).
        history_: encoder training records.
    """

    def __init__(
        self,
        item_embedding: Tensor,
        *,
        max_len: int = 50,
        hidden_channels: int = 128,
        out_channels: int = 32,
        freeze_items: bool = False,
        training: EncoderTraining | None = None,
        pair_fpr: float = 1e-4,
        account_fpr: float = 0.01,
        calibration_fraction: float = 0.5,
        max_calibration_pairs: int = 2_000_000,
        device: torch.device | str = "cpu",
    ) -> None:
        if item_embedding.dim() != 2:
            raise ValueError(f"item_embedding must be [I, d], got {tuple(item_embedding.shape)}")
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        if not 0 < pair_fpr < 1:
            raise ValueError(f"pair_fpr must be in (0, 1), got {pair_fpr}")
        if not 0 <= account_fpr < 1:
            raise ValueError(f"account_fpr must be in [0, 1), got {account_fpr}")
        if not 0 < calibration_fraction < 1:
            raise ValueError(f"calibration_fraction must be in (0, 1), got {calibration_fraction}")
        self.item_embedding = item_embedding.detach().float().cpu()
        self.num_items = int(item_embedding.shape[0])
        self.max_len = max_len
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.freeze_items = freeze_items
        self.training = training or EncoderTraining()
        self.pair_fpr = pair_fpr
        self.account_fpr = account_fpr
        self.calibration_fraction = calibration_fraction
        self.max_calibration_pairs = max_calibration_pairs
        self.device = torch.device(device)

    @classmethod
    def from_recommender(cls, model: nn.Module, **kwargs: object) -> SEATDetector:
        """A detector whose item table starts from ``model.encode()``'s item embeddings."""
        if not hasattr(model, "encode"):
            raise ValueError(f"{type(model).__name__} has no graph encoder (no encode())")
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                item_emb = model.encode()[1]  # [I, d]
        finally:
            model.train(was_training)
        return cls(item_emb, **kwargs)

    # ------------------------------------------------------------------ fitting
    def fit(
        self, benign_query_streams: Streams, calibration_streams: Streams | None = None
    ) -> SEATDetector:
        """Train the encoder on benign queries and calibrate both thresholds on held-out ones.

        Args:
            benign_query_streams: benign per-account streams. Without ``calibration_streams``
                their accounts are split at random (seeded) into encoder-training accounts and
                calibration accounts (``calibration_fraction``), disjoint.
            calibration_streams: benign accounts held out from encoder training (optional).
        """
        names = account_names(benign_query_streams)
        streams = as_stream_list(benign_query_streams)
        if calibration_streams is None:
            if len(streams) < 2:
                raise ValueError("need at least two benign accounts to hold some out")
            rng = np.random.default_rng(self.training.seed)
            order = rng.permutation(len(streams))
            held = max(1, int(round(self.calibration_fraction * len(streams))))
            held = min(held, len(streams) - 1)
            calibration = [streams[i] for i in order[:held]]
            self.calibration_accounts_ = [names[i] for i in order[:held]]
            self.training_accounts_ = [names[i] for i in order[held:]]
            streams = [streams[i] for i in order[held:]]
        else:
            calibration = as_stream_list(calibration_streams)
            self.training_accounts_ = names
            self.calibration_accounts_ = account_names(calibration_streams)
            if isinstance(calibration_streams, Mapping) and isinstance(
                benign_query_streams, Mapping
            ):
                shared = set(self.training_accounts_) & set(self.calibration_accounts_)
                if shared:
                    raise ValueError(
                        f"calibration accounts must be held out; {len(shared)} also train the "
                        f"encoder, e.g. {sorted(map(str, shared))[0]!r}"
                    )
        train_queries = [q for stream in streams for q in stream]
        if len(train_queries) < 2:
            raise ValueError("need at least two benign training queries")
        torch.manual_seed(self.training.seed)
        self.encoder_ = SimilarityEncoder(
            num_items=self.num_items,
            in_channels=self.item_embedding.shape[1],
            hidden_channels=self.hidden_channels,
            out_channels=self.out_channels,
            item_embedding=self.item_embedding,
            freeze_items=self.freeze_items,
        ).to(self.device)
        self.history_ = train_encoder(
            self.encoder_, self.tokens(train_queries).to(self.device), self.training
        )
        self.calibrate(calibration)
        return self

    def calibrate(self, calibration_streams: Streams) -> SEATDetector:
        """Set ``pair_threshold_`` and ``threshold_`` from benign held-out accounts."""
        streams = [s for s in as_stream_list(calibration_streams) if len(s)]
        if len(streams) < 2:
            raise ValueError("calibration needs at least two non-empty benign accounts")
        queries = [q for stream in streams for q in stream]
        accounts = np.repeat(np.arange(len(streams)), [len(s) for s in streams])
        z = self.embed(queries)  # [n, out]
        _, query_ids = np.unique(self.tokens(queries).numpy(), axis=0, return_inverse=True)
        distances = benign_pair_distances(
            z,
            accounts,
            query_ids=query_ids.reshape(-1),
            max_pairs=self.max_calibration_pairs,
            generator=np.random.default_rng(self.training.seed),
        )
        self.pair_threshold_ = pair_threshold(distances, self.pair_fpr)
        self.calibration_pairs_ = len(distances)
        bounds = np.concatenate([[0], np.cumsum([len(s) for s in streams])])
        self.decision_score_ = np.array(
            [
                count_similar_pairs(z[bounds[a] : bounds[a + 1]], self.pair_threshold_)
                for a in range(len(streams))
            ],
            dtype=np.float64,
        )
        self.threshold_ = account_limit(self.decision_score_, self.account_fpr)
        log.info(
            "SEAT calibrated on %d accounts / %d benign pairs: pair threshold %.4g (squared), "
            "account limit %d similar pairs",
            len(streams),
            self.calibration_pairs_,
            self.pair_threshold_,
            self.threshold_,
        )
        return self

    # ------------------------------------------------------------------ scoring
    def tokens(self, queries: Sequence[Query]) -> Tensor:
        """Left-padded tokens of the most recent ``max_len`` items of each query, ``[n, L]``."""
        arrays = [np.asarray(q, dtype=np.int64) for q in queries]
        for position, array in enumerate(arrays):
            if array.ndim != 1 or len(array) == 0:
                raise ValueError(f"query {position} must be a non-empty 1-D sequence of item ids")
            if array.min() < 0 or array.max() >= self.num_items:
                raise ValueError(f"query {position} holds item ids outside 0..{self.num_items - 1}")
        return pad_sequences(arrays, self.max_len)

    @torch.no_grad()
    def embed(self, queries: Sequence[Query], batch_size: int = 2048) -> Tensor:
        """Similarity vectors of queries, ``[n, out_channels]`` (CPU)."""
        self._check_fitted()
        self.encoder_.eval()
        if len(queries) == 0:
            return torch.zeros(0, self.out_channels)
        tokens = self.tokens(queries)
        parts = [
            self.encoder_(tokens[lo : lo + batch_size].to(self.device)).cpu()
            for lo in range(0, len(tokens), batch_size)
        ]
        return torch.cat(parts)

    def decision_function(self, account_streams: Streams) -> np.ndarray:
        """Similar-pair count of each account's stream (higher = more suspicious), ``[N]``."""
        self._check_fitted()
        return np.array(
            [
                count_similar_pairs(self.embed(stream), self.pair_threshold_) if stream else 0
                for stream in as_stream_list(account_streams)
            ],
            dtype=np.float64,
        )

    def predict(self, account_streams: Streams) -> np.ndarray:
        """1 for flagged accounts (count > ``threshold_``), else 0, ``[N]``."""
        return (self.decision_function(account_streams) > self.threshold_).astype(np.int64)

    def _check_fitted(self) -> None:
        if not hasattr(self, "encoder_"):
            raise GraphrecError("SEATDetector is not fitted: call fit(benign_query_streams)")

    def __repr__(self) -> str:
        fitted = (
            f", pair_threshold_={self.pair_threshold_:.4g}, threshold_={self.threshold_}"
            if hasattr(self, "threshold_")
            else ""
        )
        return (
            f"{self.__class__.__name__}(num_items={self.num_items}, max_len={self.max_len}, "
            f"perturbation={self.training.perturbation!r}{fitted})"
        )
