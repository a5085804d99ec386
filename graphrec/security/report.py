"""The whole security chain in one call: train, attack, defend, detect, gate; every figure measured.

Stages (each timed):

1. the undefended target (trained, or loaded from ``target_run``);
2. GRO at every lambda, its epoch and lambda chosen on VALIDATION users
   (:mod:`graphrec.security.gro.select`), test figures computed once for the chosen lambda, with
   utility both user-fused (``utility_preservation``) and on what the oracle serves
   (``served_utility_preservation``);
3. detection (:func:`detector_evaluation`): SEAT and the query-stream detector fitted on
   training users' benign streams (stride 1), calibrated on calibration users, and measured at
   matched volume on evaluation users (:mod:`graphrec.security.volume`), with the aggregator
   control and the accounts an attacker needs to stay unflagged;
4. the defenses as deployed (:mod:`graphrec.security.defense_eval`): the gate's threshold tuned
   on validation users for each misinformation policy (item permutation, the GRO model), the
   policy chosen on validation Agreement@10, and the attack over N accounts against no defense,
   SEAT blocking, GRO alone and the gate; the gated benign utility on held-out test users.

Users are split once (seeded) into detector-training, calibration and evaluation users
(40/30/30 %); choices read validation items only, reports read test items.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from graphrec.config import Config
from graphrec.data.split import Split
from graphrec.eval.ranking import evaluate
from graphrec.models.factory import ModelSpec
from graphrec.security.defense_eval import (
    GATE_SCALES,
    accounts_for_agreement,
    accounts_table,
    gated_utility,
    tune_gate,
)
from graphrec.security.extraction import STRATEGIES, ExtractionConfig
from graphrec.security.gate import GatedOracle, PermutedRecommender, StreamGate
from graphrec.security.gro import GROConfig
from graphrec.security.gro.select import choose_lambda, sweep_candidates, test_candidate
from graphrec.security.oracle import Oracle
from graphrec.security.seat import AccountMonitor, SEATDetector
from graphrec.security.served import served_model_metrics
from graphrec.security.stream import QueryStreamDetector
from graphrec.security.traffic import benign_streams, split_users
from graphrec.security.volume import (
    VOLUMES,
    accounts_needed_by_volume,
    attack_accounts,
    matched_volume_table,
    summarize_splits,
)
from graphrec.train.checkpoint import load_checkpoint
from graphrec.train.trainer import build_for_split, load_trained, train

log = logging.getLogger(__name__)

ACCOUNT_GRID = (1, 5, 20, 50, 100, 200)
"""Accounts the attack's budget is spread over in the accounts-vs-agreement table."""
HEADLINE_VOLUME = 100
"""Queries per account of the detectors' headline figures."""


@dataclass
class SecurityReportConfig:
    """Settings of the chain (the target's own settings come from the root config).

    Attributes:
        attack: the extraction attack run against every defense.
        lambdas: GRO lambdas to sweep.
        gro_epochs: GRO fine-tuning epochs per lambda (warm-started from the target).
        min_utility: served validation utility a GRO epoch and lambda must keep (0.95).
        gro_queries_per_sequence: GRO queries (random prefixes) per training sequence per step.
        gro_student_warmup_epochs: epochs the GRO student learns the target's lists first.
        volumes: queries per account of the matched-volume table.
        account_grid: accounts the attack spreads over in the accounts-vs-agreement table.
        account_fpr: calibrated false-positive rate of the detectors (1 %).
        benign_stride: benign users query every this many ratings (1: after every rating).
        seat_epochs: SEAT encoder training epochs (None: the detector's default).
        detector_splits: user splits the matched-volume table is measured on (3).
        min_benign_utility: served benign utility the gate must keep (0.99).
        gate_scales: multiples of the calibrated thresholds tried as the gate's soft threshold.
        gate_policies: misinformation policies the gate may serve (``permuted``, ``gro``).
        accounts_needed_candidates: account counts tried by the volume search.
        target_run: defend this already trained run (a `graphrec train` folder) instead of
            training a new target; its own config then sets the data and model.
    """

    attack: ExtractionConfig = field(default_factory=ExtractionConfig)
    lambdas: tuple[float, ...] = (0.01, 0.1, 1.0)
    gro_epochs: int = 5
    min_utility: float = 0.95
    gro_queries_per_sequence: int = 1
    gro_student_warmup_epochs: int = 0
    volumes: tuple[int, ...] = VOLUMES
    account_grid: tuple[int, ...] = ACCOUNT_GRID
    account_fpr: float = 0.01
    benign_stride: int = 1
    seat_epochs: int | None = None
    detector_splits: int = 3
    min_benign_utility: float = 0.99
    gate_scales: tuple[float, ...] = GATE_SCALES
    gate_policies: tuple[str, ...] = ("permuted", "gro")
    accounts_needed_candidates: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
    target_run: Path | None = None


