"""Write a :class:`RatingGraph` (or an ego-net subgraph of it) for graph tools and other libraries.

Formats (``FORMATS``):

- ``graphml`` / ``gexf``: for Gephi, Cytoscape, yEd or ``networkx.read_graphml``/``read_gexf``.
  An undirected graph; node ids ``"user:<raw id>"`` and ``"item:<raw id>"``. GEXF is written by
  ``networkx.write_gexf`` and also gets ``viz`` positions, so Gephi opens the layout directly;
  GraphML by :func:`write_graphml`, a streaming writer of the same document networkx writes
  (networkx's own writer is ~10x slower without lxml).
- ``csv`` / ``parquet``: two tables beside each other, ``<stem>.edges.<ext>`` and
  ``<stem>.nodes.<ext>`` (``<stem>`` is the given path without its suffix). The edge table's
  ``source``/``target`` refer to the node table's ``id``.
- ``pyg``: ``torch.save`` of a ``HeteroData`` (node ids relabeled to the exported subgraph;
  ``n_id`` holds the original contiguous ids, ``raw_id`` and ``label`` the raw ids and labels).
- ``dgl``: ``dgl.save_graphs`` of a heterograph with the same edges and tensor data (DGL stores
  tensors only: ``n_id`` maps back to the original ids).

Node attributes: ``type`` (user / item), ``index`` (contiguous id within its type), ``raw_id``,
``label`` (title for items, ``"user <raw id>"`` for users), the user attributes the source has
(ML-100K: ``age``, ``gender``, ``occupation``, ``zip_code``; PyG keeps text ones as lists, DGL
only the integer ones), ``genres`` (``|``-joined), ``year``,
``degree`` (distinct neighbours in the whole graph, not the subgraph), ``anomaly_score``,
``anomaly_label`` and ``anomaly_type`` where ``node_scores`` gives them, and a 2-D layout ``x``,
``y`` (see :mod:`graphrec.graph.layout`). Edge attributes: ``rating`` (mean), ``timestamp`` (last
event), ``count`` (events). GraphML and GEXF cannot hold missing values, so an unknown value (a
user's year, an unscored user) is left out of that node rather than written as ``None``.

A whole ml-1m graph (about 10,000 nodes and a million edges) is too big to draw, hence subgraph
export: the ego-nets of chosen users (``users``) or of the ``top_k`` users by a ``node_scores``
column (``top_k_by``, e.g. the anomaly score), within ``ego_hops`` hops; the edges are those of the
subgraph induced on the ego-net nodes, as in ``networkx.ego_graph``.

Every file is written atomically (:func:`graphrec.io.atomic_write`), so a failed export never
leaves a half-written file under the final name.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import networkx as nx
import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from graphrec.errors import DataError
from graphrec.graph.layout import pca_layout, spectral_layout
from graphrec.graph.rating_graph import RatingGraph
from graphrec.graph.schema import ITEM, RATED_BY, RATES, USER
from graphrec.io import atomic_write, prepare_folder

logger = logging.getLogger(__name__)

FORMATS = ("graphml", "gexf", "csv", "parquet", "pyg", "dgl")
DRAWING_FORMATS = ("graphml", "gexf")
GENRE_SEPARATOR = "|"
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
GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
GRAPHML_XSD = f"{GRAPHML_NS} {GRAPHML_NS}/1.0/graphml.xsd"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_graph` wrote.

    Attributes:
        fmt: the format.
        path: the main file (the edge table for ``csv``/``parquet``).
        paths: every file written.
        num_nodes: exported nodes (users + items).
        num_users: exported user nodes.
        num_items: exported item nodes.
        num_edges: exported (user, item) edges.
        warning: the size warning that was logged, or None.
    """

    fmt: str
    path: Path
    paths: tuple[Path, ...]
    num_nodes: int
    num_users: int
    num_items: int
    num_edges: int
    warning: str | None = field(default=None)


