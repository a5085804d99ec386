"""The black box: a trained recommender that answers only top-k item ids, counted and logged.

Model extraction (Yue et al., "Black-Box Attacks on Sequential Recommenders via Data-Free Model
Extraction", RecSys 2021) assumes an attacker who can send a sequence of item ids to a
recommendation service and read back a ranked list, nothing more: no scores, no weights, no
training data. :class:`Oracle` is that service. It keeps the model in a name-mangled private
attribute and its public surface is ``recommend`` / ``recommend_batch`` returning plain ``int``
lists, so code that receives an ``Oracle`` (the attack) works under the threat model by
construction. Like a real service it counts every answered query per account and logs it, which
is what the SEAT monitor (:mod:`graphrec.security.seat`) reads; an optional ``gate`` lets such a
monitor refuse an account before the query is answered.

Query semantics: a query is an anonymous session (user id -1, so no user embedding is fused), the
model reads its most recent ``max_len`` items, and every item of the query is excluded from the
answer (a service does not recommend what the session already holds). A query longer than
``max_len`` is allowed: only its tail is read, but all of its items are excluded, so a real user's
full history as a query gives exactly the "history masked" ranking of the evaluation protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from graphrec.data.split import Split, pad_sequences
from graphrec.errors import GraphrecError
from graphrec.models.batch import SequenceBatch

log = logging.getLogger(__name__)

ANONYMOUS_USER = -1
"""User id the oracle scores every query with: an ad-hoc session, no known user."""

DEFAULT_ACCOUNT = "anonymous"

Query = tuple[int, ...]
Gate = Callable[[str, Query], bool]
"""``gate(account, query) -> bool``: True lets the query through, False refuses it."""


class QueryRefused(GraphrecError):
    """The oracle's gate refused an account's query (e.g. SEAT flagged the account).

    Attributes:
        account: the refused account.
        query: the refused query.
        answered: answers of the queries of the same batch that came before it (they were
            answered, counted and logged).
    """

    def __init__(self, account: str, query: Query, answered: list[list[int]] | None = None) -> None:
        super().__init__(f"account {account!r} refused by the oracle's gate")
        self.account = account
        self.query = query
        self.answered = answered or []


class Oracle:
    """A recommender behind a top-k-ids-only interface that counts and logs every query.

    Args:
        model: a recommender with ``full_sort_predict(SequenceBatch) -> [B, num_items]`` (kept
            private; put in eval mode).
        max_len: input length the model reads (the most recent ``max_len`` items of a query).
        gate: optional ``gate(account, query) -> bool`` asked before each query is answered;
            False raises :class:`QueryRefused` (default None: everyone is served).
        max_k: longest list the service returns (default 100, the k of Yue et al.).
        batch_size: queries scored per forward pass in :meth:`recommend_batch` (default 1024).
        device: where the model runs (default: where its parameters are).

    Attributes:
        num_items: catalogue size (public: item ids are ``0..num_items-1``).
        max_len: the input length the service reads.
        max_k: the longest list it returns.
        gate: the gate (may be replaced later, e.g. once a monitor is fitted).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        max_len: int,
        gate: Gate | None = None,
        max_k: int = 100,
        batch_size: int = 1024,
        device: torch.device | str | None = None,
    ) -> None:
        num_items = int(getattr(model, "num_items", 0))
        if num_items < 1:
            raise ValueError("model must expose num_items >= 1")
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        if not 1 <= max_k <= num_items:
            raise ValueError(f"max_k must be in 1..{num_items}, got {max_k}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.__model = model
        if device is None:
            device = next(iter(model.parameters()), torch.zeros(0)).device
        self.__device = torch.device(device)
        self.num_items = num_items
        self.max_len = max_len
        self.max_k = max_k
        self.gate = gate
        self._batch_size = batch_size
        self._calls: dict[str, int] = {}
        self._refused: dict[str, int] = {}
        self._log: dict[str, list[Query]] = {}

    # ------------------------------------------------------------------ the service
    def recommend(
        self, query: Sequence[int], k: int = 100, *, account: str = DEFAULT_ACCOUNT
    ) -> list[int]:
        """The top-``k`` item ids after ``query`` (its own items excluded), best first.

        One call. The list is shorter than ``k`` only when fewer than ``k`` items are not in the
        query.

        Raises:
            ValueError: an empty query, an item id outside ``0..num_items-1``, ``k`` outside
                ``1..max_k``.
            QueryRefused: the gate refused the account.
        """
        return self.recommend_batch([query], k, account=account)[0]

    def recommend_batch(
        self, queries: Sequence[Sequence[int]], k: int = 100, *, account: str = DEFAULT_ACCOUNT
    ) -> list[list[int]]:
        """:meth:`recommend` for many queries: one forward pass per chunk, one call per query.

        Every query is validated before any is answered. The gate is asked query by query, in
        order; at the first refusal the queries before it are answered, counted and logged, and
        :class:`QueryRefused` carries their answers.
        """
        self._check_account(account)
        checked = self._check_queries(queries, k)
        allowed = checked
        refused_at: int | None = None
        if self.gate is not None:
            for position, query in enumerate(checked):
                if not self.gate(account, query):
                    refused_at = position
                    allowed = checked[:position]
                    break
        self._open([account])
        answers = self._serve([account] * len(allowed), allowed, k)
        if refused_at is not None:
            self._refused[account] = self._refused.get(account, 0) + 1
            log.info("oracle refused account %r after %d queries", account, self.calls_of(account))
            raise QueryRefused(account, checked[refused_at], answers)
        return answers

    def recommend_many(
        self, queries: Sequence[Sequence[int]], accounts: Sequence[str], k: int = 100
    ) -> list[list[int] | None]:
        """Queries from several accounts at once (one per query), in the order they were sent.

        The multi-account client of an attacker that spreads its budget: the gate is asked for
        every query in order and a refused query gets ``None`` (its account is told no more than
        a refusal); the others are answered, counted and logged under their own account.
        """
        if len(accounts) != len(queries):
            raise ValueError(f"{len(accounts)} accounts for {len(queries)} queries")
        for account in set(accounts):
            self._check_account(account)
        checked = self._check_queries(queries, k)
        self._open(accounts)
        served = list(range(len(checked)))
        if self.gate is not None:
            served = [i for i, q in enumerate(checked) if self.gate(accounts[i], q)]
            for i in sorted(set(range(len(checked))) - set(served)):
                self._refused[accounts[i]] = self._refused.get(accounts[i], 0) + 1
        answers = self._serve([accounts[i] for i in served], [checked[i] for i in served], k)
        out: list[list[int] | None] = [None] * len(checked)
        for i, answer in zip(served, answers, strict=True):
            out[i] = answer
        return out

    # ------------------------------------------------------------------ accounting
    @property
    def calls(self) -> int:
        """Answered queries, all accounts."""
        return sum(self._calls.values())

    @property
    def calls_by_account(self) -> dict[str, int]:
        """Answered queries per account (a copy)."""
        return dict(self._calls)

    @property
    def refused_by_account(self) -> dict[str, int]:
        """Refused queries per account (a copy)."""
        return dict(self._refused)

    @property
    def query_log(self) -> dict[str, list[Query]]:
        """Every answered query per account, in order (copies of the lists)."""
        return {account: list(queries) for account, queries in self._log.items()}

    def calls_of(self, account: str) -> int:
        """Answered queries of one account (0 when it never asked)."""
        return self._calls.get(account, 0)

    def reset_counts(self) -> None:
        """Forget all counts and logs (a fresh service; the model is unchanged)."""
        self._calls.clear()
        self._refused.clear()
        self._log.clear()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_items={self.num_items}, max_len={self.max_len}, "
            f"max_k={self.max_k}, calls={self.calls}, accounts={len(self._calls)})"
        )

    # ------------------------------------------------------------------ internals
    def _check_k(self, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= self.max_k:
            raise ValueError(f"k must be an integer in 1..{self.max_k}, got {k!r}")

    @staticmethod
    def _check_account(account: str) -> None:
        if not isinstance(account, str) or not account:
            raise ValueError(f"account must be a non-empty string, got {account!r}")

    def _check_queries(self, queries: Sequence[Sequence[int]], k: int) -> list[Query]:
        self._check_k(k)
        return [self._check_query(q, position) for position, q in enumerate(queries)]

    def _check_query(self, query: Sequence[int], position: int) -> Query:
        array = np.asarray(query)
        if array.ndim != 1 or len(array) == 0:
            raise ValueError(f"query {position} must be a non-empty 1-D sequence of item ids")
        if array.dtype.kind not in "iu":
            raise ValueError(f"query {position} holds non-integer item ids (dtype {array.dtype})")
        bad = array[(array < 0) | (array >= self.num_items)]
        if len(bad):
            raise ValueError(
                f"query {position} holds unknown item id {int(bad[0])}; "
                f"ids are 0..{self.num_items - 1}"
            )
        return tuple(int(i) for i in array)

    def _open(self, accounts: Sequence[str]) -> None:
        """Accounts that asked exist in the counts and logs, even with nothing answered."""
        for account in accounts:
            self._calls.setdefault(account, 0)
            self._log.setdefault(account, [])

    def _serve(self, accounts: list[str], queries: list[Query], k: int) -> list[list[int]]:
        """Answer admitted queries with the model :meth:`_models_for` picks; count and log them."""
        models = self._models_for(accounts, queries, k)
        answers: list[list[int]] = [[] for _ in queries]
        for model in {id(m): m for m in models}.values():
            rows = [i for i, m in enumerate(models) if m is model]
            lists = served_lists(
                model,
                [queries[i] for i in rows],
                k,
                max_len=self.max_len,
                batch_size=self._batch_size,
                device=self.__device,
            )
            for i, answer in zip(rows, lists, strict=True):
                answers[i] = answer
        for account, query in zip(accounts, queries, strict=True):
            self._calls[account] = self._calls.get(account, 0) + 1
            self._log.setdefault(account, []).append(query)
        return answers

    def _models_for(self, accounts: list[str], queries: list[Query], k: int) -> list[nn.Module]:
        """The model answering each admitted query (of ``k`` items, from ``accounts``).

        Here always the one model; a gated service routes some accounts elsewhere
        (:class:`graphrec.security.gate.GatedOracle`).
        """
        return [self.__model] * len(queries)


@torch.no_grad()
def served_lists(
    model: nn.Module,
    queries: Sequence[Query],
    k: int,
    *,
    max_len: int,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
) -> list[list[int]]:
    """The top-``k`` ids ``model`` serves for each anonymous query, its own items excluded.

    The model reads the most recent ``max_len`` items and runs in eval mode (restored after).
    A list is shorter than ``k`` only when fewer than ``k`` items are not in the query.
    """
    answers: list[list[int]] = []
    num_items = int(model.num_items)
    was_training = model.training
    model.eval()
    try:
        for lo in range(0, len(queries), batch_size):
            chunk = queries[lo : lo + batch_size]
            arrays = [np.asarray(q, dtype=np.int64) for q in chunk]
            batch = SequenceBatch(
                users=torch.full((len(chunk),), ANONYMOUS_USER, dtype=torch.long),
                items=pad_sequences(arrays, max_len),  # [b, L], the most recent items
            ).to(device)
            scores = model.full_sort_predict(batch).float()  # [b, I]
            rows = torch.from_numpy(np.repeat(np.arange(len(chunk)), [len(a) for a in arrays]))
            cols = torch.from_numpy(np.concatenate(arrays))
            seen = torch.zeros(len(chunk), num_items, dtype=torch.bool)  # [b, I]
            seen[rows, cols] = True
            scores = scores.masked_fill(seen.to(scores.device), float("-inf"))  # [b, I]
            best = scores.topk(k, dim=1)  # [b, k]
            ids = best.indices.cpu().numpy()
            listed = (best.values > float("-inf")).cpu().numpy()  # [b, k]
            answers.extend(row[keep].tolist() for row, keep in zip(ids, listed, strict=True))
    finally:
        model.train(was_training)
    return answers


def load_oracle(
    run_dir: str | Path,
    *,
    gate: Gate | None = None,
    max_k: int = 100,
    device: str | torch.device = "cpu",
) -> tuple[Oracle, Split]:
    """The best model of a training run behind an :class:`Oracle`, with the run's split.

    The split is what the *defender* evaluates on; hand only the oracle (and the catalogue size)
    to attack code.
    """
    from graphrec.train.trainer import load_trained  # the service side may see the model

    model, split, config = load_trained(Path(run_dir), device)
    return Oracle(model, max_len=config.data.max_len, gate=gate, max_k=max_k, device=device), split
