"""Anomaly benchmark: graphrec's detectors against classic baselines and PyGOD, on injected ML-100K.

One run covers, for every cell of the attack-size × filler-size grid (1, 3, 5 % each; ``--quick``
keeps the 3 % × 3 % cell):

* step 1 of the two-step task (:mod:`graphrec.anomaly.task`: every type of step 1, 70 % of the
  accounts labeled, 30 % held out) — the random-forest baseline on classic features and graphrec's
  supervised detector, plus the unsupervised baselines for reference;
* step 2 (a fresh injection with three unseen types, 10 % of the accounts labeled, from normal
  and step-1 types only) — graphrec's semi-supervised and unsupervised detectors against the
  unsupervised baselines (isolation forest, LOF, PCA-VarSelect), PyGOD's DOMINANT and the random
  forest trained on the few labels;

each with and without timestamps. "Without" is the competition's situation: the timestamp
column is replaced by the events' row order (what :class:`Ratings` holds for a file without
timestamps) and ``has_timestamps`` is False. In every cell the shilling attacks of the step's
default injection get the cell's filler size and share the cell's attack size in the default
proportions (the step-2 obfuscated attack too); the other types keep their defaults.

Reported per detector: F1 of the evaluation accounts, full set and public subset, precision,
recall, PR-AUC, per-type F1 (the detector's F1 on the normal accounts plus that type's only) and
recall, fit and predict seconds (graphrec's input caches are cleared before every fit, so its fit
time includes building the inputs and training the encoder, as the baselines' include their
features). Unsupervised detectors get ``contamination`` = the anomalous share of the labeled
accounts (what a participant can estimate; it misses step 2's unseen types). PyGOD's DOMINANT
(step 2 only) trains a dense-adjacency autoencoder, seconds per epoch on a shared CPU, so by
default it runs in the first grid cell only (``--dominant all`` for every cell).
Finally the seconds graphrec's supervised detector takes to fit on and score every account of the
synthetic ``ml-1m`` preset with step-1 injections.

    python scripts/bench_anomaly.py [--ml100k PATH] [--quick] [--dominant first|all|none]

Markdown tables go to stdout; every row goes to ``runs/bench/anomaly__<time>.json``. PyGOD is
the optional ``bench`` extra; when it is missing or fails, its rows carry the error instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pygod_compat beside this script

from graphrec.anomaly.baselines import (  # noqa: E402
    IsolationForestBaseline,
    LOFBaseline,
    PCAVarSelectBaseline,
    RandomForestBaseline,
)
from graphrec.anomaly.inject import InjectionConfig, step1_config, step2_config  # noqa: E402
from graphrec.anomaly.labels import NORMAL  # noqa: E402
from graphrec.anomaly.task import TEST, TRAIN, TwoStepTask, make_task  # noqa: E402
from graphrec.benchmark import Benchmark, markdown_table, timed  # noqa: E402
from graphrec.data.load import load_ratings  # noqa: E402
from graphrec.data.ratings import Ratings  # noqa: E402
from graphrec.eval.detection import detection_report  # noqa: E402

log = logging.getLogger("bench_anomaly")

GRID = (0.01, 0.03, 0.05)
QUICK_CELLS = ((0.03, 0.03),)
SUPERVISED, SEMI, UNSUPERVISED = "supervised", "semi-supervised", "unsupervised"


# ------------------------------------------------------------------------------------- data
def cell_config(step: int, attack_size: float, filler_size: float) -> InjectionConfig:
    """The step's default injection with the shilling attacks scaled to one grid cell."""
    base = step1_config() if step == 1 else step2_config()
    total = sum(a.attack_size for a in base.shilling)
    shilling = tuple(
        dataclasses.replace(
            a, attack_size=attack_size * a.attack_size / total, filler_size=filler_size
        )
        for a in base.shilling
    )
    config = dataclasses.replace(base, shilling=shilling)
    if config.obfuscated is not None:
        share = config.obfuscated.attack_size / (total + config.obfuscated.attack_size)
        obfuscated = dataclasses.replace(
            config.obfuscated, attack_size=attack_size * share, filler_size=filler_size
        )
        config = dataclasses.replace(config, obfuscated=obfuscated)
    return config