def export_graph(
    graph: RatingGraph,
    path: Path,
    fmt: str,
    *,
    node_scores: pd.DataFrame | None = None,
    embeddings: tuple[np.ndarray, np.ndarray] | None = None,
    users: list[int] | None = None,
    ego_hops: int = 1,
    top_k_by: str | None = None,
    top_k: int = 50,
    max_nodes_warning: int = 5000,
) -> ExportSummary:
    """Export the graph, or the ego-nets of selected users, in one of ``FORMATS``.

    Args:
        graph: the rating graph.
        path: output file (for ``csv``/``parquet`` the stem of the two tables).
        fmt: one of ``graphml, gexf, csv, parquet, pyg, dgl``.
        node_scores: per-user scores, columns ``user`` (contiguous id) or ``user_id`` (raw id),
            ``score``, optionally ``label`` (0/1) and ``type``, plus any numeric column
            ``top_k_by`` may name (default None).
        embeddings: ``(user [U, d], item [I, d])`` embeddings for the layout; without them a
            spectral layout of the graph is used (default None).
        users: contiguous ids of users whose ego-nets to export (default None: no selection).
        ego_hops: ego-net radius in the bipartite graph (default 1: the users and their items).
        top_k_by: a ``node_scores`` column; the ``top_k`` users with the highest values are added
            to the selection (default None).
        top_k: how many users ``top_k_by`` selects (default 50).
        max_nodes_warning: GraphML/GEXF exports above this many nodes log a warning (default
            5000).

    Returns:
        An :class:`ExportSummary`.

    Raises:
        ValueError: an unknown format, a bad selection, embeddings of the wrong shape.
        DataError: the output folder cannot be created or written, or bad ``node_scores``.
    """
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    path = Path(path)
    scores = _scores_by_user(graph, node_scores)
    selected_users, selected_items = _select_nodes(graph, scores, users, ego_hops, top_k_by, top_k)
    edges = graph.induced_edges(selected_users, selected_items)  # positions in edge order
    nodes = _node_table(graph, selected_users, selected_items, scores, embeddings)
    edge_frame = edge_table(graph, edges)

    warning = None
    if fmt in DRAWING_FORMATS and len(nodes) > max_nodes_warning:
        warning = (
            f"exporting {len(nodes)} nodes to {fmt} (more than {max_nodes_warning}): graph tools "
            "draw this slowly; export a subgraph with --users, --top-k-by or --ego-hops"
        )
        logger.warning(warning)

    prepare_folder(path.parent)
    if fmt in ("csv", "parquet"):
        paths = _write_tables(nodes, edge_frame, path, fmt)
    elif fmt == "graphml":
        atomic_write(path, lambda tmp: write_graphml(nodes, edge_frame, tmp))
        paths = (path,)
    elif fmt == "gexf":
        network = to_networkx(nodes, edge_frame, viz=True)
        atomic_write(path, lambda tmp: nx.write_gexf(network, tmp))
        paths = (path,)
    elif fmt == "pyg":
        data = _to_pyg(graph, nodes, edges, selected_users, selected_items)
        atomic_write(path, lambda tmp: torch.save(data, tmp))
        paths = (path,)
    else:
        dgl_graph = _to_dgl(graph, nodes, edges, selected_users, selected_items)
        from graphrec.graph.dgl_compat import import_dgl

        dgl = import_dgl()
        atomic_write(path, lambda tmp: dgl.save_graphs(str(tmp), [dgl_graph]))
        paths = (path,)

    summary = ExportSummary(
        fmt=fmt,
        path=paths[0],
        paths=paths,
        num_nodes=len(nodes),
        num_users=len(selected_users),
        num_items=len(selected_items),
        num_edges=len(edges),
        warning=warning,
    )
    logger.info("exported %d nodes and %d edges to %s", len(nodes), len(edges), summary.path)
    return summary


