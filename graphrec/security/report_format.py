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
    """Matched-volume figures of both detectors: means over the user splits [min, max]."""
    rows = {}
    for row in table["matched_volume_summary"]:
        cells: dict[str, Any] = {
            "benign": round(row["benign_accounts"]),
            "attack": round(row["attack_accounts"]),
        }
        for key, label in (
            ("roc_auc", "roc auc"),
            ("detection_rate", "detection"),
            ("false_positive_rate", "fpr"),
            ("aggregator_flag_rate", "aggregator flags"),
        ):
            cells[label] = _spread(row, key)
        for key in row:
            if key.startswith("detection_rate/") and not key.endswith(("_min", "_max")):
                cells[f"det {key.split('/')[1]}"] = _spread(row, key)
        rows[f"{row['detector']} n={row['volume']}"] = cells
    return "\n".join(
        [
            "Detection at matched volume: n queries per account, attack and benign (stride 1); "
            f"mean [min-max] over {table['detector_splits']} user splits; thresholds calibrated "
            "at 1 % FPR on non-evaluation users, FPR on evaluation users; auc and detection of "
            "the report's attack, det <strategy> of each attack strategy",
            metrics_table(rows, digits=3),
        ]
    )


def _spread(row: dict[str, Any], key: str) -> str:
    if key not in row:
        return "-"
    return f"{row[key]:.3f} [{row[key + '_min']:.3f}-{row[key + '_max']:.3f}]"


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
