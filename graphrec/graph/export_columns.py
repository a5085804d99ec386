"""The columns of an exported graph, shared by the table, drawing and tensor writers."""

from __future__ import annotations

EDGE_ATTRIBUTES = ("rating", "timestamp", "count")
NODE_COLUMNS = (
    "id",
    "type",
    "index",
    "raw_id",
    "label",
    "genres",
    "year",
    "degree",
    "anomaly_score",
    "anomaly_label",
    "anomaly_type",
    "x",
    "y",
)
"""The node table's own columns; any other column is a user attribute of the source."""
