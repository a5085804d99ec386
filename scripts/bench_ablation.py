"""Ablation with intervals: what the graph buys the sequential head, and for whom.

Rows (one leave-one-out split of ``--source``, full ranking, history masked, test read once per
trained model at its best-validation epoch): the head without the graph (a SASRec-like model:
no propagation, no user fusion, no BPR), graphrec with each encoder, user fusion off, BPR weight
0, the GRU head, LightGCN alone and most-popular. Every row is trained with every seed of
``--seeds`` (the split does not depend on the seed; initialisation and batch order do).

Reported per row: validation NDCG@10 at the best epoch (what a choice between rows may read),
test NDCG@10 and Hit@10 as mean ± sd over seeds, seconds per epoch, and the
difference to the no-graph head paired two ways — over seeds (t interval of the per-seed
differences) and over users (bootstrap of the per-user differences, each user's NDCG@10 averaged
over seeds). Then, for the default graphrec and the no-graph head, NDCG@10 by history length
(training events) and by the target's popularity third, with user counts.

    python scripts/bench_ablation.py [--source ../shared/data/ml-100k] [--seeds 1,2,3,4,5]
        [--rows "no-graph head,graphrec (default)"]

Prints the tables and writes ``runs/bench/ablation__<time>.json``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from graphrec.benchmark import Benchmark, markdown_table
from graphrec.config import load_config
from graphrec.eval.paired import bootstrap_users, paired_seeds
from graphrec.eval.ranking import evaluate_detailed
from graphrec.eval.segments import (
    POPULARITY_THIRDS,
    history_segments,
    popularity_segments,
    segment_table,
)
from graphrec.train.trainer import prepare_split, train

BASELINE = "no-graph head"
DEFAULT = "graphrec (default)"
ROWS: dict[str, list[str]] = {
    BASELINE: ["model.num_layers=0", "model.fuse_user=false", "train.bpr_weight=0"],
    DEFAULT: [],
    "graphrec SAGE": ["model.encoder=sage"],
    "graphrec GAT": ["model.encoder=gat"],
    "user fusion off": ["model.fuse_user=false"],
    "BPR weight 0": ["train.bpr_weight=0"],
    "GRU head": ["model.head=gru"],
    "item transitions": ["graph.item_transitions=true"],
    "sequence-graph alignment": ["train.align_weight=0.1"],
    "random windows": ["train.window=random"],
    "no-graph head, random windows": [
        "model.num_layers=0",
        "model.fuse_user=false",
        "train.bpr_weight=0",
        "train.window=random",
    ],
    "LightGCN alone": ["model.name=lightgcn_bpr", "data.max_len=200"],
    "most-popular": ["model.name=popular"],
}
METRIC = "ndcg@10"


def run_row(overrides: list[str], base: list[str], seed: int, split: Any) -> dict[str, Any]:
    """Train one row with one seed; its test metrics and per-user NDCG@10 (in user order)."""
    config = load_config(None, [*base, f"seed={seed}", *overrides])
    with tempfile.TemporaryDirectory() as folder:
        result = train(config, Path(folder) / "run", split=split, progress=False)
    detail = evaluate_detailed(result.model, split, "test", max_len=config.data.max_len)
    epochs = len(result.history)
    return {
        "valid_ndcg@10": result.best_valid["ndcg@10"],
        "ndcg@10": result.test["ndcg@10"],
        "hit@10": result.test["hit@10"],
        "sec_per_epoch": sum(h["epoch_seconds"] for h in result.history) / max(epochs, 1),
        "users": detail.users,
        "per_user": detail.per_user[METRIC],
    }


def summarize(name: str, runs: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> dict:
    """Mean ± sd over seeds and the paired differences to the baseline row."""
    ndcg = np.array([r["ndcg@10"] for r in runs])
    row: dict[str, Any] = {
        "row": name,
        "valid_ndcg@10": float(np.mean([r["valid_ndcg@10"] for r in runs])),
        "ndcg@10": float(ndcg.mean()),
        "ndcg@10_sd": float(ndcg.std(ddof=1)) if len(ndcg) > 1 else 0.0,
        "hit@10": float(np.mean([r["hit@10"] for r in runs])),
        "sec/epoch": float(np.mean([r["sec_per_epoch"] for r in runs])),
        "seeds": len(runs),
    }
    if name != BASELINE and baseline:
        base = np.array([r["ndcg@10"] for r in baseline])
        if len(ndcg) > 1:
            by_seed = paired_seeds(ndcg, base)
            row.update(seed_diff=by_seed.mean, seed_low=by_seed.low, seed_high=by_seed.high)
        users = bootstrap_users(mean_per_user(runs), mean_per_user(baseline))
        row.update(user_diff=users.mean, user_low=users.low, user_high=users.high)
    return row


def mean_per_user(runs: list[dict[str, Any]]) -> np.ndarray:
    """Each user's NDCG@10 averaged over the seeds (every run scores the same users in order)."""
    for run in runs[1:]:
        if not np.array_equal(run["users"], runs[0]["users"]):
            raise ValueError("runs scored different users")
    return np.mean([r["per_user"] for r in runs], axis=0)


