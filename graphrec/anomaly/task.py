"""The two-step anomaly task of the competition brief (``seeds/000``), built on any ratings.

* **Step 1** — the step-1 types are injected, every account has a label, and the accounts are
  split (stratified by type) into a labeled training part and held-out evaluation instances.
* **Step 2** — a fresh injection (another seed) with the step-1 types plus the step-2-only types.
  Only a fraction of accounts is labeled, and those labels are drawn **only** from normal accounts
  and step-1 types (stratified by type): the step-2-only types are never shown with a label, so a
  detector has to find behaviour it was never taught. Every unlabeled account is an evaluation
  instance.

In both steps the evaluation instances are split into a **public** subset (the leaderboard, as the
competition scored submissions on a subset) and the **full** set (the final ranking); both are
reported (``graphrec anomaly evaluate --public``). Account ids are anonymized (random ids in the
source's style) so neither raw ids nor their order reveal fakes.

Files (:func:`write_task`): ``ratings.csv`` (``user_id,item_id,rating[,timestamp]`` in time
order), ``labels.csv`` (``user_id,label,type`` of the labeled accounts), ``truth.csv`` (every
account: ``user_id,label,type,split`` with split ``train`` = labeled, ``test`` = evaluation
instance; for evaluation only) and ``public.csv`` (``user_id`` of the public subset).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphrec.anomaly.inject import Injected, InjectionConfig, inject, step1_config, step2_config
from graphrec.anomaly.labels import NORMAL, STEP2_ONLY_TYPES
from graphrec.data.ratings import Ratings
from graphrec.eval.detection import detection_report
from graphrec.io import atomic_write

log = logging.getLogger(__name__)

TRAIN, TEST = "train", "test"
STEPS = (1, 2)


@dataclass
class TwoStepTask:
    """One step of the task: the data a participant gets and the truth kept for evaluation.

    Attributes:
        step: 1 or 2.
        ratings: the injected ratings (anonymized raw ids).
        truth: every account — ``user_id``, ``label``, ``type``, ``split`` (train/test) — in
            contiguous-id order.
        public: raw ids of the public evaluation subset (a subset of the test split).
        injected: the full injection result (event labels, targets) for analysis.
    """

    step: int
    ratings: Ratings
    truth: pd.DataFrame
    public: np.ndarray
    injected: Injected

    @property
    def labels(self) -> pd.DataFrame:
        """What a participant is given: ``user_id,label,type`` of the labeled accounts."""
        train = self.truth[self.truth["split"] == TRAIN]
        return train[["user_id", "label", "type"]].reset_index(drop=True)

    @property
    def unlabeled_types(self) -> tuple[str, ...]:
        """Anomaly types present among the accounts with no labeled account (step 2's new types,
        a leave-one-type-out split's held-out type)."""
        types = self.truth["type"].astype(str)
        labeled = set(types[self.truth["split"] == TRAIN])
        return tuple(sorted(set(types) - labeled - {NORMAL}))

    def label_series(self) -> pd.Series:
        """Labels by contiguous user id, NaN where unknown (the detectors' ``y``)."""
        y = pd.Series(np.nan, index=pd.RangeIndex(self.ratings.num_users, name="user"))
        train = (self.truth["split"] == TRAIN).to_numpy()
        y[train] = self.truth["label"].to_numpy()[train]
        return y

    def evaluate(self, flags: np.ndarray) -> dict[str, Any]:
        """F1 of 0/1 predictions on the evaluation (test) accounts, overall and per type.

        Per-type F1 is the F1 on the normal accounts plus that type's only: a type's recall
        alone would hide the false positives it costs.

        Args:
            flags: [num_users] 0/1 predictions by contiguous user id.

        Returns:
            :func:`~graphrec.eval.detection.detection_report` of the test accounts (no scores),
            plus ``per_type_f1`` ({type: F1}).
        """
        test = (self.truth["split"] == TEST).to_numpy()
        y = self.truth["label"].to_numpy(np.int64)
        types = self.truth["type"].astype(str).to_numpy()
        flags = np.asarray(flags, dtype=np.int64)
        report = detection_report(y[test], None, flags[test], types[test])
        report["per_type_f1"] = {}
        for kind in sorted(set(types[test]) - {NORMAL}):
            mask = test & np.isin(types, (kind, NORMAL))
            report["per_type_f1"][kind] = detection_report(y[mask], None, flags[mask])["f1"]
        return report


def make_task(
    ratings: Ratings,
    step: int,
    *,
    seed: int = 0,
    test_share: float = 0.3,
    label_share: float = 0.1,
    public_share: float = 0.3,
    config: InjectionConfig | None = None,
    hidden_types: tuple[str, ...] = STEP2_ONLY_TYPES,
) -> TwoStepTask:
    """Inject and split one step of the two-step task.

    Args:
        ratings: the genuine data.
        step: 1 or 2.
        seed: seed of the injection and of every split (step 2 injects with ``seed + 1000`` so
            the two steps never share fakes even with the same ``seed``).
        test_share: step 1 — share of accounts held out for evaluation (default 0.3).
        label_share: step 2 — share of *all* accounts that get a label (default 0.1), drawn
            from the normal accounts and the types not in ``hidden_types``.
        public_share: share of the evaluation instances in the public subset (default 0.3).
        config: injection config; default :func:`step1_config` / :func:`step2_config`.
        hidden_types: step 2 — anomaly types that never get a label (default the step-2-only
            types; a leave-one-type-out protocol hides one type at a time).

    Raises:
        ValueError: an unknown step or a share outside (0, 1).
    """
    _check_split(step, test_share, label_share, public_share)
    config = config or (step1_config() if step == 1 else step2_config())
    config = dataclasses.replace(config, anonymize_ids=True)
    injected = inject(ratings, config, seed=seed if step == 1 else seed + 1000)
    return split_task(
        injected,
        step,
        seed=seed,
        test_share=test_share,
        label_share=label_share,
        public_share=public_share,
        hidden_types=hidden_types,
    )


def split_task(
    injected: Injected,
    step: int,
    *,
    seed: int = 0,
    test_share: float = 0.3,
    label_share: float = 0.1,
    public_share: float = 0.3,
    hidden_types: tuple[str, ...] = STEP2_ONLY_TYPES,
) -> TwoStepTask:
    """Label and split already injected ratings as one step of the task (see :func:`make_task`).

    The same injection can be split many ways (a leave-one-type-out protocol hides each type in
    turn) without injecting again.
    """
    _check_split(step, test_share, label_share, public_share)
    accounts = injected.accounts
    rng = np.random.default_rng([seed, step, 7])
    types = accounts["type"].astype(str).to_numpy()
    if step == 1:
        labeled = _stratified_mask(types, 1.0 - test_share, rng)
    else:
        eligible = ~np.isin(types, hidden_types)
        share = label_share * len(types) / max(int(eligible.sum()), 1)
        labeled = _stratified_mask(types, min(share, 1.0), rng) & eligible
    test = np.flatnonzero(~labeled)
    public_idx = test[_stratified_mask(types[test], public_share, rng)]
    truth = pd.DataFrame(
        {
            "user_id": accounts["user_id"].astype(str).to_numpy(),
            "label": accounts["label"].to_numpy(np.int64),
            "type": types,
            "split": np.where(labeled, TRAIN, TEST),
        }
    )
    log.info(
        "step %d: %d accounts, %d labeled (%d anomalous), %d evaluation (%d public)",
        step,
        len(truth),
        int(labeled.sum()),
        int(truth["label"].to_numpy()[labeled].sum()),
        len(test),
        len(public_idx),
    )
    return TwoStepTask(
        step=step,
        ratings=injected.ratings,
        truth=truth,
        public=truth["user_id"].to_numpy()[np.sort(public_idx)],
        injected=injected,
    )


def _check_split(step: int, test_share: float, label_share: float, public_share: float) -> None:
    if step not in STEPS:
        raise ValueError(f"step must be 1 or 2, got {step}")
    for name, value in (
        ("test_share", test_share),
        ("label_share", label_share),
        ("public_share", public_share),
    ):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {value}")


def _stratified_mask(types: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """True for round(share × n_t) random members of every type t (at least one of a type with
    two or more members when ``0 < share < 1``, so every type appears on both sides)."""
    mask = np.zeros(len(types), dtype=bool)
    for kind in np.unique(types):
        members = np.flatnonzero(types == kind)
        k = int(round(share * len(members)))
        if 0.0 < share < 1.0 and len(members) >= 2:
            k = min(max(k, 1), len(members) - 1)
        mask[rng.choice(members, size=min(k, len(members)), replace=False)] = True
    return mask


def ratings_frame(ratings: Ratings, timestamps: bool = True) -> pd.DataFrame:
    """Raw-id events ``user_id,item_id,rating[,timestamp]``: in time order with timestamps;
    without, sorted by user and item ids, so that the row order leaks no time either."""
    ev = ratings.events
    if timestamps and ratings.has_timestamps:
        order = np.lexsort((np.arange(len(ev)), ev["timestamp"].to_numpy()))
    else:
        users = ratings.user_ids[ev["user"].to_numpy()].astype(str)
        items = ratings.item_ids[ev["item"].to_numpy()].astype(str)
        order = np.lexsort((np.arange(len(ev)), items, users))
    frame = pd.DataFrame(
        {
            "user_id": ratings.user_ids[ev["user"].to_numpy()[order]],
            "item_id": ratings.item_ids[ev["item"].to_numpy()[order]],
            "rating": ev["rating"].to_numpy(np.float64)[order],
        }
    )
    if timestamps and ratings.has_timestamps:
        frame["timestamp"] = ev["timestamp"].to_numpy(np.int64)[order]
    return frame


def without_time(ratings: Ratings, seed: int = 0) -> Ratings:
    """The same events with no time left: ``has_timestamps`` False and the timestamp column a
    random permutation of the rows (what a file without timestamps, in an order that says nothing
    about time, loads as). Keeping the time order as the row order would leak time to every
    detector that reads the order."""
    events = ratings.events.copy()
    events["timestamp"] = np.random.default_rng(seed).permutation(len(events)).astype(np.int64)
    return dataclasses.replace(ratings, events=events, has_timestamps=False)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """A CSV, atomically; integral ratings are written without ``.0``."""
    frame = frame.copy()
    if "rating" in frame and (frame["rating"] == np.round(frame["rating"])).all():
        frame["rating"] = frame["rating"].astype(np.int64)
    return atomic_write(Path(path), lambda tmp: frame.to_csv(tmp, index=False))


def write_task(task: TwoStepTask, out: Path, *, timestamps: bool = True) -> dict[str, Path]:
    """Write ``ratings.csv``, ``labels.csv``, ``truth.csv`` and ``public.csv`` into ``out``."""
    out = Path(out)
    return {
        "ratings": write_csv(ratings_frame(task.ratings, timestamps), out / "ratings.csv"),
        "labels": write_csv(task.labels, out / "labels.csv"),
        "truth": write_csv(task.truth, out / "truth.csv"),
        "public": write_csv(pd.DataFrame({"user_id": task.public}), out / "public.csv"),
    }


def summary(task: TwoStepTask) -> pd.DataFrame:
    """Accounts per type: total, labeled, evaluation and public (for the CLI and reports)."""
    truth = task.truth
    public = truth["user_id"].isin(set(task.public))
    frame = pd.DataFrame(
        {
            "type": truth["type"],
            "accounts": 1,
            "labeled": (truth["split"] == TRAIN).astype(int),
            "evaluation": (truth["split"] == TEST).astype(int),
            "public": public.astype(int),
        }
    )
    table = frame.groupby("type").sum()
    order = [NORMAL] + sorted(t for t in table.index if t != NORMAL)
    return table.loc[order]