# ---------------------------------------------------------------------------- tables
def node_table(
    graph: RatingGraph,
    users: np.ndarray | None = None,
    items: np.ndarray | None = None,
    *,
    node_scores: pd.DataFrame | None = None,
    embeddings: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One row per exported node: users (sorted by id) first, then items (sorted by id).

    Args:
        graph: the rating graph.
        users: contiguous user ids to include (default None: all).
        items: contiguous item ids to include (default None: all).
        node_scores: per-user scores as :func:`export_graph` takes them (default None).
        embeddings: ``(user, item)`` embeddings for a PCA layout; None for the spectral layout.

    Columns: ``id, type, index, raw_id, label, genres, year, degree, anomaly_score,
    anomaly_label, anomaly_type, x, y`` (missing values NaN / NA).
    """
    return _node_table(graph, users, items, _scores_by_user(graph, node_scores), embeddings)


def _node_table(
    graph: RatingGraph,
    users: np.ndarray | None,
    items: np.ndarray | None,
    scores: pd.DataFrame | None,
    embeddings: tuple[np.ndarray, np.ndarray] | None,
) -> pd.DataFrame:
    users = np.arange(graph.num_users) if users is None else np.asarray(users, dtype=np.int64)
    items = np.arange(graph.num_items) if items is None else np.asarray(items, dtype=np.int64)
    user_xy, item_xy = _layout(graph, embeddings)
    user_raw, item_raw = _raw_ids(graph)
    metadata = graph.ratings.items if graph.ratings is not None else None

    user_frame = _typed_nodes(
        USER,
        users,
        user_raw[users],
        labels=[f"user {r}" for r in user_raw[users]],
        genres="",
        years=np.nan,
        degree=graph.user_degree()[users],
        xy=user_xy[users],
    )
    profile = _user_profile(graph, users)
    for column in profile.columns:
        user_frame[column] = profile[column].to_numpy()
    if scores is not None and len(users):
        known = scores.reindex(users)
        user_frame["anomaly_score"] = known["score"].to_numpy(np.float64)
        if "label" in known:
            user_frame["anomaly_label"] = pd.array(known["label"].to_numpy(), dtype="Int64")
        if "type" in known:
            user_frame["anomaly_type"] = pd.array(
                [None if pd.isna(t) else str(t) for t in known["type"]], dtype="string"
            )

    if metadata is not None:
        titles = metadata["title"].to_numpy(dtype=object)[items]
        genres = [GENRE_SEPARATOR.join(g) for g in metadata["genres"].to_numpy(dtype=object)[items]]
        years = metadata["year"].to_numpy(np.float64)[items]
    else:
        titles = np.array([f"item {r}" for r in item_raw[items]], dtype=object)
        genres = [""] * len(items)
        years = np.full(len(items), np.nan)
    item_frame = _typed_nodes(
        ITEM,
        items,
        item_raw[items],
        labels=titles,
        genres=genres,
        years=years,
        degree=graph.item_degree()[items],
        xy=item_xy[items],
    )
    for column in profile.columns:  # items have no profile: missing, same dtype
        item_frame[column] = pd.array([pd.NA] * len(item_frame), dtype=profile[column].dtype)
    frame = pd.concat([user_frame, item_frame], ignore_index=True)
    for column in ("id", "type", "raw_id", "label", "genres"):
        frame[column] = frame[column].astype(str)
    frame["index"] = frame["index"].astype(np.int64)
    frame["degree"] = frame["degree"].astype(np.int64)
    return frame


def _user_profile(graph: RatingGraph, users: np.ndarray) -> pd.DataFrame:
    """The source's user attributes (ML-100K: age, gender, occupation, zip code) of ``users``.

    Columns keep the source's names (prefixed ``user_`` where one would clash with a node
    column); integer-valued columns become nullable integers, the rest nullable strings.
    """
    table = graph.ratings.users if graph.ratings is not None else None
    if table is None or table.empty:
        return pd.DataFrame(index=range(len(users)))
    table = table.reset_index(drop=True)
    out = {}
    for column in table.columns:
        name = f"user_{column}" if column in NODE_COLUMNS else str(column)
        values = table[column].iloc[users]
        text = table[column].dropna().astype(str).str.strip()  # typed on every user
        # plain integers only: "02134" (a zip code) keeps its leading zero as a string
        if len(text) and text.str.fullmatch(r"-?(0|[1-9][0-9]*)").all():
            out[name] = pd.array(pd.to_numeric(values).to_numpy(), dtype="Int64")
        else:
            out[name] = pd.array([None if pd.isna(v) else str(v) for v in values], dtype="string")
    return pd.DataFrame(out)


def _typed_nodes(
    kind: str,
    index: np.ndarray,
    raw: np.ndarray,
    *,
    labels: list[str] | np.ndarray,
    genres: str | list[str],
    years: float | np.ndarray,
    degree: np.ndarray,
    xy: np.ndarray,
) -> pd.DataFrame:
    """The node table rows of one kind; a scalar ``genres``/``years`` fills every row.

    The anomaly columns start missing, so users and items share one column layout and dtypes.
    """
    return pd.DataFrame(
        {
            "id": [f"{kind}:{r}" for r in raw],
            "type": kind,
            "index": index,
            "raw_id": raw,
            "label": labels,
            "genres": genres,
            "year": years,
            "degree": degree,
            "anomaly_score": np.nan,
            "anomaly_label": pd.array([pd.NA] * len(index), dtype="Int64"),
            "anomaly_type": pd.array([pd.NA] * len(index), dtype="string"),
            "x": xy[:, 0],
            "y": xy[:, 1],
        }
    )


def edge_table(graph: RatingGraph, edges: np.ndarray | None = None) -> pd.DataFrame:
    """One row per exported edge, in the graph's (user, item) order.

    Columns: ``source, target`` (node ids as in :func:`node_table`), ``user, item`` (contiguous
    ids), ``user_id, item_id`` (raw ids), ``rating, timestamp, count``.
    """
    edges = np.arange(graph.num_edges) if edges is None else np.asarray(edges, dtype=np.int64)
    user_raw, item_raw = _raw_ids(graph)
    user = graph.user.numpy()[edges]
    item = graph.item.numpy()[edges]
    return pd.DataFrame(
        {
            "source": [f"{USER}:{r}" for r in user_raw[user]],
            "target": [f"{ITEM}:{r}" for r in item_raw[item]],
            "user": user,
            "item": item,
            "user_id": user_raw[user].astype(str),
            "item_id": item_raw[item].astype(str),
            "rating": graph.rating.numpy()[edges],
            "timestamp": graph.timestamp.numpy()[edges],
            "count": graph.count.numpy()[edges],
        }
    )


def to_networkx(nodes: pd.DataFrame, edges: pd.DataFrame, *, viz: bool = False) -> nx.Graph:
    """An undirected networkx graph of the two tables, with plain str/int/float attributes.

    Missing values are left out of a node (GraphML and GEXF have no null). With ``viz`` the
    layout is also stored as GEXF ``viz`` positions.
    """
    network = nx.Graph()
    columns = [c for c in nodes.columns if c != "id"]
    for node_id, row in zip(nodes["id"], nodes[columns].itertuples(index=False), strict=True):
        attributes = {}
        for name, value in zip(columns, row, strict=True):
            plain = _plain(value)
            if plain is not None:
                attributes[name] = plain
        if viz:
            attributes["viz"] = {"position": {"x": attributes["x"], "y": attributes["y"], "z": 0.0}}
        network.add_node(node_id, **attributes)
    ratings = edges["rating"].astype(np.float64).tolist()  # python floats, not float32
    timestamps = edges["timestamp"].tolist()
    counts = edges["count"].tolist()
    network.add_edges_from(
        (source, target, {"rating": rating, "timestamp": timestamp, "count": count})
        for source, target, rating, timestamp, count in zip(
            edges["source"], edges["target"], ratings, timestamps, counts, strict=True
        )
    )
    return network


def write_graphml(nodes: pd.DataFrame, edges: pd.DataFrame, path: Path) -> None:
    """Stream the two tables as an undirected GraphML file, one XML line per node and edge.

    The same document ``networkx.write_graphml`` produces, written directly: without lxml,
    networkx builds the whole element tree first (about 10 s for ml-100k's 100,000 edges and
    minutes for ml-1m), while this writer is linear and needs no tree. Attribute types follow
    the column dtypes (``int``; ``long`` for timestamps; ``double``; ``string``); missing values
    are left out of the node.
    """
    node_columns = [c for c in nodes.columns if c != "id"]
    edge_columns = list(EDGE_ATTRIBUTES)
    node_keys = [(f"n{j}", c, _graphml_type(nodes[c])) for j, c in enumerate(node_columns)]
    edge_keys = [(f"e{j}", c, _graphml_type(edges[c])) for j, c in enumerate(edge_columns)]
    lines = [
        "<?xml version='1.0' encoding='utf-8'?>",
        f'<graphml xmlns="{GRAPHML_NS}" xmlns:xsi="{XSI_NS}" xsi:schemaLocation="{GRAPHML_XSD}">',
    ]
    for scope, keys in (("node", node_keys), ("edge", edge_keys)):
        lines += [
            f'  <key id="{key}" for="{scope}" attr.name={quoteattr(name)} attr.type="{kind}" />'
            for key, name, kind in keys
        ]
    lines.append('  <graph edgedefault="undirected">')
    node_cells = [_graphml_cells(nodes[name], key, kind) for key, name, kind in node_keys]
    # node ids quoted once (edges only join nodes of the table)
    quoted = {node_id: quoteattr(_xml_safe(node_id)) for node_id in nodes["id"]}
    lines += [
        f"    <node id={quoted[node_id]}>{''.join(cells)}</node>"
        for node_id, *cells in zip(nodes["id"], *node_cells, strict=True)
    ]
    edge_cells = [_graphml_cells(edges[name], key, kind) for key, name, kind in edge_keys]
    lines += [
        f"    <edge source={quoted[source]} target={quoted[target]}>{''.join(cells)}</edge>"
        for source, target, *cells in zip(
            edges["source"], edges["target"], *edge_cells, strict=True
        )
    ]
    lines += ["  </graph>", "</graphml>", ""]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


def _graphml_type(column: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_integer_dtype(column):
        return "long" if column.name == "timestamp" else "int"
    if pd.api.types.is_float_dtype(column):
        return "double"
    return "string"


def _graphml_cells(column: pd.Series, key: str, kind: str) -> list[str]:
    """``<data>`` elements of one column, an empty string where the value is missing."""
    missing = column.isna().to_numpy()
    values = column.to_numpy(dtype=object)
    if kind == "double":
        text = [repr(float(v)) for v in values]
    elif kind in ("int", "long"):
        text = [str(int(v)) if not gone else "" for v, gone in zip(values, missing, strict=True)]
    elif kind == "boolean":
        text = [
            str(bool(v)).lower() if not gone else ""
            for v, gone in zip(values, missing, strict=True)
        ]
    else:
        text = [
            escape(_xml_safe(str(v))) if not gone else ""
            for v, gone in zip(values, missing, strict=True)
        ]
    return [
        "" if gone else f'<data key="{key}">{value}</data>'
        for value, gone in zip(text, missing, strict=True)
    ]


def _xml_safe(text: str) -> str:
    """Drop the control characters XML 1.0 cannot hold (a stray byte in a title)."""
    return _XML_INVALID.sub("", text)


# ---------------------------------------------------------------------------- selection
def _scores_by_user(graph: RatingGraph, node_scores: pd.DataFrame | None) -> pd.DataFrame | None:
    """``node_scores`` indexed by contiguous user id (raw ``user_id`` mapped through Ratings)."""
    if node_scores is None:
        return None
    frame = node_scores.copy()
    if "user" in frame.columns:
        ids = pd.to_numeric(frame["user"], errors="coerce")
        if ids.isna().any() or (ids % 1 != 0).any():
            raise DataError("node_scores: column 'user' must hold contiguous integer user ids")
        ids = ids.astype(np.int64).to_numpy()
        bad = ids[(ids < 0) | (ids >= graph.num_users)]
        if len(bad):
            raise DataError(
                f"node_scores: user id {int(bad[0])} is outside 0..{graph.num_users - 1}"
            )
    elif "user_id" in frame.columns:
        if graph.ratings is None:
            raise DataError("node_scores: raw 'user_id' needs a graph built from Ratings")
        ids = np.array([graph.ratings.user_index(r) for r in frame["user_id"]], dtype=np.int64)
    else:
        raise DataError(
            f"node_scores needs a 'user' or 'user_id' column, got {list(frame.columns)}"
        )
    if "score" not in frame.columns:
        raise DataError(f"node_scores needs a 'score' column, got {list(frame.columns)}")
    if pd.Index(ids).duplicated().any():
        raise DataError("node_scores: a user appears more than once")
    frame = frame.drop(columns=[c for c in ("user", "user_id") if c in frame.columns])
    frame.index = pd.Index(ids, name="user")
    return frame.sort_index()


def _select_nodes(
    graph: RatingGraph,
    scores: pd.DataFrame | None,
    users: list[int] | None,
    ego_hops: int,
    top_k_by: str | None,
    top_k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """All nodes, or the ego-nets of the chosen and top-k users."""
    if users is None and top_k_by is None:
        return np.arange(graph.num_users), np.arange(graph.num_items)
    centres = [] if users is None else [int(u) for u in users]
    if top_k_by is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if scores is None:
            raise ValueError(f"top_k_by={top_k_by!r} needs node_scores")
        if top_k_by not in scores.columns:
            raise ValueError(
                f"top_k_by={top_k_by!r} is not a node_scores column; "
                f"columns: {list(scores.columns)}"
            )
        values = pd.to_numeric(scores[top_k_by], errors="coerce")
        ranked = pd.DataFrame({"value": values.to_numpy(), "user": scores.index.to_numpy()})
        ranked = ranked.dropna().sort_values(["value", "user"], ascending=[False, True])
        centres += ranked["user"].head(top_k).astype(int).tolist()
    return graph.ego_net(np.array(centres, dtype=np.int64), hops=ego_hops)


# ---------------------------------------------------------------------------- helpers
def _raw_ids(graph: RatingGraph) -> tuple[np.ndarray, np.ndarray]:
    if graph.ratings is not None:
        return (
            np.asarray(graph.ratings.user_ids, dtype=object),
            np.asarray(graph.ratings.item_ids, dtype=object),
        )
    return (
        np.array([str(u) for u in range(graph.num_users)], dtype=object),
        np.array([str(i) for i in range(graph.num_items)], dtype=object),
    )


def _layout(
    graph: RatingGraph, embeddings: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    if embeddings is None:
        return spectral_layout(graph)
    user_emb, item_emb = (np.asarray(e) for e in embeddings)
    if len(user_emb) != graph.num_users or len(item_emb) != graph.num_items:
        raise ValueError(
            f"embeddings have {len(user_emb)} users and {len(item_emb)} items; the graph has "
            f"{graph.num_users} and {graph.num_items}"
        )
    return pca_layout(user_emb, item_emb)


def _plain(value: Any) -> str | int | float | None:
    """A GraphML/GEXF-safe python scalar, or None for a missing value."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _local_ids(selected: np.ndarray, ids: np.ndarray) -> torch.Tensor:
    """Positions of ``ids`` within the sorted ``selected`` ids (relabeling for a subgraph)."""
    return torch.from_numpy(np.searchsorted(selected, ids).astype(np.int64))


