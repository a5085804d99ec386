"""One account-major view of the events every detector input is computed from (cached).

Distinct (user, item) pairs (repeats averaged) in each account's event order, plus every event
sorted by account and time: the arrays the relational, taste and aggregation inputs share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from graphrec.anomaly.embeddings import fingerprint
from graphrec.data.ratings import Ratings

_EVENTS: dict[str, AccountEvents] = {}
_EVENTS_SIZE = 2


@dataclass
class AccountEvents:
    """Distinct (user, item) pairs (repeats averaged) plus the full event order, as arrays."""

    num_users: int
    num_items: int
    user: np.ndarray  # [P] pairs sorted by user, then first-event order
    item: np.ndarray  # [P]
    rating: np.ndarray  # [P] mean rating of the pair
    ptr: np.ndarray  # [U + 1] CSR pointer of the pairs by user
    seq_user: np.ndarray  # [E] every event, sorted by (user, time)
    seq_rating: np.ndarray  # [E]

    @classmethod
    def from_ratings(cls, ratings: Ratings) -> AccountEvents:
        ev = ratings.events
        user = ev["user"].to_numpy(np.int64)
        item = ev["item"].to_numpy(np.int64)
        rating = ev["rating"].to_numpy(np.float64)
        time = ev["timestamp"].to_numpy(np.int64)
        order = np.lexsort((np.arange(len(user)), time, user))  # by user, time, row
        su, si, sr = user[order], item[order], rating[order]
        code = su * ratings.num_items + si
        _, first, inverse, counts = np.unique(
            code, return_index=True, return_inverse=True, return_counts=True
        )
        mean = np.bincount(inverse, weights=sr) / counts
        by_first = np.argsort(first, kind="stable")  # distinct pairs in (user, time) order
        pu, pi = su[first][by_first], si[first][by_first]
        ptr = np.concatenate([[0], np.cumsum(np.bincount(pu, minlength=ratings.num_users))])
        return cls(
            num_users=ratings.num_users,
            num_items=ratings.num_items,
            user=pu,
            item=pi,
            rating=mean[by_first],
            ptr=ptr,
            seq_user=su,
            seq_rating=sr,
        )

    @property
    def length(self) -> np.ndarray:
        return np.diff(self.ptr).astype(np.float64)  # [U] distinct items per user

    def matrix(self, values: np.ndarray | None = None) -> sp.csr_matrix:
        data = np.ones(len(self.user)) if values is None else values
        return sp.csr_matrix((data, (self.user, self.item)), shape=(self.num_users, self.num_items))


def events_of(ratings: Ratings) -> AccountEvents:
    """:meth:`AccountEvents.from_ratings`, cached: a detector's fit asks for the same events once
    per cross-validation fold and pseudo-label round (seconds on a million events)."""
    key = fingerprint(ratings)
    if key not in _EVENTS:
        if len(_EVENTS) >= _EVENTS_SIZE:
            _EVENTS.pop(next(iter(_EVENTS)))
        _EVENTS[key] = AccountEvents.from_ratings(ratings)
    return _EVENTS[key]
