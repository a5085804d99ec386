"""The security report as text: GRO, matched-volume detection, accounts against agreement, gate."""

from __future__ import annotations

from typing import Any

from graphrec.tables import metrics_table


def format_report(table: dict[str, Any]) -> str:
    """Four tables: GRO on validation and test, matched-volume detection, the attack over N
    accounts against each defense, and the gate's benign utility and evasion cost."""
    return "\n\n".join(
        [
            _gro_table(table),
            volume_table(table),
            _accounts_table(table),
            _gate_table(table),
        ]
    )


def _gro_table(table: dict[str, Any]) -> str:
    sweep = {
        f"GRO lambda={row['lambda']:g}{' *' if row['lambda'] == table['gro_lambda'] else ''}": {
            "epoch": int(row["epoch"]),
            "served utility": row["served_utility"],
            "agreement@10": row["valid_agreement@10"],
            "surrogate ndcg@10": row["valid_surrogate_ndcg@10"],
        }
        for row in table["gro_sweep"]
    }
    test = {
        "undefended": {
            "ndcg@10": table["target_ndcg10"],
            "utility": 1.0,
            "served utility": 1.0,
            "agreement@10": table["agreement10_undefended"],
            "surrogate ndcg@10": table["surrogate_ndcg10_undefended"],
        },
        f"GRO lambda={table['gro_lambda']:g}": {
            "ndcg@10": table["gro_ndcg10"],
            "utility": table["utility_preservation"],
            "served utility": table["served_utility_preservation"],
            "agreement@10": table["agreement10_gro"],
            "surrogate ndcg@10": table["surrogate_ndcg10_gro"],
        },
    }
    return "\n".join(
        [
            f"attack: {table['attack_strategy']}, k={table['attack_k']}, "
            f"{table['oracle_calls']:,} oracle calls",
            "GRO sweep on VALIDATION users (* = chosen: lowest agreement keeping served utility)",
            metrics_table(sweep),
            "",
            "TEST users, once, for the chosen lambda",
            metrics_table(test),
        ]
    )


def volume_table(table: dict[str, Any]) -> str:
    """The matched-volume rows of both detectors (``table["matched_volume"]``)."""
    rows = {}
    for row in table["matched_volume"]:
        cells = {
            "benign": row["benign_accounts"],
            "attack": row["attack_accounts"],
            "roc auc": row.get("roc_auc"),
            "pr auc": row.get("pr_auc"),
            "detection": row.get("detection_rate"),
            "fpr": row.get("false_positive_rate"),
            "fpr 95% ci": "-" if "fpr_ci" not in row else "{:.3f}-{:.3f}".format(*row["fpr_ci"]),
            "aggregator flags": row.get("aggregator_flag_rate"),
        }
        cells.update(
            {
                f"det {key.split('/')[1]}": value
                for key, value in row.items()
                if key.startswith("detection_rate/")
            }
        )
        rows[f"{row['detector']} n={row['volume']}"] = cells
    return "\n".join(
        [
            "Detection at matched volume: n queries per account, attack and benign (stride 1); "
            "thresholds calibrated at 1 % FPR on calibration users, FPR on evaluation users; "
            "auc and detection of the report's attack, det <strategy> of each attack strategy",
            metrics_table(rows, digits=3),
        ]
    )


def _accounts_table(table: dict[str, Any]) -> str:
    rows: dict[str, dict[str, Any]] = {}
    for row in table["accounts_table"]:
        cells = rows.setdefault(f"{row['accounts']} accounts", {})
        cells[f"{row['defense']} agr@10"] = row["agreement@10"]
    surrogate: dict[str, dict[str, Any]] = {}
    for row in table["accounts_table"]:
        cells = surrogate.setdefault(f"{row['accounts']} accounts", {})
        cells[f"{row['defense']} sur ndcg"] = row["surrogate_ndcg@10"]
    needed = table["accounts_for_agreement50"]
    return "\n".join(
        [
            "The attack's budget spread over N accounts: Agreement@10 on test users",
            metrics_table(rows, digits=3),
            "",
            "Surrogate NDCG@10 on test users",
            metrics_table(surrogate, digits=4),
            "",
            "Accounts to reach Agreement@10 >= 0.5 (- : not within "
            f"{max(table['account_grid'])}): "
            + ", ".join(f"{name} {'-' if v is None else v}" for name, v in needed.items()),
        ]
    )


def _gate_table(table: dict[str, Any]) -> str:
    rows = {
        name: {
            "benign utility": figures["utility"],
            "gated users": figures["gated_users"],
            "gated queries": figures["gated_query_share"],
        }
        for name, figures in table["gated_benign"].items()
    }
    return "\n".join(
        [
            f"Gate (policy chosen on validation: {table['gate_policy']}); benign users of the "
            "evaluation group replaying every rating, served test NDCG@10 / undefended",
            metrics_table(rows, digits=4),
            "",
            f"accounts needed to stay unflagged: SEAT {table['accounts_needed']:g} "
            f"({table['accounts_needed_volume']:.0f} queries each), stream "
            f"{table['accounts_needed_stream']:g} "
            f"({table['accounts_needed_stream_volume']:.0f} queries each)",
        ]
    )
