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
leaves a half-written file under the final name. This module builds the node and edge tables and
writes the table formats; :mod:`graphrec.graph.drawing_files` writes GraphML and GEXF,
:mod:`graphrec.graph.tensor_files` builds the PyG and DGL graphs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import torch

from graphrec.errors import DataError
from graphrec.graph.drawing_files import to_networkx, write_graphml
from graphrec.graph.export_columns import NODE_COLUMNS
from graphrec.graph.layout import pca_layout, spectral_layout
from graphrec.graph.rating_graph import RatingGraph
from graphrec.graph.schema import ITEM, USER
from graphrec.graph.tensor_files import to_dgl, to_pyg
from graphrec.io import atomic_write, prepare_folder

logger = logging.getLogger(__name__)

FORMATS = ("graphml", "gexf", "csv", "parquet", "pyg", "dgl")
DRAWING_FORMATS = ("graphml", "gexf")
GENRE_SEPARATOR = "|"


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
        data = to_pyg(graph, nodes, edges, selected_users, selected_items)
        atomic_write(path, lambda tmp: torch.save(data, tmp))
        paths = (path,)
    else:
        dgl_graph = to_dgl(graph, nodes, edges, selected_users, selected_items)
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
