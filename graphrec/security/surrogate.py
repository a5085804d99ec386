"""The attacker's surrogate (student): a graph recommender learned from the oracle's ranked lists.

Yue et al. ("Black-Box Attacks on Sequential Recommenders via Data-Free Model Extraction", RecSys
2021) distil a black box into a white-box model of the same family by training it to reproduce the
top-k lists the black box returned for synthetic query sequences. Ours is the same encoder + head
family as the target (:class:`~graphrec.models.recommender.GraphSequentialRecommender`), but the
attacker owns no users and no interaction graph, so the surrogate builds its OWN graph from its
synthetic queries: every synthetic sequence is a pseudo-user with an edge to each item it holds.
The encoder then propagates over co-occurrence in the attacker's queries (which, for
autoregressive queries, is co-occurrence in the black box's answers). No user embedding is fused
(``fuse_user=False``): real users are unknown to the attacker, so every query is anonymous.

The loss is Yue et al.'s (:mod:`graphrec.security.ranking_loss`, shared with GRO's simulated
student).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from graphrec.data.split import pad_sequences
from graphrec.graph.rating_graph import RatingGraph
from graphrec.models.batch import SequenceBatch
from graphrec.models.factory import ModelSpec, build_graph_recommender
from graphrec.models.heads import with_pad_row
from graphrec.models.recommender import GraphSequentialRecommender
from graphrec.progress import progress_bar
from graphrec.security.ranking_loss import ranking_margin_loss

log = logging.getLogger(__name__)

PACKS = ("sequence", "answer")

Answer = tuple[Sequence[int], Sequence[int]]
"""One training example: (query prefix, the top-k ids the oracle returned for it)."""


@dataclass(frozen=True)
class SurrogateConfig:
    """Architecture and training of the surrogate.

    Attributes:
        encoder: graph encoder name (default ``lightgcn``, the target's default).
        head: sequential head (default ``sasrec``).
        embedding_dim: embedding width ``d`` (default 64).
        num_layers: message-passing layers over the pseudo-user graph (default 2).
        num_blocks: SASRec blocks (default 2).
        num_heads: attention heads (default 2).
        dropout: head dropout (default 0.2).
        max_len: input length the surrogate reads (default 50).
        epochs: passes over the collected answers (default 50).
        batch_size: training rows per step: sequences, or answers with ``pack="answer"``
            (default 64).
        lr: AdamW learning rate (default 3e-3; Yue et al. use 1e-3, which on ML-100K needs about
            three times the epochs for the same agreement: Agreement@10 0.686 after 150 epochs
            against 0.667 after 50 at 3e-3, 10k autoregressive calls).
        weight_decay: AdamW weight decay (default 0.0).
        margin: adjacent-rank margin (default 0.5, Yue et al.).
        neg_margin: listed-vs-outside margin (default 0.5, Yue et al.).
        ce_weight: weight of an extra next-item cross-entropy on each list's top-1 (default 0:
            the margin loss alone, as in the paper).
        pack: ``sequence`` (one training row per synthetic sequence, every prefix's list trained
            in one causal forward pass; default) or ``answer`` (one row per oracle answer: exact
            query alignment, about ``L`` times slower); see :func:`answer_table`.
        seed: initialisation and shuffling seed (default 0).
        device: where to train (default cpu).
    """

    encoder: str = "lightgcn"
    head: str = "sasrec"
    embedding_dim: int = 64
    num_layers: int = 2
    num_blocks: int = 2
    num_heads: int = 2
    dropout: float = 0.2
    max_len: int = 50
    epochs: int = 50
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    margin: float = 0.5
    neg_margin: float = 0.5
    ce_weight: float = 0.0
    pack: str = "sequence"
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("embedding_dim", "max_len", "epochs", "batch_size", "num_blocks"):
            if getattr(self, name) < 1 and not (name == "epochs" and self.epochs == 0):
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.ce_weight < 0:
            raise ValueError(f"ce_weight must be >= 0, got {self.ce_weight}")
        if self.pack not in PACKS:
            raise ValueError(f"unknown pack {self.pack!r}; expected one of {PACKS}")

    def to_dict(self) -> dict:
        return asdict(self)

    def model_spec(self, num_users: int, num_items: int) -> ModelSpec:
        """The target family's spec, on the PyG backend, with no user fusion and no BPR term.

        The attacker's users are anonymous pseudo-users, so neither the fused user embedding nor
        the graph's BPR loss has anything real to learn from.
        """
        return ModelSpec(
            name="graphrec",
            num_users=num_users,
            num_items=num_items,
            max_len=self.max_len,
            encoder=self.encoder,
            backend="pyg",
            head=self.head,
            embedding_dim=self.embedding_dim,
            num_layers=self.num_layers,
            num_blocks=self.num_blocks,
            num_heads=self.num_heads,
            dropout=self.dropout,
            fuse_user=False,
            bpr_weight=0.0,
        )


def build_surrogate(
    sequences: Sequence[Sequence[int]], num_items: int, config: SurrogateConfig | None = None
) -> GraphSequentialRecommender:
    """A fresh surrogate whose graph holds one pseudo-user per synthetic sequence.

    Args:
        sequences: the attacker's synthetic query sequences (item ids); sequence ``j`` is pseudo-
            user ``j`` with an edge to each of its items.
        num_items: catalogue size (public: the oracle's item id range).
        config: architecture (default :class:`SurrogateConfig`).
    """
    config = config or SurrogateConfig()
    if num_items < 1:
        raise ValueError(f"num_items must be >= 1, got {num_items}")
    if not sequences:
        raise ValueError("the surrogate needs at least one synthetic sequence for its graph")
    num_users = len(sequences)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG untouched
        torch.manual_seed(config.seed)
        model = build_graph_recommender(config.model_spec(num_users, num_items)).to(config.device)
    edge_index, _ = pseudo_user_graph(sequences, num_items).edge_index()
    model.attach_graph(edge_index.to(config.device))
    return model


def pseudo_user_graph(sequences: Sequence[Sequence[int]], num_items: int) -> RatingGraph:
    """The attacker's own bipartite graph: pseudo-user ``j`` -- every item of sequence ``j``."""
    lengths = [len(s) for s in sequences]
    items = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
    users = np.repeat(np.arange(len(sequences)), lengths)
    positions = np.concatenate([np.arange(n) for n in lengths])
    events = pd.DataFrame(
        {"user": users, "item": items, "rating": np.ones(len(items)), "timestamp": positions}
    )
    return RatingGraph.from_events(events, num_users=len(sequences), num_items=num_items)


@dataclass
class AnswerTable:
    """Collected oracle answers as tensors: input windows and the lists of their labelled positions.

    A row is a left-padded window of items; its last ``P`` positions may carry a returned list
    (the oracle's answer to the prefix ending there). With one row per answer, ``P = 1``; with one
    row per synthetic sequence, ``P = L`` and a single forward pass of a causal head trains every
    prefix at once, as SASRec trains (Kang & McAuley 2018).

    Attributes:
        tokens: left-padded input tokens, ``[N, L]``.
        topk: returned lists of the last ``P`` positions, best first, -1 padded (an all -1 list =
            no label at that position), ``[N, P, k]``.
        exclude: items never used as negatives (the row's query items), -1 padded, ``[N, m]``.
    """

    tokens: Tensor
    topk: Tensor
    exclude: Tensor

    def __post_init__(self) -> None:
        n, length = self.tokens.shape
        if self.topk.dim() != 3 or self.topk.shape[0] != n or self.topk.shape[1] > length:
            raise ValueError(f"topk must be [N={n}, P<={length}, k], got {tuple(self.topk.shape)}")
        if self.exclude.dim() != 2 or self.exclude.shape[0] != n:
            raise ValueError(f"exclude must be [N={n}, m], got {tuple(self.exclude.shape)}")

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def num_labels(self) -> int:
        """Labelled positions (= oracle answers packed)."""
        return int((self.topk[..., 0] >= 0).sum())


def answer_table(
    answers: Sequence[Answer],
    max_len: int,
    sequences: Sequence[Sequence[int]] | None = None,
) -> AnswerTable:
    """Pack (prefix, returned list) pairs into an :class:`AnswerTable`.

    Args:
        answers: the oracle's answers.
        max_len: window length ``L``.
        sequences: when given, one row per sequence window with every prefix's list at its
            position (every answer must be the answer to a prefix of one of them); when None, one
            row per answer. A sequence longer than ``L`` is cut into windows ending every ``L``
            items and at its end (that last one overlapping the previous, so it is full); a
            position reads only its window, as a truncated query would, and each prefix is
            labelled once. In a sequence row the
            negatives avoid every item of the window's sequence so far (a few later items
            included), not only the prefix's.
    """
    if not answers:
        raise ValueError("no oracle answers to train on")
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    prefixes = [np.asarray(p, dtype=np.int64) for p, _ in answers]
    lists = [np.asarray(t, dtype=np.int64) for _, t in answers]
    if any(len(p) == 0 for p in prefixes) or any(len(t) == 0 for t in lists):
        raise ValueError("every answer needs a non-empty prefix and a non-empty list")
    if sequences is None:
        return AnswerTable(
            tokens=pad_sequences(prefixes, max_len),  # [N, L]
            topk=_pad_right(lists, -1).unsqueeze(1),  # [N, 1, k]
            exclude=_pad_right(prefixes, -1),  # [N, m]
        )
    lookup = {tuple(p.tolist()): t for p, t in zip(prefixes, lists, strict=True)}
    width = max(len(t) for t in lists)
    windows: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    seen: list[np.ndarray] = []
    used: set[tuple[int, ...]] = set()
    for sequence in sequences:
        items = np.asarray(sequence, dtype=np.int64)
        for end in _window_ends(len(items), max_len):
            window = items[max(0, end - max_len) : end]
            label = np.full((max_len, width), -1, dtype=np.int64)  # [L, k]
            offset = max_len - len(window)  # left padding
            for j in range(len(window)):
                prefix = tuple(items[: end - len(window) + j + 1].tolist())
                listed = lookup.get(prefix)
                if listed is not None and prefix not in used:
                    label[offset + j, : len(listed)] = listed
                    used.add(prefix)
            windows.append(window)
            labels.append(label)
            seen.append(items[:end])
    if len(used) != len(lookup):
        raise ValueError(
            f"{len(lookup) - len(used)} answered prefixes are not prefixes of the given sequences"
        )
    return AnswerTable(
        tokens=pad_sequences(windows, max_len),  # [N, L]
        topk=torch.from_numpy(np.stack(labels)),  # [N, L, k]
        exclude=_pad_right(seen, -1),  # [N, m]
    )


def _window_ends(length: int, max_len: int) -> list[int]:
    """Ends of the windows of at most ``max_len`` items that cover ``length`` items."""
    return list(range(max_len, length, max_len)) + [length]


def fit_surrogate(
    model: GraphSequentialRecommender,
    answers: Sequence[Answer] | AnswerTable,
    config: SurrogateConfig | None = None,
    *,
    sequences: Sequence[Sequence[int]] | None = None,
) -> list[dict[str, float]]:
    """Train the surrogate on the oracle's answers with the margin ranking loss (AdamW).

    Every answered prefix is a training example: the surrogate scores all items after the prefix
    and :func:`ranking_margin_loss` pushes those scores into the returned order (negatives drawn
    outside the list and outside the query). With ``sequences`` (the synthetic sequences the
    prefixes come from) a whole sequence is one row and every prefix is trained in the same
    forward pass, about ``L`` times cheaper than one row per answer (:func:`answer_table`). With
    ``ce_weight > 0`` a cross-entropy on each list's top-1 is added.

    Returns:
        One ``{"epoch", "loss", "seconds"}`` record per epoch.
    """
    config = config or SurrogateConfig()
    table = (
        answers
        if isinstance(answers, AnswerTable)
        else answer_table(answers, config.max_len, sequences)
    )
    if int(table.topk.max()) >= model.num_items:
        raise ValueError(f"answers hold item ids >= the surrogate's num_items={model.num_items}")
    device = torch.device(config.device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    with torch.random.fork_rng(devices=[]):  # dropout seeded, the caller's RNG untouched
        torch.manual_seed(config.seed)
        model.train()
        bar = progress_bar(range(1, config.epochs + 1), desc="surrogate epochs", unit="epoch")
        for epoch in bar:
            history.append(_epoch(model, optimizer, table, config, generator, epoch, device))
            bar.set_postfix(loss=f"{history[-1]['loss']:.4f}")
    model.eval()
    return history


def _epoch(
    model: GraphSequentialRecommender,
    optimizer: torch.optim.Optimizer,
    table: AnswerTable,
    config: SurrogateConfig,
    generator: torch.Generator,
    epoch: int,
    device: torch.device,
) -> dict[str, float]:
    """One pass over the answers in a seeded random order; the mean loss and seconds."""
    start = time.perf_counter()
    order = torch.randperm(len(table), generator=generator)  # [N]
    total, steps = 0.0, 0
    for lo in range(0, len(table), config.batch_size):
        rows = order[lo : lo + config.batch_size]
        scores, topk, exclude = _labelled_scores(
            model,
            table.tokens[rows].to(device),
            table.topk[rows].to(device),
            table.exclude[rows].to(device),
        )
        loss = ranking_margin_loss(
            scores, topk, config.margin, config.neg_margin, exclude=exclude, generator=generator
        )
        if config.ce_weight > 0:
            loss = loss + config.ce_weight * F.cross_entropy(scores, topk[:, 0])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        steps += 1
    record = {
        "epoch": float(epoch),
        "loss": total / max(steps, 1),
        "seconds": time.perf_counter() - start,
    }
    log.debug("surrogate epoch %d: loss %.4f (%.1fs)", epoch, record["loss"], record["seconds"])
    if not math.isfinite(record["loss"]):
        raise FloatingPointError(f"surrogate loss became {record['loss']} at epoch {epoch}")
    return record


def _labelled_scores(
    model: GraphSequentialRecommender, tokens: Tensor, topk: Tensor, exclude: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The surrogate's scores at every labelled position, with those positions' lists.

    Shapes:
        input: tokens ``[b, L]``, topk ``[b, P, k]``, exclude ``[b, m]``.
        output: scores ``[R, I]``, topk ``[R, k]``, exclude ``[R, m]`` (R labelled positions).
    """
    if topk.shape[1] == 1:  # one answer per row: only the last position is needed
        batch = SequenceBatch(users=torch.full_like(tokens[:, 0], -1), items=tokens)
        return model.full_sort_predict(batch), topk[:, 0], exclude  # [b, I]
    _, item_emb = model.encode()  # [I, d]
    hidden = model.head(tokens, with_pad_row(item_emb))[:, -topk.shape[1] :]  # [b, P, d]
    labelled = topk[..., 0] >= 0  # [b, P]
    scores = hidden[labelled] @ item_emb.T  # [R, I]
    rows_exclude = exclude.unsqueeze(1).expand(-1, topk.shape[1], -1)[labelled]  # [R, m]
    return scores, topk[labelled], rows_exclude


def _pad_right(rows: list[np.ndarray], fill: int) -> Tensor:
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), fill, dtype=np.int64)
    for index, row in enumerate(rows):
        out[index, : len(row)] = row
    return torch.from_numpy(out)
