"""The whole pipeline on the offline default data, stage by stage, ending in a summary table.

Each stage returns a dict of headline figures; :func:`run_demo` collects them so the CLI can print
one table and a notebook can inspect everything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphrec.data.ratings import Ratings
from graphrec.data.split import Split, leave_one_out

log = logging.getLogger(__name__)


@dataclass
class DemoContext:
    """What the stages share: the data, its split and where outputs go."""

    out_dir: Path
    seed: int
    ratings: Ratings
    split: Split
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)


def _data_stage(ctx: DemoContext) -> dict[str, Any]:
    from graphrec.data.analyze import analyze

    stats = analyze(ctx.ratings, ctx.out_dir / "analysis")
    return {
        "users": stats["num_users"],
        "items": stats["num_items"],
        "ratings": stats["num_events"],
        "density": round(float(stats["density"]), 4),
        "train/valid/test events": "/".join(
            str(len(part)) for part in (ctx.split.train, ctx.split.valid, ctx.split.test)
        ),
    }


def _graph_stage(ctx: DemoContext) -> dict[str, Any]:
    from graphrec.graph.export import export_graph
    from graphrec.graph.rating_graph import RatingGraph

    graph = RatingGraph.from_ratings(ctx.split.train_ratings())
    most_active = int(ctx.split.train["user"].value_counts().index[0])
    summary = export_graph(graph, ctx.out_dir / "ego_net.graphml", "graphml", users=[most_active])
    return {
        "nodes": graph.num_users + graph.num_items,
        "train edges": graph.num_edges,
        "exported ego-net": f"{summary.num_nodes} nodes -> {summary.path.name}",
    }


def _recommend_stage(ctx: DemoContext) -> dict[str, Any]:
    """graphrec against most-popular on the demo data (short training: it is a demo)."""
    from graphrec.config import load_config
    from graphrec.train.trainer import train

    figures: dict[str, Any] = {}
    for label, overrides in (("most-popular", ["model.name=popular"]), ("graphrec", [])):
        config = load_config(
            None,
            [
                f"seed={ctx.seed}",
                "train.epochs=20",
                "train.patience=3",
                "train.device=auto",
                *overrides,
            ],
        )
        result = train(config, ctx.out_dir / "runs" / label, split=ctx.split, progress=False)
        figures[f"{label} NDCG@10 / Hit@10"] = (
            f"{result.test['ndcg@10']:.4f} / {result.test['hit@10']:.4f}"
        )
        ctx.models[label] = result.model
    figures["run folders"] = str(ctx.out_dir / "runs")
    return figures


def _security_stage(ctx: DemoContext) -> dict[str, Any]:
    """Attack the demo's graphrec model, GRO-fine-tune it briefly, detect the attack at matched
    volume (SEAT and the query-stream detector) and serve suspected accounts misinformation."""
    import numpy as np

    from graphrec.models.factory import ModelSpec
    from graphrec.security.extraction import ExtractionConfig, run_extraction
    from graphrec.security.gate import GatedOracle, PermutedRecommender, StreamGate
    from graphrec.security.gro import GROConfig, train_gro
    from graphrec.security.oracle import Oracle
    from graphrec.security.report import (
        SecurityReportConfig,
        detector_evaluation,
        fit_detectors,
    )
    from graphrec.security.served import served_model_metrics
    from graphrec.train.checkpoint import load_checkpoint

    if "graphrec" not in ctx.models:
        _recommend_stage(ctx)
    target = ctx.models["graphrec"]
    spec = ModelSpec(**load_checkpoint(ctx.out_dir / "runs" / "graphrec" / "best.pt")["model_spec"])
    max_len = spec.max_len
    attack = ExtractionConfig(budget=3000, length=30)
    report = SecurityReportConfig(
        attack=attack, volumes=(50,), accounts_needed_candidates=(1, 10, 100), detector_splits=1
    )
    detectors = fit_detectors(target, ctx.split, report, max_len=max_len, seed=ctx.seed)
    popularity = np.bincount(ctx.split.train["item"].to_numpy(), minlength=ctx.split.num_items)
    services = {
        "undefended": Oracle(target, max_len=max_len),
        "GRO": Oracle(
            train_gro(
                GROConfig(
                    lamb=0.1, epochs=2, min_valid_utility=0.95, max_len=max_len, seed=ctx.seed
                ),
                ctx.split,
                spec,
                init_state=target.state_dict(),
            ).model,
            max_len=max_len,
        ),
        "gated": GatedOracle(
            target,
            PermutedRecommender(target, popularity, seed=ctx.seed),
            StreamGate(detectors.stream),
            max_len=max_len,
        ),
    }
    agreement = {
        name: run_extraction(
            service, ctx.split, attack, eval_oracle=Oracle(target, max_len=max_len)
        ).metrics["agreement@10"]
        for name, service in services.items()
    }
    figures = detector_evaluation(
        target, ctx.split, detectors, report, max_len=max_len, seed=ctx.seed
    )
    volume = {row["detector"]: row for row in figures["matched_volume_summary"]}
    served = served_model_metrics(target, ctx.split, "test", max_len=max_len)["ndcg@10"]
    return {
        "oracle calls per attack": attack.budget,
        "Agreement@10 undefended / GRO / gated": " / ".join(
            f"{agreement[name]:.3f}" for name in services
        ),
        "served NDCG@10 undefended": f"{served:.4f}",
        "ROC-AUC at 50 queries SEAT / stream": (
            f"{volume['SEAT'].get('roc_auc', float('nan')):.3f} / "
            f"{volume['stream'].get('roc_auc', float('nan')):.3f}"
        ),
    }


def _anomaly_stage(ctx: DemoContext) -> dict[str, Any]:
    """Step 1 of the anomaly task on the demo data: inject every step-1 type, fit the supervised
    detector on the labeled (train) accounts, and score the held-out (test) accounts."""
    from graphrec.anomaly.detectors import InputOptions, SupervisedDetector
    from graphrec.anomaly.task import TRAIN, make_task

    task = make_task(ctx.ratings, 1, seed=ctx.seed)
    y = task.label_series()
    labeled = (task.truth["split"] == TRAIN).to_numpy()
    types = task.truth["type"].where(labeled)
    detector = SupervisedDetector(inputs=InputOptions(seed=ctx.seed), seed=ctx.seed)
    detector.fit(task.ratings, y, types)
    report = task.evaluate(detector.predict(task.ratings))
    figures: dict[str, Any] = {
        "accounts / anomalous": f"{task.ratings.num_users} / {int(task.truth['label'].sum())}",
        "test accounts / anomalous": f"{report['n']} / {report['positives']}",
        "F1": round(report["f1"], 3),
        "precision / recall": f"{report['precision']:.3f} / {report['recall']:.3f}",
    }
    figures.update({f"F1 {kind}": round(f1, 3) for kind, f1 in report["per_type_f1"].items()})
    return figures


STAGES: dict[str, Callable[[DemoContext], dict[str, Any]]] = {
    "data": _data_stage,
    "graph": _graph_stage,
    "recommend": _recommend_stage,
    "security": _security_stage,
    "anomaly": _anomaly_stage,
}


def run_demo(
    out_dir: Path,
    *,
    seed: int = 0,
    source: str = "synthetic:ml-100k",
    stages: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the named stages (all by default) and return their headline figures by stage."""
    from graphrec.data.load import load_ratings

    out_dir.mkdir(parents=True, exist_ok=True)
    ratings = load_ratings(source, seed=seed)
    ctx = DemoContext(out_dir=out_dir, seed=seed, ratings=ratings, split=leave_one_out(ratings))
    for name in stages or list(STAGES):
        if name not in STAGES:
            raise ValueError(f"unknown demo stage {name!r}; stages: {list(STAGES)}")
        start = time.perf_counter()
        ctx.results[name] = STAGES[name](ctx)
        ctx.results[name]["seconds"] = round(time.perf_counter() - start, 1)
        log.info("demo stage %s done in %.1f s", name, ctx.results[name]["seconds"])
    return ctx.results


def format_results(results: dict[str, dict[str, Any]]) -> str:
    """One table: a block of `key  value` rows per stage."""
    lines = ["graphrec demo summary", "=" * 60]
    for stage, figures in results.items():
        lines.append(f"[{stage}]")
        lines.extend(f"  {key:<28} {value}" for key, value in figures.items())
    return "\n".join(lines)