def segments(split: Any, users: np.ndarray) -> dict[str, tuple[np.ndarray, list[str]]]:
    """History-length and target-popularity labels of the evaluated users (training data only)."""
    lengths = np.bincount(split.train["user"].to_numpy(np.int64), minlength=split.num_users)
    counts = np.bincount(split.train["item"].to_numpy(np.int64), minlength=split.num_items)
    targets = split.test.set_index("user").loc[users, "item"].to_numpy(np.int64)
    history = history_segments(lengths[users])
    order = ["<=20", "21-50", "51-150", ">150"]
    return {
        "history length": (history, order),
        "target popularity": (popularity_segments(counts, targets), list(POPULARITY_THIRDS)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="../shared/data/ml-100k")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated row names")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    seeds = [int(s) for s in args.seeds.split(",")]
    names = [n.strip() for n in args.rows.split(",")]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {list(ROWS)}")
    if BASELINE not in names:
        names.insert(0, BASELINE)
    base = [f"data.source={args.source}", f"train.device={args.device}", *args.overrides]
    split = prepare_split(load_config(None, base))
    bench = Benchmark("ablation")
    runs: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        with bench.stage(name):
            runs[name] = [run_row(ROWS[name], base, seed, split) for seed in seeds]
        print(f"{name}: NDCG@10 {[round(r['ndcg@10'], 4) for r in runs[name]]}", flush=True)
    table = [summarize(name, runs[name], runs[BASELINE]) for name in names]
    print(f"\n## Ablation on {args.source}, seeds {seeds} (test NDCG@10, mean ± sd)\n")
    print(markdown_table(table, floatfmt=".4f"))

    segment_rows = []
    users = runs[BASELINE][0]["users"]
    for kind, (labels, order) in segments(split, users).items():
        for name in [n for n in (BASELINE, DEFAULT) if n in runs]:
            per_user = {METRIC: mean_per_user(runs[name])}
            for row in segment_table(per_user, labels, order):
                segment_rows.append({"by": kind, "row": name, **row})
        if DEFAULT in runs:
            for label in order:
                members = labels == label
                if members.sum() > 1:
                    diff = bootstrap_users(
                        mean_per_user(runs[DEFAULT])[members],
                        mean_per_user(runs[BASELINE])[members],
                    )
                    segment_rows.append(
                        {
                            "by": kind,
                            "row": "difference (95% CI)",
                            "segment": label,
                            "users": int(members.sum()),
                            METRIC: diff.mean,
                            "low": diff.low,
                            "high": diff.high,
                        }
                    )
    print("\n## NDCG@10 by segment (each user's value averaged over seeds)\n")
    print(markdown_table(segment_rows, floatfmt=".4f"))
    for name_runs in runs.values():
        for run in name_runs:
            run.pop("users"), run.pop("per_user")
    path = bench.save(source=args.source, seeds=seeds, rows=table, segments=segment_rows, runs=runs)
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