@dataclass
class Detectors:
    """The fitted detectors and the user groups they were fitted, calibrated and measured on."""

    seat: SEATDetector
    stream: QueryStreamDetector
    train_users: np.ndarray
    calibration_users: np.ndarray
    evaluation_users: np.ndarray


def security_report(
    config: Config, run_dir: Path, report: SecurityReportConfig | None = None
) -> dict[str, Any]:
    """Run every stage and return the table (the keys of ``graphrec defend report --json``)."""
    report = report or SecurityReportConfig()
    run_dir = Path(run_dir)
    seconds: dict[str, float] = {}
    clock = _Clock(seconds)

    with clock("train_target"):
        model, split, spec, config = _target(config, run_dir, report)
    max_len = config.data.max_len
    target_test = evaluate(model, split, "test", ks=config.eval.ks, max_len=max_len)
    target_served = {
        stage: served_model_metrics(model, split, stage, max_len=max_len)["ndcg@10"]
        for stage in ("valid", "test")
    }

    with clock("gro"):
        gro_config = GROConfig(
            k=report.attack.k,  # the defender simulates the lists the attacker is served
            epochs=report.gro_epochs,
            min_valid_utility=report.min_utility,
            queries_per_sequence=report.gro_queries_per_sequence,
            student_warmup_epochs=report.gro_student_warmup_epochs,
            max_len=max_len,
            seed=config.seed,
            device=str(next(model.parameters()).device),
            batch_size=config.train.batch_size,
            lr=config.train.lr,
            weight_decay=config.train.weight_decay,
        )
        candidates = sweep_candidates(
            gro_config,
            split,
            spec,
            report.lambdas,
            report.attack,
            init_state=model.state_dict(),
            target_valid_served=target_served["valid"],
            run_root=run_dir,
        )
        chosen = choose_lambda(candidates, report.min_utility)
        gro_test = test_candidate(chosen, split, max_len=max_len, ks=config.eval.ks)
    gro_model = chosen.result.model

    with clock("detectors"):
        detectors = fit_detectors(model, split, report, max_len=max_len, seed=config.seed)
        detection = detector_evaluation(
            model, split, detectors, report, max_len=max_len, seed=config.seed
        )

    with clock("gate"):
        popularity = np.bincount(split.train["item"].to_numpy(), minlength=split.num_items)
        policies = {
            "permuted": PermutedRecommender(model, popularity, seed=config.seed),
            "gro": gro_model,
        }
        policies = {name: policies[name] for name in report.gate_policies}
        tuning_users = np.concatenate([detectors.train_users, detectors.calibration_users])
        thresholds, tuning = {}, {}
        for name, defended in policies.items():
            thresholds[name], tuning[name] = tune_gate(
                detectors.stream,
                model,
                defended,
                split,
                users=tuning_users,
                max_len=max_len,
                min_utility=report.min_benign_utility,
                scales=report.gate_scales,
            )

    with clock("accounts_table"):
        services = _services(model, gro_model, detectors, policies, thresholds, max_len)
        rows = accounts_table(services, split, report.attack, report.account_grid)
    gated_names = [f"gated ({name})" for name in policies]
    best_policy = min(
        policies,
        key=lambda name: np.mean(
            [r["valid_agreement@10"] for r in rows if r["defense"] == f"gated ({name})"]
        ),
    )

    with clock("gated_utility"):
        benign = {
            name: gated_utility(
                model,
                defended,
                StreamGate(detectors.stream, thresholds[name]),
                split,
                "test",
                users=detectors.evaluation_users,
                max_len=max_len,
            )
            for name, defended in policies.items()
        }

    undefended_attack = next(
        r
        for r in rows
        if r["defense"] == "undefended" and r["accounts"] == min(report.account_grid)
    )
    chosen_gated = f"gated ({best_policy})"
    return {
        "target_ndcg10": target_test["ndcg@10"],
        "target_served_ndcg10": target_served["test"],
        "selection_split": "validation",
        "gro_lambda": chosen.lamb,
        "gro_epoch": chosen.result.best_epoch,
        "gro_ndcg10": gro_test["ndcg10"],
        "utility_preservation": gro_test["ndcg10"] / target_test["ndcg@10"],
        "served_utility_preservation": gro_test["served_ndcg10"] / target_served["test"],
        "agreement1_undefended": undefended_attack["agreement@1"],
        "agreement10_undefended": undefended_attack["agreement@10"],
        "agreement10_gro": gro_test["agreement@10"],
        "agreement10_cut": 1.0 - gro_test["agreement@10"] / undefended_attack["agreement@10"],
        "surrogate_ndcg10_undefended": undefended_attack["surrogate_ndcg@10"],
        "surrogate_ndcg10_gro": gro_test["surrogate_ndcg@10"],
        "attack_success_undefended": undefended_attack["attack_success"],
        "attack_success_gro": gro_test["attack_success"],
        "oracle_calls": int(undefended_attack["oracle_calls"]),
        "attack_strategy": report.attack.strategy,
        "attack_k": report.attack.k,
        **detection,
        "gate_policy": best_policy,
        "gate_thresholds": thresholds[best_policy].tolist(),
        "gated_benign_utility": benign[best_policy]["utility"],
        "gated_benign_users": benign[best_policy]["gated_users"],
        "gated_benign_query_share": benign[best_policy]["gated_query_share"],
        "accounts_for_agreement50": {
            "undefended": accounts_for_agreement(rows, "undefended"),
            "seat_block": accounts_for_agreement(rows, "SEAT block"),
            "gro": accounts_for_agreement(rows, "GRO"),
            "gated": accounts_for_agreement(rows, chosen_gated),
        },
        "account_grid": list(report.account_grid),
        "accounts_table": rows,
        "gated_benign": benign,
        "gated_defenses": gated_names,
        "gate_tuning": tuning,
        "gro_sweep": [c.valid for c in candidates],
        "seconds": seconds,
    }


