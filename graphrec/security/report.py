"""The whole security chain in one call: train a target, attack it, defend it, detect the attack.

Stages (each timed): (1) train the undefended target; (2) extract it through its oracle;
(3) GRO: fine-tune the target with the swap loss at every lambda and attack each defended model
with the same attack; (4) SEAT: fit on benign replayed histories, calibrate on held-out users,
measure detection on single-account attacks, false positives on other held-out users, and
simulate the accounts an attacker needs. Every figure in the returned table is measured here.

The GRO lambda reported as ``gro_lambda`` is the one that cuts Agreement@10 the most while
keeping utility preservation at or above ``min_utility``; when none does, the one with the best
utility (the table keeps every lambda either way).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from graphrec.config import Config
from graphrec.eval.ranking import evaluate
from graphrec.models.factory import ModelSpec
from graphrec.security.extraction import ExtractionConfig, run_extraction
from graphrec.security.gro import GROConfig, train_gro
from graphrec.security.oracle import Oracle
from graphrec.security.queries import (
    autoregressive_queries,
    label_prefixes,
    random_queries,
    sequences_for_budget,
)
from graphrec.security.seat import SEATDetector
from graphrec.security.seat.monitor import accounts_needed, detection_report
from graphrec.security.traffic import benign_streams, split_users
from graphrec.tables import metrics_table
from graphrec.train.checkpoint import load_checkpoint
from graphrec.train.trainer import build_for_split, load_trained, train

log = logging.getLogger(__name__)


@dataclass
class SecurityReportConfig:
    """Settings of the chain (the target's own settings come from the root config).

    Attributes:
        attack: the extraction attack run against every model.
        lambdas: GRO lambdas to sweep.
        gro_epochs: GRO fine-tuning epochs per lambda (warm-started from the target).
        min_utility: utility preservation a reported GRO lambda must keep; each GRO run also
            selects its last epoch keeping this share of the target's validation NDCG@10.
        gro_queries_per_sequence: GRO queries (random prefixes) per training sequence per step.
        gro_student_warmup_epochs: epochs the GRO student learns the target's lists first.
        attack_accounts: independent single-account attacks SEAT is scored on.
        benign_stride: benign users replay a query every this many events.
        seat_epochs: SEAT encoder training epochs (None: the detector's default).
        target_run: defend this already trained run (a `graphrec train` folder) instead of
            training a new target; its own config then sets the data and model.
    """

    attack: ExtractionConfig = field(default_factory=ExtractionConfig)
    lambdas: tuple[float, ...] = (0.01, 0.1, 1.0)
    gro_epochs: int = 5
    min_utility: float = 0.95
    gro_queries_per_sequence: int = 1
    gro_student_warmup_epochs: int = 0
    attack_accounts: int = 20
    benign_stride: int = 5
    seat_epochs: int | None = None
    target_run: Path | None = None


def security_report(
    config: Config, run_dir: Path, report: SecurityReportConfig | None = None
) -> dict[str, Any]:
    """Run every stage and return the table (the keys of ``graphrec defend report --json``)."""
    report = report or SecurityReportConfig()
    run_dir = Path(run_dir)
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    target = _target(config, run_dir, report)
    config = target.config
    split, max_len = target.split, config.data.max_len
    seconds["train_target"] = time.perf_counter() - start
    target_ndcg = target.test["ndcg@10"]

    start = time.perf_counter()
    oracle = _serve(target.model, max_len)
    undefended = run_extraction(
        oracle, split, report.attack, eval_oracle=_serve(target.model, max_len)
    )
    seconds["attack_undefended"] = time.perf_counter() - start

    gro_rows = []
    for lamb in report.lambdas:
        start = time.perf_counter()
        gro_config = GROConfig(
            lamb=lamb,
            k=report.attack.k,  # the defender simulates the lists the attacker is served
            epochs=report.gro_epochs,
            min_valid_utility=report.min_utility,  # the most defended epoch keeping the utility
            queries_per_sequence=report.gro_queries_per_sequence,
            student_warmup_epochs=report.gro_student_warmup_epochs,
            max_len=max_len,
            seed=config.seed,
            device=str(next(target.model.parameters()).device),
            batch_size=config.train.batch_size,
            lr=config.train.lr,
            weight_decay=config.train.weight_decay,
        )
        defended = train_gro(
            gro_config,
            split,
            target.spec,
            init_state=target.model.state_dict(),
            run_dir=run_dir / f"gro_lambda_{lamb:g}",
        )
        attack = run_extraction(
            _serve(defended.model, max_len),
            split,
            report.attack,
            eval_oracle=_serve(defended.model, max_len),
        )
        gro_rows.append(
            {
                "lambda": lamb,
                "ndcg10": defended.test["ndcg@10"],
                "utility_preservation": defended.test["ndcg@10"] / target_ndcg,
                "agreement10": attack.metrics["agreement@10"],
                "surrogate_ndcg10": attack.metrics["surrogate_ndcg@10"],
                "attack_success": attack.metrics["attack_success"],
                "seconds": time.perf_counter() - start,
            }
        )
    chosen = _choose_lambda(gro_rows, report.min_utility)
    seconds["gro"] = sum(row["seconds"] for row in gro_rows)

    start = time.perf_counter()
    seat = seat_evaluation(
        target.model, split, report, max_len=max_len, seed=config.seed, oracle=oracle
    )
    seconds["seat"] = time.perf_counter() - start

    und = undefended.metrics
    return {
        "target_ndcg10": target_ndcg,
        "gro_lambda": chosen["lambda"],
        "gro_ndcg10": chosen["ndcg10"],
        "utility_preservation": chosen["utility_preservation"],
        "agreement1_undefended": und["agreement@1"],
        "agreement10_undefended": und["agreement@10"],
        "agreement10_gro": chosen["agreement10"],
        "agreement10_cut": 1.0 - chosen["agreement10"] / und["agreement@10"],
        "surrogate_ndcg10_undefended": und["surrogate_ndcg@10"],
        "surrogate_ndcg10_gro": chosen["surrogate_ndcg10"],
        "attack_success_undefended": und["attack_success"],
        "attack_success_gro": chosen["attack_success"],
        "oracle_calls": int(und["oracle_calls"]),
        "attack_strategy": report.attack.strategy,
        "attack_k": report.attack.k,
        **seat,
        "gro_sweep": gro_rows,
        "seconds": seconds,
    }


def load_defended(run_dir: Path, split: Any, device: str = "cpu") -> Any:
    """The best model of a GRO run folder, over the target's split (same training graph)."""
    checkpoint = load_checkpoint(Path(run_dir) / "best.pt", device)
    model = build_for_split(ModelSpec(**checkpoint["model_spec"]), split, device=device)
    model.load_state_dict(checkpoint["model_state"])
    return model.eval()


def format_report(table: dict[str, Any]) -> str:
    """Undefended, GRO at every lambda, and SEAT, as one text table."""
    rows = {
        "undefended": {
            "target ndcg@10": table["target_ndcg10"],
            "utility": 1.0,
            "agreement@10": table["agreement10_undefended"],
            "surrogate ndcg@10": table["surrogate_ndcg10_undefended"],
            "attack success": table["attack_success_undefended"],
        }
    }
    for row in table["gro_sweep"]:
        mark = " *" if row["lambda"] == table["gro_lambda"] else ""
        rows[f"GRO lambda={row['lambda']:g}{mark}"] = {
            "target ndcg@10": row["ndcg10"],
            "utility": row["utility_preservation"],
            "agreement@10": row["agreement10"],
            "surrogate ndcg@10": row["surrogate_ndcg10"],
            "attack success": row["attack_success"],
        }
    seat = {
        "SEAT off": {"detection rate": 0.0, "fpr": 0.0, "accounts needed": 1},
        "SEAT on": {
            "detection rate": table["seat_detection_rate"],
            "fpr": table["seat_fpr"],
            "accounts needed": table["accounts_needed"],
        },
    }
    return "\n".join(
        [
            f"attack: {table['attack_strategy']}, k={table['attack_k']}, "
            f"{table['oracle_calls']:,} oracle calls (* = reported lambda)",
            metrics_table(rows),
            "",
            metrics_table(seat),
        ]
    )


@dataclass
class _Target:
    model: Any
    split: Any
    spec: ModelSpec
    test: dict[str, float]
    config: Config


def _target(config: Config, run_dir: Path, report: SecurityReportConfig) -> _Target:
    """Train the undefended target, or load ``report.target_run``."""
    if report.target_run is None:
        result = train(config, run_dir / "target", progress=False)
        return _Target(result.model, result.split, result.spec, result.test, config)
    model, split, config = load_trained(report.target_run)
    spec = ModelSpec(**load_checkpoint(Path(report.target_run) / "best.pt")["model_spec"])
    test = evaluate(model, split, "test", ks=config.eval.ks, max_len=config.data.max_len)
    return _Target(model, split, spec, test, config)


def _serve(model: Any, max_len: int) -> Oracle:
    """The model behind an oracle (lists of up to 100 items, fewer in a smaller catalogue).

    Separate oracles serve the attacker and the defender's evaluation queries, so evaluation is
    never counted as attack calls.
    """
    return Oracle(model, max_len=max_len, max_k=min(100, int(model.num_items)))


def _choose_lambda(rows: list[dict[str, float]], min_utility: float) -> dict[str, float]:
    keeping = [row for row in rows if row["utility_preservation"] >= min_utility]
    if keeping:
        return min(keeping, key=lambda row: row["agreement10"])
    return max(rows, key=lambda row: row["utility_preservation"])


def seat_evaluation(
    model: Any,
    split: Any,
    report: SecurityReportConfig,
    *,
    max_len: int,
    seed: int,
    oracle: Oracle | None = None,
) -> dict[str, float]:
    """Fit SEAT on benign users, calibrate on others, score attacks and yet other benign users.

    Users are split three ways (encoder training / calibration / evaluation, disjoint). Attack
    accounts: ``report.attack_accounts`` single-account attacks of ``report.attack`` (the
    oracle's existing ``report.attack.account`` log counts as the first when present). The
    accounts-needed simulation spreads the first attack's queries.
    """
    oracle = oracle or _serve(model, max_len)
    events = split.ratings.events
    train_users, calibration_users, evaluation_users = split_users(
        np.arange(split.num_users), seed=seed
    )

    def streams(users: np.ndarray) -> dict[str, list[tuple[int, ...]]]:
        return benign_streams(
            events, users, num_users=split.num_users, max_len=max_len, stride=report.benign_stride
        )

    detector = SEATDetector.from_recommender(model, max_len=max_len)
    if report.seat_epochs is not None:
        detector.training = replace(detector.training, epochs=report.seat_epochs)
    detector.fit(streams(train_users), calibration_streams=streams(calibration_users))
    attack_streams = _attack_streams(oracle, report)
    scores = detection_report(detector, attack_streams, list(streams(evaluation_users).values()))
    return {
        "seat_detection_rate": scores["detection_rate"],
        "seat_fpr": scores["false_positive_rate"],
        "seat_attack_accounts": int(scores["attack_accounts"]),
        "seat_benign_accounts": int(scores["benign_accounts"]),
        "seat_pair_threshold": float(detector.pair_threshold_),
        "seat_account_limit": int(detector.threshold_),
        "accounts_needed": accounts_needed(attack_streams[0], detector),
        "accounts_needed_contiguous": accounts_needed(
            attack_streams[0], detector, strategy="contiguous"
        ),
    }


def _attack_streams(oracle: Oracle, report: SecurityReportConfig) -> list[list]:
    """Query streams of single-account attacks (other seeds, same strategy and budget)."""
    attack = report.attack
    count = sequences_for_budget(attack.budget, attack.length)
    streams = []
    if oracle.calls_of(attack.account):
        streams.append(oracle.query_log[attack.account])
    for n in range(1, report.attack_accounts + 1 - len(streams)):
        account, rng = f"attacker_{n}", np.random.default_rng(attack.seed + n)
        if attack.strategy == "random":
            sequences = random_queries(oracle.num_items, count, attack.length, rng)
            label_prefixes(oracle, sequences, attack.k, budget=attack.budget, account=account)
        else:
            autoregressive_queries(
                oracle,
                oracle.num_items,
                count,
                attack.length,
                attack.k,
                rng,
                account,
                budget=attack.budget,
                sampling=attack.sampling,
            )
        streams.append(oracle.query_log[account])
    return streams