def _node_tensors(nodes: pd.DataFrame, kind: str) -> dict[str, torch.Tensor]:
    part = nodes[nodes["type"] == kind]
    tensors = {
        "n_id": torch.tensor(part["index"].to_numpy(np.int64)),  # [n]
        "degree": torch.tensor(part["degree"].to_numpy(np.int64)),  # [n]
        "pos": torch.tensor(part[["x", "y"]].to_numpy(np.float32)),  # [n, 2]
    }
    if kind == USER:
        tensors["anomaly_score"] = torch.tensor(
            part["anomaly_score"].to_numpy(np.float32, na_value=np.nan)
        )  # [n], NaN unscored
        tensors["anomaly_label"] = torch.tensor(
            part["anomaly_label"].to_numpy(np.int64, na_value=-1)
        )  # [n], -1 unknown
        for column in _profile_columns(nodes):
            if pd.api.types.is_integer_dtype(part[column]):
                tensors[column] = torch.tensor(
                    part[column].to_numpy(np.int64, na_value=-1)
                )  # [n], -1 unknown (e.g. age)
    else:
        tensors["year"] = torch.tensor(part["year"].to_numpy(np.float32))  # [n], NaN unknown
    return tensors


def _profile_columns(nodes: pd.DataFrame) -> list[str]:
    """The user attribute columns :func:`_user_profile` added."""
    return [c for c in nodes.columns if c not in NODE_COLUMNS]