def fit_detectors(
    model: nn.Module, split: Split, report: SecurityReportConfig, *, max_len: int, seed: int
) -> Detectors:
    """SEAT and the stream detector, fitted on training users, neither on evaluation users.

    SEAT's pair threshold needs benign pairs its encoder never saw: it is calibrated on the
    calibration users. The stream detector's thresholds are calibrated on training AND
    calibration users: the benign tail it must clear (the rare users who move almost at random
    with respect to the model) is sparse, and a 30 % sample misses it; measured at matched
    volume over three user splits, this cut the false-positive rate at 100 queries from
    1.5 / 7.1 / 4.7 % to 0.0 / 2.2 / 3.7 %.
    """
    train_users, calibration_users, evaluation_users = split_users(
        np.arange(split.num_users), seed=seed
    )
    streams = _streams(split, max_len, report.benign_stride)
    seat = SEATDetector.from_recommender(model, max_len=max_len, account_fpr=report.account_fpr)
    if report.seat_epochs is not None:
        seat.training = replace(seat.training, epochs=report.seat_epochs)
    seat.fit(streams(train_users), calibration_streams=streams(calibration_users))
    stream = QueryStreamDetector(
        model,
        max_len=max_len,
        list_length=min(report.attack.k, split.num_items),
        account_fpr=report.account_fpr,
        item_popularity=np.bincount(split.train["item"].to_numpy(), minlength=split.num_items),
    )
    known = np.concatenate([train_users, calibration_users])
    stream.fit(streams(train_users), streams(known))
    return Detectors(seat, stream, train_users, calibration_users, evaluation_users)


