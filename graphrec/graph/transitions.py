"""Item-transition edges: the sequential signal put into the graph itself.

SR-GNN (Wu et al., AAAI 2019) builds its graph from consecutive items of sessions, so message
passing mixes an item with what people watch right before and after it. Here those edges sit
beside the user–item edges of the flattened graph (items are nodes ``num_users + item``): for
every user, each pair of consecutive items of the time-ordered TRAIN history gives an item–item
edge in both directions. Pairs are counted once however many users share them (the encoders'
degree normalisation would otherwise let a handful of blockbuster pairs dominate), and an item
followed by itself (a repeat) gives no edge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from graphrec.data.split import Split, user_histories


def transition_edges(train: pd.DataFrame, num_users: int, num_items: int) -> torch.Tensor:
    """Undirected item–item edges between consecutive items of each user's training history.

    Args:
        train: TRAIN events (``user``, ``item``, ``timestamp`` columns), never valid or test ones.
        num_users: users of the graph (the item node offset).
        num_items: items of the graph.

    Shapes:
        output: ``[2, 2T]`` flattened node ids, T the distinct unordered consecutive pairs.
    """
    pairs = [np.stack([h[:-1], h[1:]], axis=1) for h in user_histories(train, num_users)]
    pairs = [p for p in pairs if len(p)]
    if not pairs:
        return torch.zeros(2, 0, dtype=torch.long)
    flat = np.concatenate(pairs)  # [P, 2]
    flat = flat[flat[:, 0] != flat[:, 1]]
    low, high = np.minimum(flat[:, 0], flat[:, 1]), np.maximum(flat[:, 0], flat[:, 1])
    keys = np.unique(low * num_items + high)
    a, b = keys // num_items + num_users, keys % num_items + num_users
    source, target = np.concatenate([a, b]), np.concatenate([b, a])
    return torch.from_numpy(np.stack([source, target])).long()


def with_transitions(
    edge_index: torch.Tensor, edge_weight: torch.Tensor | None, split: Split
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The user–item graph of ``split`` plus its TRAIN item transitions (weight 1 each when the
    graph is weighted).

    Shapes:
        edge_index ``[2, E]``, edge_weight ``[E]`` -> ``[2, E + 2T]``, ``[E + 2T]``.
    """
    extra = transition_edges(split.train, split.num_users, split.num_items).to(edge_index.device)
    edges = torch.cat([edge_index, extra], dim=1)
    if edge_weight is None:
        return edges, None
    return edges, torch.cat([edge_weight, edge_weight.new_ones(extra.shape[1])])
