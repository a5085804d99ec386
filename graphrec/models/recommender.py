"""The recommender contract, and the graph-encoder + sequential-head model behind it.

Every recommender (this model and the baselines) answers ``calculate_loss(batch)``,
``full_sort_predict(batch) -> [B, num_items]`` and ``recommend(batch, k, exclude) -> [B, k]``, so
one training loop and one evaluator serve them all (the contract RecBole uses).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.data.split import PAD, from_token
from graphrec.errors import GraphrecError
from graphrec.models.batch import SequenceBatch, sequence_positives
from graphrec.models.heads import with_pad_row

Exclude = Tensor | Sequence[np.ndarray | Sequence[int] | Tensor] | None
"""Items to keep out of a recommendation: a bool mask ``[B, num_items]`` or one id array per row."""


def exclusion_mask(
    exclude: Exclude, batch_size: int, num_items: int, device: torch.device | str = "cpu"
) -> Tensor | None:
    """A bool mask ``[B, num_items]`` (True = never recommend) from either form of ``exclude``."""
    if exclude is None:
        return None
    if isinstance(exclude, Tensor):
        if exclude.dtype != torch.bool or exclude.shape != (batch_size, num_items):
            raise ValueError(
                f"exclude mask must be bool [{batch_size}, {num_items}], "
                f"got {exclude.dtype} {tuple(exclude.shape)}"
            )
        return exclude.to(device)
    if len(exclude) != batch_size:
        raise ValueError(f"exclude has {len(exclude)} rows for a batch of {batch_size}")
    rows = [np.asarray(torch.as_tensor(e).cpu(), dtype=np.int64).ravel() for e in exclude]
    flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    if len(flat) and (flat.min() < 0 or flat.max() >= num_items):
        raise ValueError(f"exclude holds item ids outside 0..{num_items - 1}")
    row_ids = np.repeat(np.arange(batch_size), [len(r) for r in rows])
    mask = torch.zeros(batch_size, num_items, dtype=torch.bool)
    mask[torch.from_numpy(row_ids), torch.from_numpy(flat)] = True
    return mask.to(device)


def top_k_items(scores: Tensor, k: int, exclude: Exclude = None) -> Tensor:
    """Ids of the ``k`` best-scored items per row, excluded items set to -inf first.

    Shapes:
        input: scores ``[B, I]``; output: ``[B, k]`` (best first).
    """
    batch_size, num_items = scores.shape
    if not 1 <= k <= num_items:
        raise ValueError(f"k must be in 1..{num_items}, got {k}")
    mask = exclusion_mask(exclude, batch_size, num_items, scores.device)
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))  # [B, I]
    return scores.topk(k, dim=1).indices  # [B, k]


def bpr_loss(user_emb: Tensor, item_emb: Tensor, users: Tensor, positives: Tensor) -> Tensor:
    """Bayesian personalised ranking loss with one uniform random negative per positive.

    Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009:
    -log sigmoid(s(u, i+) - s(u, i-)), s the dot product of node embeddings. A sampled negative may
    occasionally be a positive of the user; with thousands of items that noise is negligible and
    it keeps sampling O(1).

    Shapes:
        input: user_emb ``[U, d]``, item_emb ``[I, d]``, users and positives ``[P]``.
        output: a scalar (0 when ``P == 0``).
    """
    if users.numel() == 0:
        return user_emb.sum() * 0.0
    negatives = torch.randint(item_emb.shape[0], positives.shape, device=positives.device)  # [P]
    u = user_emb[users]  # [P, d]
    pos = (u * item_emb[positives]).sum(-1)  # [P]
    neg = (u * item_emb[negatives]).sum(-1)  # [P]
    return -F.logsigmoid(pos - neg).mean()


def gbce_loss(
    states: Tensor, targets: Tensor, item_emb: Tensor, negatives: int, t: float = 0.75
) -> Tensor:
    """gSASRec's generalised binary cross-entropy over shared uniform negatives.

    Petrov & Macdonald, "gSASRec: Reducing Overconfidence in Sequential Recommendation Trained
    with Negative Sampling", RecSys 2023: with ``k`` negatives sampled from ``I - 1`` items
    (rate ``a = k / (I - 1)``), the positive's log-sigmoid is raised to the power
    ``beta = a * (t * (1 - 1/a) + 1/a)``, which undoes the overconfidence negative sampling
    gives a BCE-trained model (t = 0: plain BCE; t -> 1: the full-softmax optimum). The
    negatives are drawn once per call and shared by every position (one ``[N, k]`` product
    instead of ``[N, I]``); a negative that happens to be a position's own target is masked.

    Shapes:
        states ``[N, d]``, targets ``[N]`` (item ids), item_emb ``[I, d]`` -> a scalar.
    """
    num_items = item_emb.shape[0]
    sampled = torch.randint(num_items, (negatives,), device=states.device)  # [k]
    positive = (states * item_emb[targets]).sum(-1)  # [N]
    negative = states @ item_emb[sampled].T  # [N, k]
    hit = sampled.unsqueeze(0) == targets.unsqueeze(1)  # [N, k]
    alpha = negatives / (num_items - 1)
    beta = alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha)
    positive_term = -beta * F.logsigmoid(positive)  # [N]
    negative_term = -F.logsigmoid(-negative).masked_fill(hit, 0.0).sum(-1)  # [N]
    return (positive_term + negative_term).mean()


def alignment_loss(states: Tensor, user_vectors: Tensor, temperature: float) -> Tensor:
    """In-batch InfoNCE between each row's sequence state and its user's graph embedding.

    The two views of one user — what the sequence encoder reads from the recent items and what
    message passing gathers around the user node — should agree more with each other than with
    other users' views (GCL4SR, Zhang et al. 2022; MAERec, Ye et al. 2023). Symmetric: sequence
    to graph and graph to sequence, cosine similarities over ``temperature``.

    Shapes:
        states ``[B, d]``, user_vectors ``[B, d]`` -> a scalar.
    """
    a = F.normalize(states, dim=-1)
    b = F.normalize(user_vectors, dim=-1)
    logits = a @ b.T / temperature  # [B, B]
    labels = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def sampled_softmax_loss(
    states: Tensor,
    targets: Tensor,
    item_emb: Tensor,
    negatives: int,
    log_q: Tensor | None = None,
) -> Tensor:
    """Cross-entropy over the target and ``negatives`` sampled items shared by the batch.

    The full softmax restricted to a sample (Jean et al. 2015): one ``[N, k]`` product instead
    of ``[N, I]``. Items are drawn uniformly, or from ``exp(log_q)`` (e.g. popularity) with
    every logit corrected by ``-log q`` so the sampled softmax stays a consistent estimate of
    the full one (the logQ correction, Bengio & Senecal 2008; Yi et al. 2019). A sampled item
    equal to a position's own target is masked out of that position's negatives.

    Shapes:
        states ``[N, d]``, targets ``[N]`` (item ids), item_emb ``[I, d]``, log_q ``[I]`` (log
        probabilities) -> a scalar.
    """
    num_items = item_emb.shape[0]
    if log_q is None:
        sampled = torch.randint(num_items, (negatives,), device=states.device)  # [k]
    else:
        sampled = torch.multinomial(log_q.exp(), negatives, replacement=True)  # [k]
    positive = (states * item_emb[targets]).sum(-1, keepdim=True)  # [N, 1]
    negative = states @ item_emb[sampled].T  # [N, k]
    if log_q is not None:
        positive = positive - log_q[targets].unsqueeze(1)
        negative = negative - log_q[sampled].unsqueeze(0)
    negative = negative.masked_fill(sampled.unsqueeze(0) == targets.unsqueeze(1), float("-inf"))
    logits = torch.cat([positive, negative], dim=1)  # [N, 1 + k]
    return F.cross_entropy(logits, torch.zeros(len(states), dtype=torch.long, device=states.device))


def popularity_log_q(edge_index: Tensor, num_users: int, num_items: int, power: float) -> Tensor:
    """log of a sampling distribution over items proportional to ``(degree + 1) ** power``.

    The degree is counted on the training graph (item nodes are ``num_users + item``), so no
    valid or test interaction shapes it. ``power`` 0 is uniform, 1 is popularity; word2vec's
    0.75 sits between.

    Shapes:
        edge_index ``[2, E]`` -> ``[num_items]``.
    """
    nodes = edge_index[1]
    items = nodes[nodes >= num_users] - num_users
    degree = torch.bincount(items, minlength=num_items).double()
    weight = (degree + 1.0) ** power
    return (weight / weight.sum()).log().float()


NEXT_ITEM_LOSSES = ("full", "sampled", "gbce")
"""Next-item losses of :class:`GraphSequentialRecommender`."""
FULL_SOFTMAX_MAX_ITEMS = 2048
"""``auto`` keeps the exact full softmax up to this many items, the sampled one above it.