def strip_timestamps(ratings: Ratings) -> Ratings:
    """The same events with the timestamp replaced by the row order in time (what a file without
    timestamps, written in time order, loads as) and ``has_timestamps`` False."""
    events = ratings.events.copy()
    order = np.lexsort((np.arange(len(events)), events["timestamp"].to_numpy()))
    rank = np.empty(len(events), dtype=np.int64)
    rank[order] = np.arange(len(events))
    events["timestamp"] = rank
    return dataclasses.replace(ratings, events=events, has_timestamps=False)


# -------------------------------------------------------------------------------- detectors
Factory = Callable[[float, bool, int], Any]  # (contamination, use_time, seed) -> detector


def baseline_factories(dominant_epochs: int) -> dict[str, tuple[str, Factory]]:
    def dominant(contamination: float, use_time: bool, seed: int) -> Any:
        from pygod_compat import DominantBaseline, pygod_status

        error = pygod_status()
        if error is not None:
            raise RuntimeError(f"PyGOD unavailable ({error}); pip install pygod==1.1.0")
        return DominantBaseline(
            contamination=contamination, epochs=dominant_epochs, use_time=use_time, seed=seed
        )

    return {
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
    """graphrec's detectors (imported lazily so a missing module is a row error, not a crash)."""

    def build(kind: str) -> Factory:
        def factory(contamination: float, use_time: bool, seed: int) -> Any:
            cls = detector_class(DETECTOR_CLASSES[kind])
            return graphrec_detector(cls, contamination, use_time, seed)

        return factory

    return {
        "graphrec supervised": (SUPERVISED, build(SUPERVISED)),
        "graphrec semi-supervised": (SEMI, build(SEMI)),
        CARRIED: (SEMI, build(SEMI)),
        "graphrec unsupervised": (UNSUPERVISED, build(UNSUPERVISED)),
    }


CARRIED = "graphrec semi-supervised + step-1 model"
"""Step 2 with the step-1 supervised detector (fitted on the same cell's fully labeled step 1,
same time variant) as its supervised part: the competition hands participants both steps."""

DETECTOR_CLASSES = {
    SUPERVISED: "SupervisedDetector",
    SEMI: "SemiSupervisedDetector",
    UNSUPERVISED: "UnsupervisedDetector",
}


def detector_class(name: str) -> type:
    """A graphrec detector class (imported here so that a broken module fails its rows only)."""
    return getattr(importlib.import_module("graphrec.anomaly.detectors"), name)


def clear_graphrec_caches() -> None:
    """Forget graphrec's cached detector inputs and encoder embeddings, so that every fit's time
    includes building its inputs (encoder training included), as the baselines' fits do."""
    for module in ("graphrec.anomaly.detectors.inputs", "graphrec.anomaly.embeddings"):
        for name in ("_CACHE", "_EVENTS"):
            cache = getattr(sys.modules.get(module), name, None)
            if isinstance(cache, dict):
                cache.clear()


def graphrec_detector(
    cls: type, contamination: float, use_time: bool, seed: int, **kwargs: Any
) -> Any:
    """An instance of one of graphrec's detector classes: default inputs (encoder included),
    time features on or off."""
    from graphrec.anomaly.detectors.inputs import InputOptions

    inputs = InputOptions(use_time=use_time, seed=seed)
    return cls(contamination=contamination, inputs=inputs, seed=seed, **kwargs)


def fit_step1_model(task: TwoStepTask, ratings: Ratings, use_time: bool, seed: int) -> Any:
    """graphrec's supervised detector fitted on a step-1 task (its train accounts' labels)."""
    detector = graphrec_detector(
        detector_class(DETECTOR_CLASSES[SUPERVISED]), contamination_of(task), use_time, seed
    )
    labeled = (task.truth["split"] == TRAIN).to_numpy()
    types = np.where(labeled, task.truth["type"].astype(str), None)
    return detector.fit(ratings, task.label_series(), types=types)


# ------------------------------------------------------------------------------- evaluation
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


def run_detector(
    name: str,
    kind: str,
    factory: Factory,
    task: TwoStepTask,
    ratings: Ratings,
    use_time: bool,
    seed: int,
    step1: tuple[TwoStepTask, Ratings] | None = None,
) -> dict[str, Any]:
    """Fit on the step's ratings (labels where the detector takes them), score every account.

    The carried-over row also fits the step-1 model on ``step1`` first; its time counts in fit_s.
    """
    start = time.perf_counter()
    if name == CARRIED:
        if step1 is None:
            raise ValueError(f"{CARRIED!r} needs the step-1 task of the same cell")
        clear_graphrec_caches()
        pretrained = fit_step1_model(*step1, use_time, seed)
        detector = graphrec_detector(
            detector_class(DETECTOR_CLASSES[SEMI]),
            contamination_of(task),
            use_time,
            seed,
            pretrained=pretrained,
        )
    else:
        detector = factory(contamination_of(task), use_time, seed)
    step1_seconds = time.perf_counter() - start
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
    row = evaluate(task, scores, flags)
    row.update(fit_s=step1_seconds + fit_time["seconds"], predict_s=predict_time["seconds"])
    row["threshold"] = float(getattr(detector, "threshold_", float("nan")))
    return row


# ------------------------------------------------------------------------------------ tables
MAIN_COLUMNS = [
    "cell",
    "step",
    "time",
    "detector",
    "kind",
    "f1",
    "f1_public",
    "precision",
    "recall",
    "pr_auc",
    "flagged",
    "anomalous",
    "fit_s",
    "predict_s",
    "error",
]


def per_type_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per detector run: per-type F1 (and recall in parentheses)."""
    kinds: list[str] = []
    for row in rows:
        kinds += [k for k in row.get("per_type", {}) if k not in kinds]
    out = []
    for row in rows:
        if "per_type" not in row:
            continue
        entry = {c: row[c] for c in ("cell", "step", "time", "detector")}
        for kind in kinds:
            value = row["per_type"].get(kind)
            entry[kind] = None if value is None else f"{value['f1']:.2f} ({value['recall']:.2f})"
        out.append(entry)
    return out, ["cell", "step", "time", "detector", *kinds]


def grid_rows(rows: list[dict[str, Any]], cells: list[str]) -> list[dict[str, Any]]:
    """F1 (full set) per detector × step × time, one column per grid cell."""
    table: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["detector"], str(row["step"]), row["time"])
        entry = table.setdefault(key, {"detector": key[0], "step": key[1], "time": key[2]})
        entry[row["cell"]] = row.get("f1")
    return list(table.values())


# ------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ml100k", default="../shared/data/ml-100k")
    parser.add_argument("--quick", action="store_true", help="only the 3 %% × 3 %% cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dominant",
        choices=("first", "all", "none"),
        default="first",
        help="PyGOD DOMINANT on the first cell only (default: it is slow on CPU), all, or none",
    )
    parser.add_argument("--dominant-epochs", type=int, default=20)
    parser.add_argument(
        "--scale-preset", default="ml-1m", help="synthetic preset timed at scale ('' to skip)"
    )
    parser.add_argument("--detectors", default="", help="comma-separated subset of row names")
    parser.add_argument("--out", type=Path, default=Path("runs") / "bench")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    detectors = {**baseline_factories(args.dominant_epochs), **graphrec_factories()}
    if args.detectors:
        wanted = [d.strip() for d in args.detectors.split(",") if d.strip()]
        unknown = sorted(set(wanted) - set(detectors))
        if unknown:
            raise SystemExit(f"unknown detectors {unknown}; choose from {sorted(detectors)}")
        detectors = {k: v for k, v in detectors.items() if k in wanted}
    plan = {  # which detectors run in which step
        1: [n for n, (k, _) in detectors.items() if k != SEMI and n != "PyGOD DOMINANT"],
        2: [n for n, (k, _) in detectors.items() if k != SUPERVISED or n.startswith("RF")],
    }
    cells = list(QUICK_CELLS) if args.quick else [(a, f) for a in GRID for f in GRID]
    bench = Benchmark("anomaly")
    ratings = load_ratings(args.ml100k)
    rows: list[dict[str, Any]] = []
    step1_variants: dict[str, tuple[TwoStepTask, Ratings]] = {}
    started = time.perf_counter()
    for index, (attack, filler) in enumerate(cells):
        cell = f"{attack:.0%}/{filler:.0%}"
        for step in (1, 2):
            with bench.stage(f"inject {cell} step {step}", cell=cell, step=step) as stage:
                task = make_task(
                    ratings, step, seed=args.seed, config=cell_config(step, attack, filler)
                )
                stage.extra["accounts"] = task.ratings.num_users
                stage.extra["anomalous"] = int(task.truth["label"].sum())
            variants = {"yes": task.ratings, "no": strip_timestamps(task.ratings)}
            if step == 1:
                step1_variants = {t: (task, data) for t, data in variants.items()}
            for with_time, data in variants.items():
                for name in plan[step]:
                    if name == "PyGOD DOMINANT" and (
                        args.dominant == "none" or (args.dominant == "first" and index > 0)
                    ):
                        continue
                    kind, factory = detectors[name]
                    meta = {"cell": cell, "step": step, "time": with_time, "detector": name}
                    row: dict[str, Any] = {**meta, "kind": kind}
                    try:
                        with bench.stage(f"{cell} s{step} t={with_time} {name}", **meta) as st:
                            row.update(
                                run_detector(
                                    name,
                                    kind,
                                    factory,
                                    task,
                                    data,
                                    with_time == "yes",
                                    args.seed,
                                    step1=step1_variants.get(with_time),
                                )
                            )
                            st.extra.update({k: v for k, v in row.items() if k not in meta})
                    except Exception as error:  # noqa: BLE001 - one failing row, not the run
                        row["error"] = f"{type(error).__name__}: {error}"[:300]
                        log.warning("%s: %s", meta, row["error"])
                    rows.append(row)
                    log.info(
                        "%s step %d time=%s %-26s F1 %.3f  (%.0f s elapsed)",
                        cell,
                        step,
                        with_time,
                        name,
                        row.get("f1", float("nan")),
                        time.perf_counter() - started,
                    )

    print("\n## Detection on injected ML-100K (evaluation accounts; F1 full / public)\n")
    print(markdown_table(rows, MAIN_COLUMNS))
    reference = "3%/3%" if any(r["cell"] == "3%/3%" for r in rows) else rows[0]["cell"]
    typed, columns = per_type_rows([r for r in rows if r["cell"] == reference])
    print(f"\n## Per-type F1 (recall), cell {reference}: F1 on normal + that type's accounts\n")
    print(markdown_table(typed, columns))
    cell_names = [f"{a:.0%}/{f:.0%}" for a, f in cells]
    if len(cell_names) > 1:
        print("\n## F1 (full evaluation set) over the attack-size/filler-size grid\n")
        grid_columns = ["detector", "step", "time", *cell_names]
        print(markdown_table(grid_rows(rows, cell_names), grid_columns))

    scale: dict[str, Any] = {}
    if args.scale_preset:
        scale = time_scale(args.scale_preset, detectors, args.seed, bench)
        print(f"\n## Detecting every account of synthetic:{args.scale_preset}\n")
        print(markdown_table([scale], list(scale)))
    path = bench.save(
        args.out,
        cells=cell_names,
        quick=args.quick,
        rows=rows,
        scale=scale,
        total_seconds=time.perf_counter() - started,
    )
    print(f"\nresults: {path}")


def time_scale(
    preset: str, detectors: dict[str, tuple[str, Factory]], seed: int, bench: Benchmark
) -> dict[str, Any]:
    """Fit graphrec's supervised detector on step 1 of the preset and score every account."""
    name = "graphrec supervised"
    out: dict[str, Any] = {"preset": preset, "detector": name}
    try:
        with bench.stage(f"scale {preset} load+inject") as stage:
            ratings = load_ratings(f"synthetic:{preset}", seed=seed)
            task = make_task(ratings, 1, seed=seed)
        out.update(
            accounts=task.ratings.num_users,
            events=task.ratings.num_events,
            inject_s=stage.seconds,
        )
        kind, factory = detectors[name]
        with bench.stage(f"scale {preset} {name}") as stage:
            row = run_detector(name, kind, factory, task, task.ratings, True, seed)
        out.update(
            fit_s=row["fit_s"],
            predict_s=row["predict_s"],
            detect_all_s=row["fit_s"] + row["predict_s"],
            f1=row["f1"],
            peak_rss_mib=stage.peak_rss_mib,
        )
    except Exception as error:  # noqa: BLE001 - reported in the table
        out["error"] = f"{type(error).__name__}: {error}"[:300]
    return out


if __name__ == "__main__":
    main()
