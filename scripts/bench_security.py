"""Security benchmark: the tables of SPEC §5 on ML-100K in one run, with seconds per stage.

Runs the full chain of ``graphrec defend report`` at the largest budget of ``--budgets``: the
undefended target (trained with the default `graphrec train` settings, or ``--target``), GRO at
every lambda of ``--lambdas`` chosen on validation users, SEAT and the query-stream detector at
matched volume, and the attack spread over ``--accounts`` accounts against no defense, SEAT
blocking, GRO and the detector-gated defense. Then Agreement@10 against budget (undefended).

    python scripts/bench_security.py [--ml100k PATH] [--budgets 2000,10000,30000]
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

from graphrec.benchmark import Benchmark, markdown_table
from graphrec.config import load_config
from graphrec.security.extraction import ExtractionConfig, agreement_curve
from graphrec.security.oracle import Oracle
from graphrec.security.report import SecurityReportConfig, security_report
from graphrec.security.report_format import format_report
from graphrec.train.trainer import load_trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ml100k", default="../shared/data/ml-100k")
    parser.add_argument("--budgets", default="2000,10000,30000", help="oracle calls")
    parser.add_argument("--strategy", default="autoregressive")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--lambdas", default="0.01,0.1,1")
    parser.add_argument("--gro-epochs", type=int, default=5)
    parser.add_argument("--gro-queries", type=int, default=1, help="GRO queries per sequence")
    parser.add_argument("--gro-warmup", type=int, default=0, help="GRO student warm-up epochs")
    parser.add_argument("--accounts", default="1,5,20,50,100,200", help="accounts of the attack")
    parser.add_argument("--volumes", default="25,50,100,200,500", help="matched volumes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/security_runs"))
    parser.add_argument("--target", type=Path, default=None, help="reuse a trained target run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    budgets = sorted(int(b) for b in args.budgets.split(","))
    config = load_config(
        None, [f"data.source={args.ml100k}", f"train.device={args.device}", f"seed={args.seed}"]
    )
    attack = ExtractionConfig(budget=budgets[-1], strategy=args.strategy, k=args.k)
    settings = SecurityReportConfig(
        attack=attack,
        lambdas=tuple(float(x) for x in args.lambdas.split(",")),
        gro_epochs=args.gro_epochs,
        gro_queries_per_sequence=args.gro_queries,
        gro_student_warmup_epochs=args.gro_warmup,
        account_grid=tuple(int(x) for x in args.accounts.split(",")),
        volumes=tuple(int(x) for x in args.volumes.split(",")),
        target_run=args.target,
    )
    bench = Benchmark("security")
    with bench.stage("full chain"):
        table = security_report(config, args.out, settings)
    print(format_report(table), flush=True)

    with bench.stage("agreement curve"):
        model, split, _ = load_trained(args.target or args.out / "target")
        max_len = config.data.max_len
        curve = agreement_curve(
            Oracle(model, max_len=max_len),
            split,
            budgets,
            replace(attack, budget=budgets[0]),
            eval_oracle=Oracle(model, max_len=max_len),
        )
    columns = [
        "oracle_calls",
        "agreement@1",
        "agreement@10",
        "surrogate_ndcg@10",
        "attack_success",
        "seconds",
    ]
    print("\nAgreement against budget (undefended target)\n")
    print(markdown_table(curve, columns))
    headline = {key: value for key, value in table.items() if not isinstance(value, dict | list)}
    print("\nHeadline figures\n")
    print(markdown_table([headline], list(headline)))
    print("\nSeconds per stage\n")
    print(markdown_table([table["seconds"]], list(table["seconds"])))
    path = bench.save(table=table, curve=curve)
    print(f"\nJSON written to {path}")


if __name__ == "__main__":
    main()