Measured (issue 12): on the real ML-100K (1,682 items) the full softmax costs 1.3 s per epoch and
reaches test NDCG@10 .096, the sampled one .091 (256 or 1,024 negatives, seed 42); on ml-1m
(3,706 items) the full softmax is 14.4 s per epoch, the sampled 6.9-8.6 s."""


def resolve_loss(loss: str, num_items: int) -> str:
    """The concrete next-item loss for ``loss`` (``auto`` or one of :data:`NEXT_ITEM_LOSSES`)."""
    if loss == "auto":
        return "full" if num_items <= FULL_SOFTMAX_MAX_ITEMS else "sampled"
    return loss


class SequentialRecommender(nn.Module):
    """Base of every recommender: the shared ``recommend`` over ``full_sort_predict``.

    Attributes:
        num_items: catalogue size (scores have this many columns).
        trainable: False for models with nothing to learn (a training loop skips them).
    """

    trainable: bool = True

    def __init__(self, *, num_items: int) -> None:
        super().__init__()
        if num_items < 1:
            raise ValueError(f"num_items must be >= 1, got {num_items}")
        self.num_items = num_items

    def calculate_loss(self, batch: SequenceBatch) -> Tensor:
        """Training loss of one batch (a scalar to back-propagate)."""
        raise NotImplementedError

    def full_sort_predict(self, batch: SequenceBatch) -> Tensor:
        """A score for every item after each row's sequence, ``[B, num_items]``."""
        raise NotImplementedError

    @torch.no_grad()
    def recommend(self, batch: SequenceBatch, k: int, exclude: Exclude = None) -> Tensor:
        """The ``k`` best items per row, ``[B, k]``, never one of ``exclude`` (e.g. seen items).

        The model's mode is left alone: call ``eval()`` first for deterministic (dropout-free)
        recommendations and the cached encoder pass.
        """
        return top_k_items(self.full_sort_predict(batch), k, exclude)


