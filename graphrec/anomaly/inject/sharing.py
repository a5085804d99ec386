"""Account sharing: 2–3 real users' histories merged into the first person's account.

The others' histories are time-shifted to start inside the owner's span, so they interleave;
the merged users disappear as accounts (nobody is counted twice). Zhang et al. (UAI 2012) model
such an account as a union of taste subspaces, one per person.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from graphrec.anomaly.attack_models import (
    fit_into_span,
)
from graphrec.anomaly.inject.options import (
    SharingConfig,
)
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import (
    ACCOUNT_SHARING,
    GUEST,
)


def inject_sharing(state: State, cfg: SharingConfig, rng: np.random.Generator) -> None:
    """Merge ``size × genuine`` groups of 2–3 real users, each into its first member's account."""
    stats = state.stats
    items_col = state.ratings.events["item"].to_numpy()
    for _ in range(state.count(cfg.size)):
        k = int(rng.integers(cfg.people[0], cfg.people[1] + 1))
        members = state.take_users(rng, k)
        if len(members) < 2:
            break
        members = rng.permutation(members)
        owner_rows = state.rows_of(int(members[0]))
        o_start, o_end = state.time[owner_rows[0]], state.time[owner_rows[-1]]
        owner = state.mark(int(members[0]), ACCOUNT_SHARING)
        held = items_col[owner_rows]
        sources = [owner]
        for guest in members[1:]:
            rows = state.rows_of(int(guest))
            times = state.time[rows]
            # The guest's first event lands inside the owner's span: the two interleave.
            shifted = times - times[0] + int(rng.integers(o_start, o_end + 1))
            if shifted[-1] > stats.t_max:
                shifted -= shifted[-1] - stats.t_max
            if shifted[0] < stats.t_min:
                shifted = fit_into_span(shifted, stats, rng)
            raw = str(state.ratings.user_ids[guest])
            sources.append(raw)
            del state.accounts[raw]
            # One rating per account and item, as a platform stores it: a film the account
            # already rated keeps the earlier rating, the guest's is dropped.
            items = items_col[rows]
            dup = np.isin(items, held) | pd.Series(items).duplicated().to_numpy()
            dup[0] = dup[0] and not dup.all()  # a guest always leaves a trace
            state.keep[rows[dup]] = False
            held = np.concatenate([held, items])
            state.account[rows] = owner
            state.time[rows] = shifted
            state.label[rows] = 1
            state.type[rows] = ACCOUNT_SHARING
            state.role[rows] = GUEST
        state.accounts[owner].source = ";".join(sources)
