"""SEAT in service: the per-account online gate, and the accounts an attack needs to evade it.

* :class:`AccountMonitor` is an oracle ``gate(account, query) -> bool``: it embeds each query,
  adds to the account's count the pairs it forms with the account's earlier queries (squared
  distance below ``pair_threshold_``), and refuses, from the query that takes the count over
  ``threshold_`` on, every query of that account.
* :func:`accounts_needed` SIMULATES the cheapest evasion the detector allows for one ordered set
  of attack queries: they are spread over ``N`` accounts and the smallest ``N`` at which no
  account is flagged is found by trying ``N = 1, 2, ...`` in turn (no formula). Two ways to spread
  (``strategy``): ``"contiguous"`` (account ``a`` gets the ``a``-th consecutive chunk) and
  ``"round_robin"`` (query ``i`` goes to account ``i mod N``). The similar pairs of the whole
  stream are found once; each ``N`` then only counts the pairs whose two queries share an
  account, which is exactly what ``decision_function`` would count on the spread streams.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from graphrec.errors import GraphrecError
from graphrec.security.seat.detector import SEATDetector
from graphrec.security.seat.pairs import similar_pairs, squared_distance_matrix
from graphrec.security.traffic import Query

log = logging.getLogger(__name__)

STRATEGIES = ("round_robin", "contiguous")


class AccountMonitor:
    """SEAT's per-account counter as an oracle gate (True = serve the query).

    Args:
        detector: a fitted :class:`SEATDetector`.

    Attributes:
        flagged: accounts refused from now on.
    """

    def __init__(self, detector: SEATDetector) -> None:
        if not hasattr(detector, "threshold_"):
            raise GraphrecError("the monitor needs a fitted SEATDetector")
        self.detector = detector
        self.flagged: set[str] = set()
        self._counts: dict[str, int] = {}
        self._seen: dict[str, torch.Tensor] = {}
        self._sizes: dict[str, int] = {}

    def __call__(self, account: str, query: Query) -> bool:
        return self.allow(account, query)

    def allow(self, account: str, query: Query) -> bool:
        """Count the query's similar pairs with the account's earlier ones; False once over."""
        if account in self.flagged:
            return False
        z = self.detector.embed([query])  # [1, out]
        size = self._sizes.get(account, 0)
        new_pairs = 0
        if size:
            previous = self._seen[account][:size]  # [m, out]
            distances = squared_distance_matrix(z, previous)  # [1, m]
            new_pairs = int((distances < self.detector.pair_threshold_).sum())
        count = self._counts.get(account, 0) + new_pairs
        if count > self.detector.threshold_:
            self.flagged.add(account)
            self._counts[account] = count
            log.info("SEAT flagged account %r after %d queries (%d pairs)", account, size, count)
            return False
        self._remember(account, z, size)
        self._counts[account] = count
        return True

    def count_of(self, account: str) -> int:
        """Similar pairs counted for ``account`` so far."""
        return self._counts.get(account, 0)

    def queries_of(self, account: str) -> int:
        """Queries of ``account`` the monitor let through."""
        return self._sizes.get(account, 0)

    def reset(self) -> None:
        """Forget every account (counts, stored queries, flags)."""
        self.flagged.clear()
        self._counts.clear()
        self._seen.clear()
        self._sizes.clear()

    def _remember(self, account: str, z: torch.Tensor, size: int) -> None:
        buffer = self._seen.get(account)
        if buffer is None or size == buffer.shape[0]:  # grow by doubling: O(1) amortised
            grown = torch.zeros(max(16, 2 * size), z.shape[1], dtype=z.dtype)
            if buffer is not None:
                grown[:size] = buffer[:size]
            buffer = self._seen[account] = grown
        buffer[size] = z[0]
        self._sizes[account] = size + 1

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(accounts={len(self._sizes)}, flagged={len(self.flagged)}, "
            f"limit={self.detector.threshold_})"
        )


# ---------------------------------------------------------------------------- evasion cost
def account_assignment(num_queries: int, num_accounts: int, strategy: str) -> np.ndarray:
    """The account (``0..N-1``) each of ``num_queries`` ordered queries is sent from, ``[n]``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    if num_accounts < 1:
        raise ValueError(f"num_accounts must be >= 1, got {num_accounts}")
    positions = np.arange(num_queries, dtype=np.int64)
    if strategy == "round_robin":
        return positions % num_accounts
    return positions * num_accounts // max(num_queries, 1)  # near-equal consecutive chunks


def spread_queries(
    queries: Sequence[Query], num_accounts: int, strategy: str = "round_robin"
) -> list[list[Query]]:
    """The query streams of ``num_accounts`` accounts sharing ``queries`` (order kept)."""
    owner = account_assignment(len(queries), num_accounts, strategy)
    streams: list[list[Query]] = [[] for _ in range(num_accounts)]
    for query, account in zip(queries, owner, strict=True):
        streams[account].append(query)
    return streams


def accounts_needed(
    attack_queries: Sequence[Query],
    detector: SEATDetector,
    *,
    strategy: str = "round_robin",
    max_accounts: int | None = None,
) -> int:
    """The fewest accounts over which ``attack_queries`` can be spread with none flagged.

    Tries ``N = 1, 2, ...`` (exhaustively, so the answer is the smallest such ``N`` even where the
    flag is not monotone in ``N``): the queries are spread by ``strategy`` (see the module doc) and
    each account's similar-pair count is compared with the detector's limit, as
    :meth:`SEATDetector.predict` would on the spread streams.

    Args:
        attack_queries: the queries of a successful attack, in the order they were sent.
        detector: a fitted :class:`SEATDetector`.
        strategy: ``"round_robin"`` (default) or ``"contiguous"``.
        max_accounts: give up above this many (default: one per query, where no pair exists).

    Raises:
        GraphrecError: no ``N <= max_accounts`` keeps every account unflagged.
    """
    n = len(attack_queries)
    if n == 0:
        return 0
    upper = n if max_accounts is None else min(max_accounts, n)
    first, second = similar_pairs(detector.embed(attack_queries), detector.pair_threshold_)
    limit = detector.threshold_
    log.debug("accounts_needed: %d queries, %d similar pairs, limit %d", n, len(first), limit)
    for num_accounts in range(1, upper + 1):
        owner = account_assignment(n, num_accounts, strategy)
        same = owner[first] == owner[second]
        counts = np.bincount(owner[first][same], minlength=num_accounts)
        if counts.max(initial=0) <= limit:
            return num_accounts
    raise GraphrecError(f"no spread over <= {upper} accounts keeps every account unflagged")


def detection_report(
    detector: SEATDetector,
    attack_streams: Sequence[Sequence[Query]],
    benign_streams: Sequence[Sequence[Query]],
) -> dict[str, float]:
    """Detection rate on attack accounts and false-positive rate on benign (evaluation) accounts."""
    attack = detector.predict(attack_streams) if len(attack_streams) else np.zeros(0)
    benign = detector.predict(benign_streams) if len(benign_streams) else np.zeros(0)
    return {
        "detection_rate": float(attack.mean()) if len(attack) else float("nan"),
        "false_positive_rate": float(benign.mean()) if len(benign) else float("nan"),
        "attack_accounts": float(len(attack)),
        "benign_accounts": float(len(benign)),
    }