class GraphEncoded(SequentialRecommender):
    """A recommender built on a graph encoder over the flattened user-item graph.

    It keeps the training graph as non-persistent buffers (the caller builds it from TRAIN events
    only, so no test edge is ever propagated) and caches the encoder's output while the model is in
    eval mode without gradients: evaluation then runs the encoder once, not once per batch. The
    cache is keyed on the encoder's parameter storage and version counters, so an optimizer step,
    ``load_state_dict``, ``.to(device)`` or a new graph all invalidate it.
    """

    def __init__(self, *, encoder: nn.Module, num_users: int, num_items: int) -> None:
        super().__init__(num_items=num_items)
        if num_users < 1:
            raise ValueError(f"num_users must be >= 1, got {num_users}")
        self.encoder = encoder
        self.num_users = num_users
        self.register_buffer("edge_index", None, persistent=False)
        self.register_buffer("edge_weight", None, persistent=False)
        self._graph_version = 0
        self._cache: tuple[tuple, Tensor, Tensor] | None = None

    def attach_graph(self, edge_index: Tensor, edge_weight: Tensor | None = None) -> None:
        """Use this (training) graph: flattened ids, users ``0..U-1`` then items, ``[2, E]``."""
        num_nodes = self.num_users + self.num_items
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must be [2, E], got {tuple(edge_index.shape)}")
        if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
            raise ValueError(f"edge_index has node ids outside 0..{num_nodes - 1}")
        if edge_weight is not None and edge_weight.shape != (edge_index.shape[1],):
            raise ValueError(
                f"edge_weight must be [E]={edge_index.shape[1]}, got {tuple(edge_weight.shape)}"
            )
        device = next(iter(self.parameters()), edge_index).device
        self.edge_index = edge_index.long().to(device)
        self.edge_weight = None if edge_weight is None else edge_weight.float().to(device)
        self._graph_version += 1
        self._cache = None

    def encode(self) -> tuple[Tensor, Tensor]:
        """User and item embeddings ``([U, d], [I, d])``; cached in eval mode under no_grad."""
        if self.edge_index is None:
            raise GraphrecError("no graph attached: call attach_graph(edge_index) first")
        cacheable = not self.training and not torch.is_grad_enabled()
        if cacheable and self._cache is not None and self._cache[0] == self._cache_key():
            return self._cache[1], self._cache[2]
        user_emb, item_emb = self.encoder(self.edge_index, self.edge_weight)
        if user_emb.shape[0] != self.num_users or item_emb.shape[0] != self.num_items:
            raise GraphrecError(
                f"encoder returned {user_emb.shape[0]} users / {item_emb.shape[0]} items, "
                f"expected {self.num_users} / {self.num_items}"
            )
        self._cache = (self._cache_key(), user_emb, item_emb) if cacheable else None
        return user_emb, item_emb

    def clear_cache(self) -> None:
        """Drop the cached encoder output (it is also dropped automatically when stale)."""
        self._cache = None

    def _cache_key(self) -> tuple:
        tensors = [*self.encoder.parameters(), *self.encoder.buffers()]
        return (
            self._graph_version,
            self.edge_index.data_ptr(),
            *((t.data_ptr(), t._version) for t in tensors),
        )

    def _user_vectors(self, users: Tensor, user_emb: Tensor) -> Tensor:
        """Each row's user embedding, zero for unknown users (negative ids), ``[B, d]``."""
        known = users >= 0  # [B]
        vectors = user_emb[users.clamp(min=0)]  # [B, d]
        return vectors * known.unsqueeze(1)  # [B, d]


