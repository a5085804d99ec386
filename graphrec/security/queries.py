"""Data-free query generation for model extraction, with the budget counted in oracle calls.

Yue et al. ("Black-Box Attacks on Sequential Recommenders via Data-Free Model Extraction", RecSys
2021) have no real sequences, so they make their own:

- *random*: every item uniform over the catalogue (:func:`random_queries`), then every prefix is
  sent to the black box and its top-k kept as a label (:func:`label_prefixes`);
- *autoregressive*: start from a uniform random item, query the black box with the prefix, append
  an item drawn from the list it returned, and repeat (:func:`autoregressive_queries`); every
  prefix's list is kept as a label. The sequences then look like what the black box itself
  believes comes next, which is why they extract more per query than random ones.

Yue et al. count their budget in sequences, but each sequence of length ``L`` costs ``L`` oracle
calls; a service bills (and a monitor sees) calls, so here the budget is a number of oracle calls
and generation stops exactly when it is spent: the first ``budget // L`` sequences get all ``L``
prefixes answered and one more gets the remainder.

All sequences of a run grow in lock-step, one :meth:`Oracle.recommend_many` per step, so the
oracle scores hundreds of prefixes per forward pass. An attacker may spread its budget over many
accounts (to stay under a per-account monitor): each sequence is then sent from one account
(:func:`sequence_accounts`), and a sequence whose query is refused stops growing; the attacker
keeps every answer it got.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from graphrec.progress import progress_bar
from graphrec.security.oracle import Oracle

log = logging.getLogger(__name__)

ATTACK_ACCOUNT = "attacker"
SAMPLING = ("uniform", "rank")

Answer = tuple[tuple[int, ...], tuple[int, ...]]
"""(query prefix, the top-k item ids the oracle returned for it)."""


Accounts = str | Sequence[str]
"""One account for every sequence, or the account of each sequence."""


def budget_plan(
    budget: int, length: int, num_accounts: int = 1, account: str = ATTACK_ACCOUNT
) -> tuple[list[str], np.ndarray]:
    """How a budget spread over accounts is spent: each sequence's account and prefix allowance.

    The budget is split as evenly as possible (the first ``budget % N`` accounts get one call
    more); each account spends its share on its own sequences of ``length`` prefixes, the last
    one shorter when the share ends inside it. With one account the account is ``account``
    itself; with more, ``"{account}_{a}"`` for ``a = 0..N-1``.

    Returns:
        ``(owners, allowance)``: the account of each sequence and its number of paid prefixes.
    """
    _check_sizes(budget=budget, length=length, num_accounts=num_accounts)
    owners: list[str] = []
    allowance: list[int] = []
    for a in range(min(num_accounts, budget)):
        share = budget // num_accounts + (1 if a < budget % num_accounts else 0)
        full, rest = divmod(share, length)
        paid = [length] * full + ([rest] if rest else [])
        allowance.extend(paid)
        owners.extend([account if num_accounts == 1 else f"{account}_{a}"] * len(paid))
    return owners, np.asarray(allowance, dtype=np.int64)


def random_queries(
    num_items: int, num_sequences: int, length: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """``num_sequences`` sequences of ``length`` distinct items, each uniform over the catalogue.

    Items within a sequence are distinct (drawn without replacement): the oracle excludes a
    query's own items from its answer, so a repeat would carry no information.
    """
    _check_sizes(num_items=num_items, num_sequences=num_sequences, length=length)
    if length > num_items:
        raise ValueError(f"length {length} exceeds the catalogue ({num_items} items)")
    keys = rng.random((num_sequences, num_items))  # [S, I]
    picks = np.argpartition(keys, length - 1, axis=1)[:, :length] if length < num_items else None
    if picks is None:
        picks = np.argsort(keys, axis=1)
    # argpartition leaves the chosen ids in arbitrary order: shuffle them by their keys.
    order = np.argsort(np.take_along_axis(keys, picks, axis=1), axis=1)
    chosen = np.take_along_axis(picks, order, axis=1).astype(np.int64)  # [S, length]
    return list(chosen)


def prefix_allowance(num_sequences: int, length: int, budget: int | None) -> np.ndarray:
    """How many prefixes of each sequence fit in the budget (sequence-major), ``[S]``."""
    total = num_sequences * length if budget is None else min(budget, num_sequences * length)
    allowance = np.zeros(num_sequences, dtype=np.int64)
    full, rest = divmod(total, length)
    allowance[:full] = length
    if rest:
        allowance[full] = rest
    return allowance


def label_prefixes(
    oracle: Oracle,
    sequences: Sequence[Sequence[int]],
    k: int,
    *,
    budget: int | None = None,
    account: Accounts = ATTACK_ACCOUNT,
    allowance: np.ndarray | None = None,
) -> list[Answer]:
    """Ask the oracle for the top-``k`` of every prefix of every sequence, within ``budget`` calls.

    Prefixes are paid for sequence by sequence (the first sequences get all their prefixes), and
    asked step by step: all length-1 prefixes in one batch, then all length-2 prefixes, ... A
    refused prefix ends its sequence (see the module doc). ``allowance`` (prefixes paid per
    sequence, e.g. from :func:`budget_plan`) replaces ``budget`` when given.

    Returns:
        ``(prefix, top-k)`` pairs, one per answered oracle call, ordered by prefix length then
        sequence.
    """
    _check_sizes(k=k)
    arrays = [np.asarray(s, dtype=np.int64) for s in sequences]
    if not arrays:
        return []
    lengths = np.array([len(s) for s in arrays])
    if budget is not None:
        _check_sizes(budget=budget)
    if allowance is None:
        allowance = _ragged_allowance(lengths, budget)
    else:
        allowance = np.minimum(np.asarray(allowance, dtype=np.int64), lengths)
    owners = _owners(account, len(arrays))
    answers: list[Answer] = []
    with progress_bar(total=int(allowance.sum()), desc="oracle calls", unit="call") as bar:
        for step in range(int(allowance.max(initial=0))):
            active = np.flatnonzero(allowance > step)
            prefixes = [tuple(int(i) for i in arrays[j][: step + 1]) for j in active]
            lists = oracle.recommend_many(prefixes, [owners[j] for j in active], k)
            bar.update(len(active))
            for j, prefix, returned in zip(active, prefixes, lists, strict=True):
                if returned is None:
                    allowance[j] = step  # refused: the sequence ends here
                else:
                    answers.append((prefix, tuple(returned)))
    return answers


def autoregressive_queries(
    oracle: Oracle,
    num_items: int,
    num_sequences: int,
    length: int,
    k: int,
    rng: np.random.Generator,
    account: Accounts = ATTACK_ACCOUNT,
    *,
    budget: int | None = None,
    sampling: str = "uniform",
    allowance: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[Answer]]:
    """Grow sequences from the oracle's own answers (Yue et al.'s autoregressive generation).

    Each sequence starts from a uniform random item; at every step the current prefix is sent to
    the oracle and one item of the returned list is appended: uniformly over the list
    (``sampling="uniform"``, the paper's choice: it explores the whole top-k, not only the head) or
    with probability proportional to the DCG weight ``1 / log2(rank + 1)`` (``"rank"``: closer to
    what a user following the recommendations would do). The list of every prefix is kept.

    The last prefix of a full-length sequence is queried too (its list is a label even though
    nothing is appended after it), so a full sequence of ``length`` items costs ``length`` calls.

    Args:
        oracle: the black box.
        num_items: catalogue size.
        num_sequences: sequences to grow (at most; the budget may stop earlier).
        length: items per sequence.
        k: list length asked of the oracle (Yue et al.: 100).
        rng: the attacker's random generator (same seed, same oracle: same sequences).
        account: the account the queries are sent from, or one account per sequence.
        budget: oracle calls allowed (default ``num_sequences * length``); exactly
            ``min(budget, num_sequences * length)`` calls are made.
        sampling: ``uniform`` or ``rank`` (see above).
        allowance: prefixes paid per sequence (e.g. from :func:`budget_plan`; ``[S]``, at most
            ``length`` each); replaces ``budget`` when given.

    Returns:
        ``(sequences, answers)``: the grown sequences (the last may be shorter when the budget
        ends inside it; sequences the budget never reached, or whose first query was refused,
        are not returned) and one ``(prefix, top-k)`` pair per answered oracle call.
    """
    _check_sizes(num_items=num_items, num_sequences=num_sequences, length=length, k=k)
    if sampling not in SAMPLING:
        raise ValueError(f"unknown sampling {sampling!r}; expected one of {SAMPLING}")
    if length > num_items:
        raise ValueError(f"length {length} exceeds the catalogue ({num_items} items)")
    if budget is not None:
        _check_sizes(budget=budget)
    if allowance is None:
        allowance = prefix_allowance(num_sequences, length, budget)
    elif len(allowance) != num_sequences or np.max(allowance, initial=0) > length:
        raise ValueError(f"allowance must hold {num_sequences} values of at most {length}")
    allowance = np.asarray(allowance, dtype=np.int64).copy()
    reached = int((allowance > 0).sum())
    allowance = allowance[:reached]
    owners = _owners(account, num_sequences)
    sequences: list[list[int]] = [[int(i)] for i in rng.integers(0, num_items, size=reached)]
    answers: list[Answer] = []
    with progress_bar(total=int(allowance.sum()), desc="oracle calls", unit="call") as bar:
        for step in range(int(allowance.max(initial=0))):
            active = np.flatnonzero(allowance > step)
            prefixes = [tuple(sequences[j]) for j in active]
            lists = oracle.recommend_many(prefixes, [owners[j] for j in active], k)
            bar.update(len(active))
            for j, prefix, returned in zip(active, prefixes, lists, strict=True):
                if returned is None:
                    allowance[j] = step  # refused: the sequence ends with what it has
                    continue
                answers.append((prefix, tuple(returned)))
                if len(sequences[j]) < min(length, allowance[j]) and returned:
                    sequences[j].append(int(returned[_pick(len(returned), rng, sampling)]))
    log.debug("autoregressive: %d sequences, %d oracle calls", reached, len(answers))
    answered = [s for s, paid in zip(sequences, allowance, strict=True) if paid > 0]
    return [np.asarray(s, dtype=np.int64) for s in answered], answers


def _owners(account: Accounts, num_sequences: int) -> list[str]:
    """The account of each of ``num_sequences`` sequences."""
    if isinstance(account, str):
        return [account] * num_sequences
    if len(account) < num_sequences:
        raise ValueError(f"{len(account)} accounts for {num_sequences} sequences")
    return list(account)


def _pick(size: int, rng: np.random.Generator, sampling: str) -> int:
    """Index into a returned list of ``size`` items."""
    if sampling == "uniform":
        return int(rng.integers(size))
    weights = 1.0 / np.log2(np.arange(2, size + 2))  # [size], DCG weight of ranks 1..size
    return int(rng.choice(size, p=weights / weights.sum()))


def _ragged_allowance(lengths: np.ndarray, budget: int | None) -> np.ndarray:
    """Prefixes paid per sequence of the given lengths, sequence-major within ``budget``."""
    if budget is None:
        return lengths.copy()
    before = np.concatenate([[0], np.cumsum(lengths)[:-1]])  # calls spent on earlier sequences
    return np.clip(budget - before, 0, lengths)


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