def _edge_tensors(
    graph: RatingGraph, edges: np.ndarray, users: np.ndarray, items: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    index = torch.from_numpy(edges)
    source = _local_ids(users, graph.user.numpy()[edges])  # [E']
    target = _local_ids(items, graph.item.numpy()[edges])  # [E']
    data = {name: getattr(graph, name)[index].clone() for name in EDGE_ATTRIBUTES}  # [E'] each
    return source, target, data


def _to_pyg(
    graph: RatingGraph, nodes: pd.DataFrame, edges: np.ndarray, users: np.ndarray, items: np.ndarray
) -> HeteroData:
    source, target, edge_data = _edge_tensors(graph, edges, users, items)
    data = HeteroData()
    for kind, count in ((USER, len(users)), (ITEM, len(items))):
        data[kind].num_nodes = count
        for name, tensor in _node_tensors(nodes, kind).items():
            data[kind][name] = tensor
        part = nodes[nodes["type"] == kind]
        data[kind].raw_id = part["raw_id"].tolist()
        data[kind].label = part["label"].tolist()
        if kind == USER:  # text attributes (gender, occupation) as lists, like raw_id
            for column in _profile_columns(nodes):
                if not pd.api.types.is_integer_dtype(part[column]):
                    data[kind][column] = [None if pd.isna(v) else str(v) for v in part[column]]
    forward = torch.stack([source, target])  # [2, E']
    for edge_type, edge_index in ((RATES, forward), (RATED_BY, forward.flip(0))):
        data[edge_type].edge_index = edge_index.clone()
        for name, tensor in edge_data.items():
            data[edge_type][name] = tensor.clone()
    return data


def _to_dgl(
    graph: RatingGraph, nodes: pd.DataFrame, edges: np.ndarray, users: np.ndarray, items: np.ndarray
) -> Any:
    from graphrec.graph.dgl_compat import import_dgl

    dgl = import_dgl()
    source, target, edge_data = _edge_tensors(graph, edges, users, items)
    result = dgl.heterograph(
        {RATES: (source, target), RATED_BY: (target, source)},
        num_nodes_dict={USER: len(users), ITEM: len(items)},
        idtype=torch.int64,
    )
    for kind in (USER, ITEM):
        for name, tensor in _node_tensors(nodes, kind).items():
            result.nodes[kind].data[name] = tensor
    for edge_type in (RATES, RATED_BY):
        for name, tensor in edge_data.items():
            result.edges[edge_type].data[name] = tensor.clone()
    return result


def _write_tables(
    nodes: pd.DataFrame, edges: pd.DataFrame, path: Path, fmt: str
) -> tuple[Path, ...]:
    stem = path.name[: -len(path.suffix)] if path.suffix in (".csv", ".parquet") else path.name
    for part in (".edges", ".nodes"):
        stem = stem.removesuffix(part)
    edge_path = path.with_name(f"{stem}.edges.{fmt}")
    node_path = path.with_name(f"{stem}.nodes.{fmt}")
    for frame, target in ((edges, edge_path), (nodes, node_path)):
        if fmt == "csv":
            atomic_write(target, lambda tmp, frame=frame: frame.to_csv(tmp, index=False))
        else:
            atomic_write(target, lambda tmp, frame=frame: frame.to_parquet(tmp, index=False))
    return edge_path, node_path
