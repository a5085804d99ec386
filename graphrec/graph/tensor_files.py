"""PyG ``HeteroData`` and DGL heterograph versions of an exported (sub)graph.

Node ids are relabeled to the exported subgraph; ``n_id`` keeps the original contiguous ids.
DGL holds tensors only, so text attributes (raw ids, titles, occupations) go to PyG alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from graphrec.graph.export_columns import EDGE_ATTRIBUTES, NODE_COLUMNS
from graphrec.graph.rating_graph import RatingGraph
from graphrec.graph.schema import ITEM, RATED_BY, RATES, USER


def to_pyg(
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


def to_dgl(
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


def _edge_tensors(
    graph: RatingGraph, edges: np.ndarray, users: np.ndarray, items: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    index = torch.from_numpy(edges)
    source = _local_ids(users, graph.user.numpy()[edges])  # [E']
    target = _local_ids(items, graph.item.numpy()[edges])  # [E']
    data = {name: getattr(graph, name)[index].clone() for name in EDGE_ATTRIBUTES}  # [E'] each
    return source, target, data


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


def _local_ids(selected: np.ndarray, ids: np.ndarray) -> torch.Tensor:
    """Positions of ``ids`` within the sorted ``selected`` ids (relabeling for a subgraph)."""
    return torch.from_numpy(np.searchsorted(selected, ids).astype(np.int64))
