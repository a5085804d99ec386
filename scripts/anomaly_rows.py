"""The detectors of the anomaly benchmark and how one of them is run and scored on a task.

Shared by the benchmark's protocols (``scripts/bench_anomaly.py``): every detector is a factory
``(contamination, use_time, seed) -> detector`` with the PyGOD-like contract; :func:`run_detector`
fits it on a task's ratings with the labels the task gives and scores the evaluation accounts.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from graphrec.anomaly.baselines import (
    IsolationForestBaseline,
    LOFBaseline,
    PCAVarSelectBaseline,
    RandomForestBaseline,
    SingleFeatureBaseline,
)
from graphrec.anomaly.labels import NORMAL
from graphrec.anomaly.task import TEST, TRAIN, TwoStepTask
from graphrec.benchmark import timed
from graphrec.data.ratings import Ratings
from graphrec.eval.detection import detection_report

SUPERVISED, SEMI, UNSUPERVISED = "supervised", "semi-supervised", "unsupervised"
Factory = Callable[[float, bool, int], Any]  # (contamination, use_time, seed) -> detector

CARRIED = "graphrec semi-supervised + step-1 model"
"""Step 2 with the step-1 supervised detector (fitted on the same cell's fully labeled step 1,
same time variant) as its supervised part: the competition hands participants both steps."""

DETECTOR_CLASSES = {
    SUPERVISED: "SupervisedDetector",
    SEMI: "SemiSupervisedDetector",
    UNSUPERVISED: "UnsupervisedDetector",
}


def baseline_factories(dominant_epochs: int) -> dict[str, tuple[str, Factory]]:
    """The classic baselines, the trivial one-column ones and PyGOD's DOMINANT."""

    def dominant(contamination: float, use_time: bool, seed: int) -> Any:
        from pygod_compat import DominantBaseline, pygod_status

        error = pygod_status()
        if error is not None:
            raise RuntimeError(f"PyGOD unavailable ({error}); pip install pygod==1.1.0")
        return DominantBaseline(
            contamination=contamination, epochs=dominant_epochs, use_time=use_time, seed=seed
        )

    return {
        "degree only": (SUPERVISED, lambda c, t, s: SingleFeatureBaseline("degree", seed=s)),
        "rating count only": (SUPERVISED, lambda c, t, s: SingleFeatureBaseline("ratings", seed=s)),
        "RF (classic features)": (
            SUPERVISED,
            lambda c, t, s: RandomForestBaseline(n_estimators=100, use_time=t, seed=s),
        ),
        "IsolationForest": (
            UNSUPERVISED,
            lambda c, t, s: IsolationForestBaseline(contamination=c, use_time=t, seed=s),
        ),
        "LOF": (UNSUPERVISED, lambda c, t, s: LOFBaseline(contamination=c, use_time=t, seed=s)),
        "PCA-VarSelect": (
            UNSUPERVISED,
            lambda c, t, s: PCAVarSelectBaseline(contamination=c, seed=s),
        ),
        "PyGOD DOMINANT": (UNSUPERVISED, dominant),
    }


def graphrec_factories() -> dict[str, tuple[str, Factory]]:
    """graphrec's detectors (imported lazily so a missing module is a row error, not a crash).

    The semi-supervised row gets no ``contamination``: it estimates the share of anomalies from
    the labels, as ``graphrec anomaly detect`` does.
    """

    def build(kind: str) -> Factory:
        def factory(contamination: float, use_time: bool, seed: int) -> Any:
            share = None if kind == SEMI else contamination
            return graphrec_detector(kind, share, use_time, seed)

        return factory

    return {
        "graphrec supervised": (SUPERVISED, build(SUPERVISED)),
        "graphrec semi-supervised": (SEMI, build(SEMI)),
        CARRIED: (SEMI, build(SEMI)),
        "graphrec unsupervised": (UNSUPERVISED, build(UNSUPERVISED)),
    }


def detector_class(name: str) -> type:
    """A graphrec detector class (imported here so that a broken module fails its rows only)."""
    return getattr(importlib.import_module("graphrec.anomaly.detectors"), name)


def clear_graphrec_caches() -> None:
    """Forget graphrec's cached detector inputs and encoder embeddings, so that a fit's time
    includes building its inputs (encoder training included), as the baselines' fits do."""
    for module in (
        "graphrec.anomaly.detectors.inputs",
        "graphrec.anomaly.detectors.events",
        "graphrec.anomaly.embeddings",
    ):
        for name in ("_CACHE", "_EVENTS"):
            cache = getattr(sys.modules.get(module), name, None)
            if isinstance(cache, dict):
                cache.clear()


def graphrec_detector(
    kind: str, contamination: float | None, use_time: bool, seed: int, **kwargs: Any
) -> Any:
    """graphrec's detector of ``kind`` with the inputs ``graphrec anomaly detect`` gives it
    (:func:`graphrec.anomaly.detectors.mode_inputs`), time features on or off."""
    from graphrec.anomaly.detectors import mode_inputs

    inputs = mode_inputs(kind, use_time=use_time, seed=seed)
    if contamination is not None:
        kwargs["contamination"] = contamination
    return detector_class(DETECTOR_CLASSES[kind])(inputs=inputs, seed=seed, **kwargs)