def detector_evaluation(
    model: nn.Module,
    split: Split,
    detectors: Detectors,
    report: SecurityReportConfig,
    *,
    max_len: int,
    seed: int,
) -> dict[str, Any]:
    """Matched-volume figures of both detectors and the accounts an attacker needs to evade each.

    The matched-volume table is measured on ``report.detector_splits`` user splits (seeds
    ``seed, seed + 1, ...``; ``detectors`` is the first split's, the others are fitted here):
    benign users differ so much that one split's false-positive rate says little. Returns the
    ``seat_*``, ``stream_*``, ``accounts_needed*`` and ``aggregator_flag_rate*`` keys of the
    report (means over the splits, with ``_min`` / ``_max`` where a range is given), the
    per-split ``matched_volume`` rows and their ``matched_volume_summary``. Keys without a volume
    in their name are taken at ``headline_volume``, the volume of the table closest to 100
    queries (the ``_n100`` keys are None when 100 is not one of the volumes). The accounts
    needed are simulated on the first split's detectors.
    """
    streams = _streams(split, max_len, report.benign_stride)
    probe = Oracle(model, max_len=max_len, max_k=min(100, split.num_items))
    strategies = [report.attack.strategy] + [s for s in STRATEGIES if s != report.attack.strategy]
    attack_streams = {
        strategy: {
            n: attack_accounts(
                probe, replace(report.attack, strategy=strategy), n, account=f"{strategy}{n}"
            )
            for n in report.volumes
        }
        for strategy in strategies
    }
    rows = []
    for offset in range(report.detector_splits):
        fitted = (
            detectors
            if offset == 0
            else fit_detectors(model, split, report, max_len=max_len, seed=seed + offset)
        )
        known = np.concatenate([fitted.train_users, fitted.calibration_users])
        split_rows = matched_volume_table(
            {"SEAT": fitted.seat, "stream": fitted.stream},
            calibration_streams=list(streams(known).values()),
            evaluation_streams=list(streams(fitted.evaluation_users).values()),
            attack_streams=attack_streams,
            volumes=report.volumes,
            account_fpr=report.account_fpr,
        )
        rows.extend({**row, "split_seed": seed + offset} for row in split_rows)
    summary = summarize_splits(rows)
    named = {"SEAT": detectors.seat, "stream": detectors.stream}
    needed = {}
    for name, detector in named.items():

        def flags(accounts: int, detector: Any = detector, name: str = name) -> np.ndarray:
            volume = max(1, report.attack.budget // accounts)
            spread = attack_accounts(probe, report.attack, volume, account=f"{name}{accounts}_")
            return detector.predict(spread)

        needed[name] = accounts_needed_by_volume(
            flags, report.attack.budget, candidates=report.accounts_needed_candidates
        )
    headline = min(report.volumes, key=lambda n: (abs(n - HEADLINE_VOLUME), -n))
    at = {row["detector"]: row for row in summary if row["volume"] == headline}
    figures: dict[str, Any] = {"headline_volume": headline}
    for name, prefix in (("SEAT", "seat"), ("stream", "stream")):
        row = at.get(name, {}) if headline == HEADLINE_VOLUME else {}
        for key, name_ in (
            ("roc_auc", "auc"),
            ("pr_auc", "pr_auc"),
            ("detection_rate", "detection"),
            ("false_positive_rate", "fpr"),
        ):
            figures[f"{prefix}_{name_}_n100"] = row.get(key)
            figures[f"{prefix}_{name_}_n100_range"] = (
                [row[f"{key}_min"], row[f"{key}_max"]] if f"{key}_min" in row else None
            )
    figures.update(
        seat_detection_rate=at.get("SEAT", {}).get("detection_rate"),
        seat_fpr=at.get("SEAT", {}).get("false_positive_rate"),
        aggregator_flag_rate=at.get("SEAT", {}).get("aggregator_flag_rate"),
        stream_aggregator_flag_rate=at.get("stream", {}).get("aggregator_flag_rate"),
        accounts_needed=needed["SEAT"]["accounts"],
        accounts_needed_volume=needed["SEAT"]["volume"],
        accounts_needed_stream=needed["stream"]["accounts"],
        accounts_needed_stream_volume=needed["stream"]["volume"],
        seat_pair_threshold=float(detectors.seat.pair_threshold_),
        seat_account_limit=int(detectors.seat.threshold_),
        stream_thresholds=detectors.stream.thresholds_.tolist(),
        matched_volume=rows,
        matched_volume_summary=summary,
        detector_splits=report.detector_splits,
    )
    return figures


def load_defended(run_dir: Path, split: Any, device: str = "cpu") -> Any:
    """The best model of a GRO run folder, over the target's split (same training graph)."""
    checkpoint = load_checkpoint(Path(run_dir) / "best.pt", device)
    model = build_for_split(ModelSpec(**checkpoint["model_spec"]), split, device=device)
    model.load_state_dict(checkpoint["model_state"])
    return model.eval()


def _target(
    config: Config, run_dir: Path, report: SecurityReportConfig
) -> tuple[nn.Module, Split, ModelSpec, Config]:
    """Train the undefended target, or load ``report.target_run``."""
    if report.target_run is None:
        result = train(config, run_dir / "target", progress=False)
        return result.model, result.split, result.spec, config
    model, split, config = load_trained(report.target_run)
    spec = ModelSpec(**load_checkpoint(Path(report.target_run) / "best.pt")["model_spec"])
    return model, split, spec, config


def _streams(split: Split, max_len: int, stride: int) -> Callable[[np.ndarray], dict]:
    def streams(users: np.ndarray) -> dict[str, list[tuple[int, ...]]]:
        return benign_streams(
            split.ratings.events, users, num_users=split.num_users, max_len=max_len, stride=stride
        )

    return streams


def _serve(model: nn.Module, max_len: int, **kwargs: Any) -> Oracle:
    """The model behind an oracle (lists of up to 100 items, fewer in a smaller catalogue)."""
    return Oracle(model, max_len=max_len, max_k=min(100, int(model.num_items)), **kwargs)


def _services(
    model: nn.Module,
    gro_model: nn.Module,
    detectors: Detectors,
    policies: dict[str, nn.Module],
    thresholds: dict[str, np.ndarray],
    max_len: int,
) -> dict[str, Callable]:
    """A fresh service factory per defense (see :data:`defense_eval.ServiceFactory`)."""

    def undefended() -> tuple:
        return _serve(model, max_len), _serve(model, max_len), lambda: 0.0

    def seat_block() -> tuple:
        monitor = AccountMonitor(detectors.seat)
        service = _serve(model, max_len, gate=monitor)

        def blocked() -> float:
            refused = sum(service.refused_by_account.values())
            return refused / max(refused + service.calls, 1)

        return service, _serve(model, max_len), blocked

    def gro() -> tuple:
        return _serve(gro_model, max_len), _serve(gro_model, max_len), lambda: 0.0

    def gated(name: str) -> Callable:
        def factory() -> tuple:
            gate = StreamGate(detectors.stream, thresholds[name])
            service = GatedOracle(
                model, policies[name], gate, max_len=max_len, max_k=min(100, model.num_items)
            )
            return service, _serve(model, max_len), gate.gated_share

        return factory

    services = {"undefended": undefended, "SEAT block": seat_block, "GRO": gro}
    services.update({f"gated ({name})": gated(name) for name in policies})
    return services


class _Clock:
    """``with clock(name):`` adds the block's wall-clock seconds to ``seconds[name]``."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds

    def __call__(self, name: str) -> _Clock:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._start = time.perf_counter()
        log.info("security report: %s", self._name)

    def __exit__(self, *exc: object) -> None:
        self.seconds[self._name] = time.perf_counter() - self._start
