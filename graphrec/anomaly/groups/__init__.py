"""Group and target detection: who promoted or bombed which items together.

A push or nuke campaign needs many accounts giving the same extreme rating to the same item(s);
that is what this package looks for, in two complementary ways, and it reports each campaign as a
group of accounts, its target items and its direction.

* ``lockstep`` (needs real timestamps) — CopyCatch (Beutel et al., WWW 2013) and M-Zoom's
  user × item × time blocks (Shin et al., PKDD 2016): for each item and extreme value, the time
  window of length Δt holding far more extreme ratings than expected. The expectation is
  degree-corrected, the item's share of all extreme ratings times the data's total activity in
  that window, so a blockbuster on a busy sign-up day is not a campaign. Windows on different
  items that share most of their accounts merge into one group (CopyCatch's "same users, same
  items, same time"), and a group's members are the accounts present in at least half of its
  windows.
* ``dense_block`` (any data) — FRAUDAR (Hooi et al., KDD 2016): greedy peeling of the densest
  block in the bipartite graph of extreme ratings, column weights ``1 / log(degree + c)`` so that
  camouflage on popular items adds little. Peeling the raw extreme-rating graph returns the
  enthusiastic heavy users and blockbusters (the densest block of genuine 5-star ratings is far
  denser than a fake star around one target), so the columns are first restricted to items whose
  extreme ratings are *in excess*: more than the larger of two null expectations allow — the
  item's own rating histogram (genuine histograms are unimodal and about log-concave, so the
  count at the end of the scale is at most ``n_adj1² / n_adj2``) and the raters' own habits
  (each rater's leave-one-out share of extreme ratings). A Poisson log-likelihood ratio of the
  observed count against that expectation is the item's suspicion. Peeling then separates
  campaigns on different targets and keeps a series attack's accounts (who hit several targets)
  while dropping genuine raters of only one of its items.

Limits (by construction, not bugs): without timestamps a campaign on one item is visible only as
an excess of extreme ratings, so an attack much smaller than the item's genuine audience (a dozen
accounts bombing a film a hundred people already hate) cannot be told apart from genuine opinion;
and the genuine extreme raters of a target are reported with the group (its ``confidence``, the
share of the extreme ratings the null does not explain, estimates the fakes' share).

Everything is array arithmetic over the deduplicated (user, item) pairs plus a heap-based peeling
of the small candidate subgraph: ML-100K takes well under a second.

Modules: :mod:`.config` (method names, output columns, :class:`GroupConfig`),
:mod:`.suspicion` (the deduplicated pairs, :func:`item_excess`, :func:`poisson_llr`),
:mod:`.lockstep`, :mod:`.dense_block` (the two methods, :func:`fraudar_peel`), :mod:`.report`
(the groups found and :class:`GroupReport`) and :mod:`.detect` (:func:`detect_groups`,
:class:`GroupDetector`).
"""

from graphrec.anomaly.groups.config import (
    DENSE_BLOCK,
    GROUP_COLUMNS,
    LOCKSTEP,
    METHODS,
    TARGET_TABLE_COLUMNS,
    GroupConfig,
)
from graphrec.anomaly.groups.dense_block import fraudar_peel
from graphrec.anomaly.groups.detect import GroupDetector, detect_groups
from graphrec.anomaly.groups.report import GroupReport
from graphrec.anomaly.groups.suspicion import item_excess, poisson_llr

__all__ = [
    "DENSE_BLOCK",
    "GROUP_COLUMNS",
    "LOCKSTEP",
    "METHODS",
    "TARGET_TABLE_COLUMNS",
    "GroupConfig",
    "GroupDetector",
    "GroupReport",
    "detect_groups",
    "fraudar_peel",
    "item_excess",
    "poisson_llr",
]