class GraphSequentialRecommender(GraphEncoded):
    """A GNN encoder whose item embeddings feed a sequential head, trained jointly.

    One encoder pass gives user and item embeddings; the head reads the sequence through the item
    embeddings (a zero row for PAD) and gives a hidden state per position; the score of item ``i``
    is ``<h_t + u, e_i>`` over ALL items. User fusion is additive (``fuse_user``): the score is then
    the sequential score ``<h_t, e_i>`` plus the graph's collaborative score ``<u, e_i>``, the very
    quantity the BPR term trains, so the two signals combine without extra parameters. Rows with an
    unknown user (negative id, e.g. an ad-hoc query) get no user term.

    Loss: full-softmax cross-entropy of the next item at every non-pad target position (all
    positions of all sequences at once, as SASRec trains) plus ``bpr_weight`` times the encoder's
    BPR loss (Rendle et al. 2009) on every (user, item) the batch shows, with a uniform random
    negative each. The full softmax costs positions x items, which on ML-20M (138k users x 50
    positions x 26,744 items) no CPU pass can afford: ``loss="sampled"`` restricts it to
    ``negatives`` items sampled uniformly once per batch and shared by every position
    (:func:`sampled_softmax_loss`), ``loss="gbce"`` uses gSASRec's gBCE on such samples
    (:func:`gbce_loss`; Petrov & Macdonald, RecSys 2023). With ``align_weight`` > 0 the loss
    also pulls each sequence's last state toward its user's graph node (:func:`alignment_loss`).

    Args:
        encoder: ``encoder(edge_index, edge_weight) -> (user_emb [U, d], item_emb [I, d])``.
        head: ``head(tokens [B, L], item_table [I + 1, d]) -> hidden [B, L, d]``; an optional
            ``head.last_hidden(tokens, item_table) -> [B, d]`` is used for ranking.
        num_users: users in the graph.
        num_items: items in the catalogue.
        fuse_user: add the user's node embedding to the hidden state (default True).
        bpr_weight: weight of the BPR term (default 0.1; 0 disables it).
        loss: ``full`` (softmax over every item, default), ``sampled`` (sampled softmax) or
            ``gbce``.
        negatives: items sampled per batch for ``sampled`` and ``gbce``.
        sample_power: ``sampled`` draws items with probability proportional to
            ``(training degree + 1) ** sample_power`` with the logQ correction (default 0.75;
            0 = uniform). gBCE always samples uniformly, as its calibration assumes.
        gbce_t: gBCE calibration ``t`` in [0, 1] (default 0.75, the paper's choice).
        align_weight: weight of the contrastive alignment of the last sequence state (before
            user fusion) with the user's graph embedding (:func:`alignment_loss`; default 0).
        align_temperature: its InfoNCE temperature (default 0.2).
    """

    def __init__(
        self,
        *,
        encoder: nn.Module,
        head: nn.Module,
        num_users: int,
        num_items: int,
        fuse_user: bool = True,
        bpr_weight: float = 0.1,
        loss: str = "full",
        negatives: int = 1024,
        gbce_t: float = 0.75,
        sample_power: float = 0.75,
        align_weight: float = 0.0,
        align_temperature: float = 0.2,
    ) -> None:
        super().__init__(encoder=encoder, num_users=num_users, num_items=num_items)
        if align_weight < 0 or align_temperature <= 0:
            raise ValueError(
                f"need align_weight >= 0 and align_temperature > 0, got "
                f"{align_weight}, {align_temperature}"
            )
        if bpr_weight < 0:
            raise ValueError(f"bpr_weight must be >= 0, got {bpr_weight}")
        if loss not in NEXT_ITEM_LOSSES:
            raise ValueError(f"loss must be one of {NEXT_ITEM_LOSSES}, got {loss!r}")
        if loss != "full" and negatives < 1:
            raise ValueError(f"negatives must be >= 1 for loss {loss!r}, got {negatives}")
        if not 0.0 <= gbce_t <= 1.0:
            raise ValueError(f"gbce_t must be in [0, 1], got {gbce_t}")
        self.head = head
        self.fuse_user = fuse_user
        self.bpr_weight = bpr_weight
        self.loss = loss
        self.negatives = min(negatives, num_items - 1)
        self.gbce_t = gbce_t
        self.sample_power = sample_power
        self.align_weight = align_weight
        self.align_temperature = align_temperature
        self._log_q_cache: tuple[Tensor, Tensor] | None = None
        self.last_losses: dict[str, Tensor] = {}

    def forward(self, batch: SequenceBatch) -> Tensor:
        """Fused hidden state of every position, ``[B, L, d]``."""
        user_emb, item_emb = self.encode()
        return self._hidden(batch, user_emb, item_emb)

    def _log_q(self) -> Tensor | None:
        """The sampled softmax's negative distribution (None: uniform), from the attached
        training graph's item degrees; recomputed only when another graph is attached."""
        if self.sample_power == 0:
            return None
        cached = self._log_q_cache
        if cached is None or cached[0] is not self.edge_index:
            log_q = popularity_log_q(
                self.edge_index, self.num_users, self.num_items, self.sample_power
            )
            self._log_q_cache = cached = (self.edge_index, log_q)
        return cached[1]

    def _hidden(self, batch: SequenceBatch, user_emb: Tensor, item_emb: Tensor) -> Tensor:
        return self._fuse(batch, user_emb, self.head(batch.items, with_pad_row(item_emb)))

    def _fuse(self, batch: SequenceBatch, user_emb: Tensor, sequence: Tensor) -> Tensor:
        """The head's states ``[B, L, d]`` plus each row's user vector when fusing."""
        if self.fuse_user:
            return sequence + self._user_vectors(batch.users, user_emb).unsqueeze(1)
        return sequence

    def calculate_loss(self, batch: SequenceBatch) -> Tensor:
        """Next-item cross-entropy over all items + ``bpr_weight`` x BPR (see the class doc)."""
        if batch.targets is None:
            raise ValueError("calculate_loss needs a batch with targets (a training batch)")
        user_emb, item_emb = self.encode()
        sequence = self.head(batch.items, with_pad_row(item_emb))  # [B, L, d]
        hidden = self._fuse(batch, user_emb, sequence)  # [B, L, d]
        has_target = batch.targets != PAD  # [B, L]
        states, targets = hidden[has_target], from_token(batch.targets[has_target])  # [N, d], [N]
        if self.loss == "sampled":
            ce = sampled_softmax_loss(states, targets, item_emb, self.negatives, self._log_q())
        elif self.loss == "gbce":
            ce = gbce_loss(states, targets, item_emb, self.negatives, self.gbce_t)
        else:
            ce = F.cross_entropy(states @ item_emb.T, targets)  # logits [N, I]
        loss = ce
        self.last_losses = {"ce": ce.detach()}
        if self.bpr_weight > 0:
            users, positives = sequence_positives(batch)
            bpr = bpr_loss(user_emb, item_emb, users, positives)
            loss = loss + self.bpr_weight * bpr
            self.last_losses["bpr"] = bpr.detach()
        known = batch.users >= 0
        if self.align_weight > 0 and int(known.sum()) > 1:
            # the last column is every row's most recent state (sequences are left-padded)
            align = alignment_loss(
                sequence[known, -1], user_emb[batch.users[known]], self.align_temperature
            )
            loss = loss + self.align_weight * align
            self.last_losses["align"] = align.detach()
        return loss

    def full_sort_predict(self, batch: SequenceBatch) -> Tensor:
        """Scores of all items after the last position of each row, ``[B, num_items]``."""
        user_emb, item_emb = self.encode()
        table = with_pad_row(item_emb)  # [I+1, d]
        if hasattr(self.head, "last_hidden"):  # heads may skip the positions ranking ignores
            hidden = self.head.last_hidden(batch.items, table)  # [B, d]
        else:
            hidden = self.head(batch.items, table)[:, -1]  # [B, d], last = most recent
        if self.fuse_user:
            hidden = hidden + self._user_vectors(batch.users, user_emb)  # [B, d]
        return hidden @ item_emb.T  # [B, I]

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(encoder={self.encoder!r}, head={self.head!r}, "
            f"num_users={self.num_users}, num_items={self.num_items}, "
            f"fuse_user={self.fuse_user}, bpr_weight={self.bpr_weight})"
        )
