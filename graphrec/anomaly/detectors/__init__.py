"""Account-level anomaly detectors with one PyGOD-like contract (:class:`Detector`).

* :class:`SupervisedDetector` — step 1, every training account labeled;
* :class:`SemiSupervisedDetector` — step 2, few labels and unseen types (PU forest + the
  unsupervised score);
* :class:`UnsupervisedDetector` — no labels at all.

:func:`choose_detector` picks one from the labels at hand (what ``graphrec anomaly detect`` does).
"""

from __future__ import annotations

import numpy as np

from graphrec.anomaly.detectors.base import (
    DEFAULT_CONTAMINATION,
    Detector,
    as_labels,
    as_types,
)
from graphrec.anomaly.detectors.inputs import InputOptions, detector_inputs
from graphrec.anomaly.detectors.semi_supervised import SemiSupervisedDetector
from graphrec.anomaly.detectors.supervised import SupervisedDetector
from graphrec.anomaly.detectors.unsupervised import UnsupervisedDetector

SUPERVISED, SEMI_SUPERVISED, UNSUPERVISED = "supervised", "semi-supervised", "unsupervised"
MODES = ("auto", SUPERVISED, SEMI_SUPERVISED, UNSUPERVISED)

MIN_LABELED_SHARE = 0.5
"""Supervised only when at least this share of accounts is labeled (step 1 labels 70 %)..."""
MIN_PER_CLASS = 5
"""...and at least this many of each class; below, labels are "few" (semi-supervised)."""


def choose_mode(labels: np.ndarray) -> str:
    """``supervised`` when labels cover both classes well (>= :data:`MIN_LABELED_SHARE` of the
    accounts and >= :data:`MIN_PER_CLASS` of each class), ``semi-supervised`` when at least two
    anomalies are labeled, else ``unsupervised``.

    Args:
        labels: [num_users] 0/1/NaN.
    """
    known = ~np.isnan(labels)
    positives = int((labels[known] == 1).sum())
    negatives = int((labels[known] == 0).sum())
    if (
        known.mean() >= MIN_LABELED_SHARE
        and positives >= MIN_PER_CLASS
        and negatives >= MIN_PER_CLASS
    ):
        return SUPERVISED
    if positives >= 2:
        return SEMI_SUPERVISED
    return UNSUPERVISED


def mode_inputs(mode: str, *, use_time: bool | None = None, seed: int = 0) -> InputOptions:
    """The inputs a detector of ``mode`` gets from ``graphrec anomaly detect``: the neighbour
    means (``nb_`` columns) for the supervised detector only.

    Measured on ML-100K (``scripts/bench_anomaly.py``): the supervised detector's step-1 F1 over
    the nine grid cells averages .846 with them and .823 without when the data has no
    timestamps (.910 / .904 with timestamps); the semi-supervised detector's leave-one-type-out
    F1 without timestamps was .615 with them and .625 without (seeds 0-2, measured before the
    co-rater inputs and the simulated attacks), and the unsupervised detector does not read them.
    """
    return InputOptions(use_time=use_time, aggregate=mode == SUPERVISED, seed=seed)


def make_detector(
    mode: str,
    *,
    contamination: float | None = None,
    inputs: InputOptions | None = None,
    simulate: bool = True,
    seed: int = 0,
) -> Detector:
    """A fresh detector of ``mode`` (``supervised``, ``semi-supervised``, ``unsupervised``).

    ``simulate``: the semi-supervised detector's forest also learns from simulated attacks
    (:mod:`graphrec.anomaly.detectors.simulated`); the supervised detector does not (step-1 F1
    without timestamps fell from 0.897 to 0.562 in the 1 %/1 % cell: it gives up the label
    aggregation, which 70 % labels make strong).

    ``contamination`` None: the semi-supervised detector estimates the share of anomalies from
    the labels; the others use :data:`DEFAULT_CONTAMINATION` (the supervised one only reports
    it).

    Raises:
        ValueError: an unknown mode (``auto`` must be resolved with :func:`choose_mode` first).
    """
    kinds = {
        SUPERVISED: SupervisedDetector,
        SEMI_SUPERVISED: SemiSupervisedDetector,
        UNSUPERVISED: UnsupervisedDetector,
    }
    if mode not in kinds:
        raise ValueError(f"unknown detector mode {mode!r}; expected one of {tuple(kinds)}")
    inputs = inputs or mode_inputs(mode, seed=seed)
    if mode == SEMI_SUPERVISED:  # estimates the share itself when none is given
        return SemiSupervisedDetector(
            contamination=contamination, inputs=inputs, simulate=simulate, seed=seed
        )
    share = DEFAULT_CONTAMINATION if contamination is None else contamination
    return kinds[mode](contamination=share, inputs=inputs, seed=seed)


__all__ = [
    "Detector",
    "InputOptions",
    "MODES",
    "SemiSupervisedDetector",
    "SupervisedDetector",
    "UnsupervisedDetector",
    "as_labels",
    "as_types",
    "choose_mode",
    "detector_inputs",
    "make_detector",
    "mode_inputs",
]
