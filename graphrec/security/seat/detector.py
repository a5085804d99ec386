"""SEAT as a detector over per-account query streams (fit / decision_function / predict).

Zhang, Chen, Wagner, "SEAT: Similarity Encoder by Adversarial Training for Detecting Model
Extraction Attack Queries", AISec 2021. Extraction attacks send many near-duplicate queries (for
a sequential recommender: the prefixes of autoregressively grown sequences, Yue et al. 2021). SEAT
learns an encoder under which a query and an adversarially perturbed copy stay close
(:mod:`.encoder`), counts per account the pairs of queries closer than a calibrated threshold and
flags an account whose count exceeds a calibrated limit (:mod:`.pairs`).

Calibration uses benign traffic held out from the encoder's training data. The count grows with
the number of queries an account sends, so detection figures mean something only at matched
volume (:mod:`graphrec.security.volume`): benign accounts sending as many queries as the attack's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from graphrec.data.split import pad_sequences
from graphrec.errors import GraphrecError
from graphrec.progress import progress_bar
from graphrec.security.seat.encoder import EncoderTraining, SimilarityEncoder, train_encoder
from graphrec.security.seat.pairs import (
    account_limit,
    benign_pair_distances,
    count_similar_pairs,
    pair_threshold,
)
from graphrec.security.traffic import Query, Streams, account_names, as_stream_list

log = logging.getLogger(__name__)


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
                for a in progress_bar(range(len(streams)), desc="SEAT calibration", unit="account")
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
                for stream in progress_bar(
                    as_stream_list(account_streams), desc="SEAT scoring", unit="account"
                )
            ],
            dtype=np.float64,
        )

    def account_statistics(self, account_streams: Streams) -> np.ndarray:
        """:meth:`decision_function` as one statistic column, ``[N, 1]`` (matched-volume API)."""
        return self.decision_function(account_streams)[:, None]

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