def fit_step1_model(task: TwoStepTask, ratings: Ratings, use_time: bool, seed: int) -> Any:
    """graphrec's supervised detector fitted on a step-1 task (its train accounts' labels)."""
    detector = graphrec_detector(SUPERVISED, contamination_of(task), use_time, seed)
    labeled = (task.truth["split"] == TRAIN).to_numpy()
    types = np.where(labeled, task.truth["type"].astype(str), None)
    return detector.fit(ratings, task.label_series(), types=types)


def evaluate(task: TwoStepTask, scores: np.ndarray, flags: np.ndarray) -> dict[str, Any]:
    """Metrics on the evaluation accounts: full set, public subset, per-type F1 and recall."""
    truth = task.truth
    y = truth["label"].to_numpy(np.int64)
    types = truth["type"].astype(str).to_numpy()
    test = (truth["split"] == TEST).to_numpy()
    public = truth["user_id"].isin(set(task.public)).to_numpy()
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0, posinf=1e12, neginf=-1e12)
    flags = np.asarray(flags, dtype=np.int64)
    full = detection_report(y[test], scores[test], flags[test], types[test])
    pub = detection_report(y[public], scores[public], flags[public], types[public])
    per_type = {}
    for kind in sorted(set(types[test]) - {NORMAL}):
        mask = test & ((types == kind) | (types == NORMAL))
        one = detection_report(y[mask], None, flags[mask])
        per_type[kind] = {"f1": one["f1"], "recall": full["per_type"][kind]["recall"]}
    return {
        "f1": full["f1"],
        "f1_public": pub["f1"],
        "precision": full["precision"],
        "recall": full["recall"],
        "pr_auc": full["pr_auc"],
        "roc_auc": full["roc_auc"],
        "flagged": full["predicted_positives"],
        "anomalous": full["positives"],
        "fpr": full["per_type"].get(NORMAL, {}).get("recall", float("nan")),
        "per_type": per_type,
    }


def contamination_of(task: TwoStepTask) -> float:
    """Anomalous share of the labeled accounts, kept inside the detectors' valid (0, 0.5]."""
    y = task.label_series().dropna()
    share = float(y.mean()) if len(y) else 0.05
    return float(min(max(share, 0.005), 0.5))


def fit_and_score(
    name: str,
    kind: str,
    factory: Factory,
    task: TwoStepTask,
    ratings: Ratings,
    use_time: bool,
    seed: int,
    *,
    step1: tuple[TwoStepTask, Ratings] | None = None,
    fresh_inputs: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Fit on the step's ratings (labels where the detector takes them), score every account.

    The carried-over row also fits the step-1 model on ``step1`` first; its time counts in fit_s.
    ``fresh_inputs`` clears graphrec's input caches first, so the fit time includes them.

    Returns:
        ``(scores, flags, {"fit_s", "predict_s", "threshold"})`` over every account.
    """
    start = time.perf_counter()
    if name == CARRIED:
        if step1 is None:
            raise ValueError(f"{CARRIED!r} needs the step-1 task of the same cell")
        clear_graphrec_caches()
        pretrained = fit_step1_model(*step1, use_time, seed)
        detector = graphrec_detector(SEMI, None, use_time, seed, pretrained=pretrained)
    else:
        detector = factory(contamination_of(task), use_time, seed)
    if hasattr(detector, "simulate_exclude"):
        # a type no label shows is not simulated either: it stays unseen (see simulated.py)
        detector.simulate_exclude = task.unlabeled_types
    step1_seconds = time.perf_counter() - start
    if fresh_inputs:
        clear_graphrec_caches()
    y = task.label_series() if kind in (SUPERVISED, SEMI) else None
    fit_kwargs: dict[str, Any] = {}
    if y is not None and "types" in inspect.signature(detector.fit).parameters:
        labeled = (task.truth["split"] == TRAIN).to_numpy()
        fit_kwargs["types"] = np.where(labeled, task.truth["type"].astype(str), None)
    with timed() as fit_time:
        detector.fit(ratings, y, **fit_kwargs)
    with timed() as predict_time:
        scores = detector.decision_function(ratings)
        flags = detector.predict(ratings)
    timing = {
        "fit_s": step1_seconds + fit_time["seconds"],
        "predict_s": predict_time["seconds"],
        "threshold": float(getattr(detector, "threshold_", float("nan"))),
    }
    return scores, flags, timing


def run_detector(
    name: str,
    kind: str,
    factory: Factory,
    task: TwoStepTask,
    ratings: Ratings,
    use_time: bool,
    seed: int,
    **options: Any,
) -> dict[str, Any]:
    """:func:`fit_and_score` and the evaluation of the task's evaluation accounts, as one row."""
    scores, flags, timing = fit_and_score(
        name, kind, factory, task, ratings, use_time, seed, **options
    )
    return {**evaluate(task, scores, flags), **timing}
