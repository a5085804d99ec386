"""Detector-gated defense: suspicious accounts are served misinformation, everyone else the model.

The recommender analogue of Adaptive Misinformation (Kariyappa & Qureshi, CVPR 2020), which gates
misleading answers to out-of-distribution queries of an image classifier. No published
recommender defense gates by a detector: GRO (Zhang et al., WSDM 2024) changes every list every
user gets, and at >= 95 % utility it cuts extraction little. Here the service keeps a running
suspicion per account, the stream detector's cumulative log-likelihood ratios
(:mod:`graphrec.security.stream`); while an account is above the soft threshold it is answered by
a defended model, otherwise by the undefended one, bit for bit. The attacker is never told: a
gated account gets lists of the same length, in the same format, from a model that looks
coherent.

* :class:`StreamGate` holds the per-account state and decides, query by query, which model
  answers. The transition rank of a query is taken under the model that served the account its
  prefix (the service remembers which model answered each query of an account; a prefix the
  account never asked is ranked under the model serving it now). So an attacker following
  misinformed lists keeps following "the list" and stays gated, while a benign user wrongly
  gated moves off those lists and falls back below the threshold.
* :class:`GatedOracle` is the service: an :class:`~graphrec.security.oracle.Oracle` that routes
  each admitted query to the model the gate picks. The attacker holds only the oracle; the gate
  (and its statistics) stay with the defender.
* :class:`PermutedRecommender` is the misinformation policy that the benchmark found to hurt
  extraction most (:mod:`graphrec.security.report` also gates to the GRO model): the target's
  scores with item ids permuted within popularity strata. Its lists are as coherent as the
  target's and have the same popularity profile, so they do not look random, but every item
  stands for another: a surrogate trained on them agrees with the target only by chance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from graphrec.models.batch import SequenceBatch
from graphrec.security.oracle import Oracle, Query
from graphrec.security.stream import COMPONENTS, Moves, QueryStreamDetector, transition_ranks


class PermutedRecommender(nn.Module):
    """A recommender whose item ids are permuted within popularity strata (misinformation).

    The score of item ``j`` is the wrapped model's score of item ``source[j]``, where ``source``
    maps each item to another of the same popularity stratum (items sorted by ``popularity``,
    cut into ``num_strata`` equal groups, shuffled within each group by ``seed``).

    Args:
        model: the recommender to disguise (``full_sort_predict``, ``num_items``).
        popularity: training interactions per item, ``[num_items]``.
        num_strata: popularity groups the permutation stays within (default 10).
        seed: the permutation's seed (default 0).
    """

    def __init__(
        self, model: nn.Module, popularity: np.ndarray, *, num_strata: int = 10, seed: int = 0
    ) -> None:
        super().__init__()
        num_items = int(model.num_items)
        if len(popularity) != num_items:
            raise ValueError(f"popularity has {len(popularity)} items, the model {num_items}")
        if num_strata < 1:
            raise ValueError(f"num_strata must be >= 1, got {num_strata}")
        self.model = model
        self.num_items = num_items
        self.num_strata = num_strata
        rng = np.random.default_rng(seed)
        order = np.argsort(-np.asarray(popularity), kind="stable")  # most popular first
        source = np.empty(num_items, dtype=np.int64)
        for stratum in np.array_split(order, num_strata):
            source[stratum] = rng.permutation(stratum)
        self.register_buffer("source", torch.from_numpy(source), persistent=False)

    def full_sort_predict(self, batch: SequenceBatch) -> Tensor:
        scores = self.model.full_sort_predict(batch)  # [B, I]
        return scores[:, self.source.to(scores.device)]  # [B, I], item j scored as source[j]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_items={self.num_items}, strata={self.num_strata})"


class StreamGate:
    """Per-account suspicion and the routing decision (True = the defended model answers).

    Args:
        detector: a fitted :class:`~graphrec.security.stream.QueryStreamDetector`.
        thresholds: the soft thresholds ``[C]`` on the cumulative ratios (default: the
            detector's calibrated ``thresholds_``); an account is gated while ANY component is
            above its threshold.

    Attributes:
        gated_queries: per account, the queries the defended model answered.
        queries: per account, the queries routed.
    """

    def __init__(self, detector: QueryStreamDetector, thresholds: Sequence[float] | None = None):
        if not hasattr(detector, "thresholds_"):
            raise ValueError("the gate needs a fitted QueryStreamDetector")
        self.detector = detector
        chosen = detector.thresholds_ if thresholds is None else thresholds
        self.thresholds = np.asarray(chosen, dtype=np.float64)
        if self.thresholds.shape != (len(COMPONENTS),):
            raise ValueError(f"thresholds must hold {len(COMPONENTS)} values, got {chosen}")
        self.gated_queries: dict[str, int] = {}
        self.queries: dict[str, int] = {}
        self._ratios: dict[str, np.ndarray] = {}
        self._served_by_defended: dict[str, dict[Query, bool]] = {}

    def is_gated(self, account: str) -> bool:
        """Whether the account's next query would be answered by the defended model."""
        ratios = self._ratios.get(account)  # [C, K]
        return ratios is not None and bool((ratios.min(1) > self.thresholds).any())

    def route(
        self, account: str, query: Query, rank_undefended: int, rank_defended: int, k: int
    ) -> bool:
        """Add one query's transition (ranked under the model that served its prefix); route it."""
        served = self._served_by_defended.setdefault(account, {})
        by_defended = served.get(query[:-1], self.is_gated(account))
        rank = rank_defended if by_defended else rank_undefended
        move = Moves.of([query], np.array([rank]))
        move.list_lengths = np.array([k])
        llr = self.detector.transition_llrs(move)[0]  # [C, K]
        self._ratios[account] = self._ratios.get(account, 0.0) + llr
        gated = self.is_gated(account)
        served[query] = gated
        self.queries[account] = self.queries.get(account, 0) + 1
        self.gated_queries[account] = self.gated_queries.get(account, 0) + int(gated)
        return gated

    def gated_share(self, accounts: Sequence[str] | None = None) -> float:
        """Share of the routed queries of ``accounts`` (default all) the defended model answered."""
        names = list(self.queries) if accounts is None else list(accounts)
        total = sum(self.queries.get(a, 0) for a in names)
        return sum(self.gated_queries.get(a, 0) for a in names) / total if total else 0.0

    def reset(self) -> None:
        """Forget every account."""
        self.gated_queries.clear()
        self.queries.clear()
        self._ratios.clear()
        self._served_by_defended.clear()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(thresholds={np.round(self.thresholds, 3).tolist()}, "
            f"accounts={len(self.queries)})"
        )


class GatedOracle(Oracle):
    """The service with a gate: each admitted query goes to the model :class:`StreamGate` picks.

    Args:
        model: the undefended recommender (what benign users get).
        defended: the misinformation model (a GRO-trained target, a :class:`PermutedRecommender`).
        gate: the defender's :class:`StreamGate` (kept private; read it through your reference).
        max_len, max_k, batch_size, device: as :class:`~graphrec.security.oracle.Oracle`.
    """

    def __init__(
        self,
        model: nn.Module,
        defended: nn.Module,
        gate: StreamGate,
        *,
        max_len: int,
        max_k: int = 100,
        batch_size: int = 1024,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(model, max_len=max_len, max_k=max_k, batch_size=batch_size, device=device)
        if int(defended.num_items) != self.num_items:
            raise ValueError(
                f"defended model serves {defended.num_items} items, the model {self.num_items}"
            )
        self.__models = (model, defended)
        self.__gate = gate
        self.__device = (
            next(iter(model.parameters()), torch.zeros(0)).device if device is None else device
        )

    def _models_for(self, accounts: list[str], queries: list[Query], k: int) -> list[nn.Module]:
        undefended, defended = self.__models
        ranks = [
            transition_ranks(
                m, queries, max_len=self.max_len, batch_size=self._batch_size, device=self.__device
            )
            for m in self.__models
        ]
        routed = [
            self.__gate.route(account, queries[i], int(ranks[0][i]), int(ranks[1][i]), k)
            for i, account in enumerate(accounts)
        ]
        return [defended if gated else undefended for gated in routed]
