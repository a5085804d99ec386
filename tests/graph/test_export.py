"""Graph export: every format read back, subgraphs, layouts, warnings, atomic writes, ML-100K."""

from __future__ import annotations

import logging
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch

import graphrec.graph.export as export_module
from graphrec.data.ratings import Ratings, from_raw_events
from graphrec.errors import DataError
from graphrec.graph.dgl_compat import dgl_available
from graphrec.graph.drawing_files import to_networkx
from graphrec.graph.export import FORMATS, edge_table, export_graph, node_table
from graphrec.graph.layout import pca_layout, spectral_layout
from graphrec.graph.rating_graph import RatingGraph
from graphrec.graph.schema import ITEM, RATED_BY, RATES, USER


@pytest.fixture
def graph(tiny_ratings: Ratings) -> RatingGraph:
    return RatingGraph.from_ratings(tiny_ratings)


@pytest.fixture
def scores(graph: RatingGraph) -> pd.DataFrame:
    """Anomaly scores for users 0..3; user 2 is the most anomalous, then user 0."""
    return pd.DataFrame(
        {
            "user": [0, 1, 2, 3],
            "score": [0.8, 0.1, 0.9, 0.3],
            "label": [1, 0, 1, 0],
            "type": ["bot", None, "shilling", None],
        }
    )


def _expected_edge(graph: RatingGraph, position: int) -> tuple[str, str, dict[str, float | int]]:
    ratings = graph.ratings
    assert ratings is not None
    user, item = int(graph.user[position]), int(graph.item[position])
    attributes = {
        "rating": float(graph.rating[position]),
        "timestamp": int(graph.timestamp[position]),
        "count": int(graph.count[position]),
    }
    return f"user:{ratings.user_ids[user]}", f"item:{ratings.item_ids[item]}", attributes


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_graph_formats_read_back_with_networkx(
    graph: RatingGraph, scores: pd.DataFrame, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"tiny.{fmt}"
    summary = export_graph(graph, path, fmt, node_scores=scores)
    assert summary.path == path and summary.paths == (path,) and summary.warning is None
    assert (summary.num_nodes, summary.num_edges) == (32, graph.num_edges)
    network = nx.read_graphml(path) if fmt == "graphml" else nx.read_gexf(path)
    assert network.number_of_nodes() == graph.num_nodes
    assert network.number_of_edges() == graph.num_edges

    ratings = graph.ratings
    assert ratings is not None
    m0 = network.nodes["item:m0"]
    assert m0["type"] == "item" and m0["label"] == "Movie 0"
    assert m0["genres"] == "Action|Drama" and m0["year"] == 1990.0
    assert m0["degree"] == int(graph.item_degree()[ratings.item_index("m0")])
    user = network.nodes[f"user:{ratings.user_ids[2]}"]
    assert user["label"] == f"user {ratings.user_ids[2]}" and user["raw_id"] == ratings.user_ids[2]
    assert user["anomaly_score"] == pytest.approx(0.9) and user["anomaly_label"] == 1
    assert user["anomaly_type"] == "shilling"
    unscored = network.nodes[f"user:{ratings.user_ids[5]}"]
    assert "anomaly_score" not in unscored and "year" not in unscored  # missing: left out
    for position in (0, 17, graph.num_edges - 1):
        source, target, attributes = _expected_edge(graph, position)
        data = network.edges[source, target]
        assert data["rating"] == pytest.approx(attributes["rating"])
        assert data["timestamp"] == attributes["timestamp"] and data["count"] == attributes["count"]
    if fmt == "gexf":
        assert m0["viz"]["position"]["x"] == pytest.approx(m0["x"])


def test_graphml_writer_matches_networkx_writer(
    graph: RatingGraph, scores: pd.DataFrame, tmp_path: Path
) -> None:
    export_graph(graph, tmp_path / "ours.graphml", "graphml", node_scores=scores)
    network = to_networkx(node_table(graph, node_scores=scores), edge_table(graph))
    nx.write_graphml(network, tmp_path / "theirs.graphml")
    ours = nx.read_graphml(tmp_path / "ours.graphml")
    theirs = nx.read_graphml(tmp_path / "theirs.graphml")
    assert list(ours.nodes(data=True)) == list(theirs.nodes(data=True))
    assert list(ours.edges(data=True)) == list(theirs.edges(data=True))


def test_graphml_escapes_titles(tmp_path: Path) -> None:
    frame = pd.DataFrame({"user_id": ["a"], "item_id": ["x"], "rating": [4.0], "timestamp": [1]})
    items = pd.DataFrame({"title": ['Tom & "Jerry" <1>\x07'], "genres": [("Fun",)]}, index=["x"])
    graph = RatingGraph.from_ratings(from_raw_events(frame, items=items))
    export_graph(graph, tmp_path / "e.graphml", "graphml")
    assert nx.read_graphml(tmp_path / "e.graphml").nodes["item:x"]["label"] == 'Tom & "Jerry" <1>'


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_read_back_with_pandas(
    graph: RatingGraph, scores: pd.DataFrame, tmp_path: Path, fmt: str
) -> None:
    summary = export_graph(graph, tmp_path / f"tiny.{fmt}", fmt, node_scores=scores)
    edge_path, node_path = tmp_path / f"tiny.edges.{fmt}", tmp_path / f"tiny.nodes.{fmt}"
    assert summary.paths == (edge_path, node_path) and summary.path == edge_path
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    edges, nodes = read(edge_path), read(node_path)
    assert len(edges) == graph.num_edges and len(nodes) == graph.num_nodes
    assert edges["user"].tolist() == graph.user.tolist()
    assert edges["item"].tolist() == graph.item.tolist()
    assert np.allclose(edges["rating"], graph.rating.numpy())
    assert edges["timestamp"].tolist() == graph.timestamp.tolist()
    assert edges["count"].tolist() == graph.count.tolist()
    assert set(edges["source"]) | set(edges["target"]) <= set(nodes["id"])
    assert nodes["type"].value_counts().to_dict() == {"item": 20, "user": 12}
    by_id = nodes.set_index("id")
    assert by_id.loc["item:m0", "genres"] == "Action|Drama"
    ratings = graph.ratings
    assert ratings is not None
    top = by_id.loc[f"user:{ratings.user_ids[2]}"]
    assert top["anomaly_score"] == pytest.approx(0.9) and top["anomaly_label"] == 1
    assert pd.isna(by_id.loc[f"user:{ratings.user_ids[5]}", "anomaly_score"])


def test_pyg_file_round_trip(graph: RatingGraph, tmp_path: Path) -> None:
    export_graph(graph, tmp_path / "tiny.pt", "pyg")
    data = torch.load(tmp_path / "tiny.pt", weights_only=False)
    reference = graph.to_pyg()
    assert data[USER].num_nodes == graph.num_users and data[ITEM].num_nodes == graph.num_items
    for edge_type in (RATES, RATED_BY):
        assert torch.equal(data[edge_type].edge_index, reference[edge_type].edge_index)
        for name in ("rating", "timestamp", "count"):
            assert torch.equal(data[edge_type][name], reference[edge_type][name])
    assert data[USER].pos.shape == (graph.num_users, 2)
    assert data[ITEM].label[graph.ratings.item_index("m3")] == "Movie 3"


def test_pyg_subgraph_is_relabeled_with_original_ids(graph: RatingGraph, tmp_path: Path) -> None:
    summary = export_graph(graph, tmp_path / "sub.pt", "pyg", users=[3], ego_hops=2)
    data = torch.load(tmp_path / "sub.pt", weights_only=False)
    assert data[USER].num_nodes == summary.num_users and data[ITEM].num_nodes == summary.num_items
    edge_index = data[RATES].edge_index  # local ids
    original = torch.stack([data[USER].n_id[edge_index[0]], data[ITEM].n_id[edge_index[1]]])
    rows = torch.stack([graph.user, graph.item], dim=1).tolist()  # [E, 2]
    pairs = {(user, item): position for position, (user, item) in enumerate(rows)}
    for column, (user, item) in enumerate(original.t().tolist()):
        position = pairs[(user, item)]
        assert data[RATES].rating[column] == graph.rating[position]
    assert summary.num_edges == edge_index.size(1)


@pytest.mark.skipif(not dgl_available(), reason="DGL not importable")
def test_dgl_file_round_trip(graph: RatingGraph, tmp_path: Path) -> None:
    from graphrec.graph.dgl_compat import import_dgl

    dgl = import_dgl()
    export_graph(graph, tmp_path / "tiny.bin", "dgl")
    (loaded,), _ = dgl.load_graphs(str(tmp_path / "tiny.bin"))
    assert loaded.num_nodes(USER) == graph.num_users and loaded.num_nodes(ITEM) == graph.num_items
    source, target = loaded.edges(etype=RATES, order="eid")
    assert torch.equal(source, graph.user) and torch.equal(target, graph.item)
    assert torch.equal(loaded.edges[RATED_BY].data["count"], graph.count)
    assert torch.equal(loaded.nodes[USER].data["n_id"], torch.arange(graph.num_users))


def test_ego_subgraph_matches_networkx_ego_graph(graph: RatingGraph, tmp_path: Path) -> None:
    whole = to_networkx(node_table(graph), edge_table(graph))
    ratings = graph.ratings
    assert ratings is not None
    centre = f"user:{ratings.user_ids[4]}"
    for hops in (1, 2, 3):
        path = tmp_path / f"ego{hops}.graphml"
        summary = export_graph(graph, path, "graphml", users=[4], ego_hops=hops)
        expected = nx.ego_graph(whole, centre, radius=hops)
        read = nx.read_graphml(path)
        assert set(read.nodes) == set(expected.nodes)
        assert {frozenset(e) for e in read.edges} == {frozenset(e) for e in expected.edges}
        assert (summary.num_nodes, summary.num_edges) == (len(expected), expected.size())
    one_hop = export_graph(graph, tmp_path / "one.csv", "csv", users=[4])
    assert one_hop.num_users == 1 and one_hop.num_items == graph.user_degree()[4]
    assert one_hop.num_edges == graph.user_degree()[4]


def test_top_k_by_score_selects_the_highest_users(
    graph: RatingGraph, scores: pd.DataFrame, tmp_path: Path
) -> None:
    summary = export_graph(
        graph, tmp_path / "top.csv", "csv", node_scores=scores, top_k_by="score", top_k=2
    )
    users, items = graph.ego_net([0, 2], hops=1)
    assert (summary.num_users, summary.num_items) == (len(users), len(items)) == (2, len(items))
    nodes = pd.read_csv(tmp_path / "top.nodes.csv")
    assert sorted(nodes.loc[nodes["type"] == "user", "index"]) == [0, 2]
    with pytest.raises(ValueError, match="'missing' is not a node_scores column"):
        export_graph(graph, tmp_path / "x.csv", "csv", node_scores=scores, top_k_by="missing")
    with pytest.raises(ValueError, match="needs node_scores"):
        export_graph(graph, tmp_path / "x.csv", "csv", top_k_by="score")


def test_node_scores_by_raw_user_id(graph: RatingGraph) -> None:
    ratings = graph.ratings
    assert ratings is not None
    raw = pd.DataFrame({"user_id": [ratings.user_ids[7]], "score": [0.5]})
    nodes = node_table(graph, node_scores=raw)
    assert nodes.loc[nodes["index"].eq(7) & nodes["type"].eq("user"), "anomaly_score"].item() == 0.5
    with pytest.raises(DataError, match="unknown user id 'nobody'"):
        node_table(graph, node_scores=pd.DataFrame({"user_id": ["nobody"], "score": [1.0]}))
    with pytest.raises(DataError, match="user id 99 is outside"):
        node_table(graph, node_scores=pd.DataFrame({"user": [99], "score": [1.0]}))


def test_layout_from_embeddings_is_their_pca(graph: RatingGraph) -> None:
    rng = np.random.default_rng(0)
    user_emb = rng.normal(size=(graph.num_users, 8))
    item_emb = rng.normal(size=(graph.num_items, 8))
    item_emb[:, 0] *= 10.0  # a dominant direction: PCA's first axis
    nodes = node_table(graph, embeddings=(user_emb, item_emb))
    stacked = np.vstack([user_emb, item_emb])
    centred = stacked - stacked.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    for column, axis in (("x", 0), ("y", 1)):
        projection = centred @ vt[axis]
        assert abs(np.corrcoef(nodes[column], projection)[0, 1]) > 0.999999
    assert np.abs(nodes[["x", "y"]].to_numpy()).max() == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="embeddings have 3 users"):
        node_table(graph, embeddings=(user_emb[:3], item_emb))


def test_spectral_layout_places_co_raters_together() -> None:
    """Two dense communities joined by one edge split along the first layout axis (Fiedler-like)."""
    rng = np.random.default_rng(1)
    rows = [
        (u, i, 4.0, 0)
        for block in (0, 1)
        for u in range(10 * block, 10 * block + 10)
        for i in range(8 * block, 8 * block + 8)
        if rng.random() < 0.7
    ]
    rows.append((0, 8, 4.0, 0))  # the bridge
    events = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    graph = RatingGraph.from_events(events, num_users=20, num_items=16)
    user_xy, item_xy = spectral_layout(graph)
    assert user_xy.shape == (20, 2) and item_xy.shape == (16, 2)
    first = np.concatenate([user_xy[:10, 0], item_xy[:8, 0]])
    second = np.concatenate([user_xy[10:, 0], item_xy[8:, 0]])
    assert first.max() < second.min() or second.max() < first.min()
    assert np.abs(np.vstack([user_xy, item_xy])).max() == pytest.approx(1000.0)
    again = spectral_layout(graph)
    assert np.array_equal(user_xy, again[0]) and np.array_equal(item_xy, again[1])
    u, i = pca_layout(np.ones((2, 1)), np.zeros((1, 1)))  # 1-d embeddings: y is 0
    assert u.shape == (2, 2) and np.all(i[:, 1] == 0)


def test_size_warning_suggests_a_subgraph(
    graph: RatingGraph, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="graphrec.graph.export"):
        summary = export_graph(graph, tmp_path / "big.gexf", "gexf", max_nodes_warning=10)
    assert summary.warning is not None and "32 nodes" in summary.warning
    assert "--users" in caplog.text and "--top-k-by" in caplog.text and "--ego-hops" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="graphrec.graph.export"):
        table = export_graph(graph, tmp_path / "big.csv", "csv", max_nodes_warning=10)
        small = export_graph(graph, tmp_path / "s.graphml", "graphml", users=[0], ego_hops=0)
    assert table.warning is None and small.warning is None and caplog.text == ""


def test_unknown_format_and_unwritable_folder(graph: RatingGraph, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown export format 'svg'.*graphml, gexf, csv"):
        export_graph(graph, tmp_path / "g.svg", "svg")
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(DataError, match="not_a_folder"):
        export_graph(graph, blocker / "g.graphml", "graphml")
    with pytest.raises(ValueError, match="user id 50"):
        export_graph(graph, tmp_path / "g.graphml", "graphml", users=[50])


def test_writes_are_atomic(
    graph: RatingGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "g.graphml"
    export_graph(graph, path, "graphml")
    before = path.read_bytes()

    def broken(nodes: pd.DataFrame, edges: pd.DataFrame, target: Path) -> None:
        Path(target).write_text("<graphml half")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(export_module, "write_graphml", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_graph(graph, path, "graphml")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.graphml"]  # no temp file left


def test_every_format_is_deterministic(graph: RatingGraph, tmp_path: Path) -> None:
    for fmt in ("graphml", "csv"):
        first = export_graph(graph, tmp_path / "a" / f"g.{fmt}", fmt)
        second = export_graph(graph, tmp_path / "b" / f"g.{fmt}", fmt)
        for one, two in zip(first.paths, second.paths, strict=True):
            assert one.read_bytes() == two.read_bytes()
    assert set(FORMATS) == {"graphml", "gexf", "csv", "parquet", "pyg", "dgl"}


def _read_ml100k(folder: Path) -> Ratings:
    inter = pd.read_csv(folder / "ml-100k.inter", sep="\t")
    inter.columns = ["user_id", "item_id", "rating", "timestamp"]
    item = pd.read_csv(folder / "ml-100k.item", sep="\t", dtype=str, keep_default_na=False)
    item.columns = ["item_id", "title", "year", "genres"]
    items = pd.DataFrame(
        {
            "title": item["title"].to_numpy(),
            "year": pd.to_numeric(item["year"], errors="coerce").to_numpy(),
            "genres": [tuple(g.split()) for g in item["genres"]],
        },
        index=item["item_id"].to_numpy(),
    )
    return from_raw_events(inter, items=items, name="ml-100k")


def test_ml100k_graphml_round_trip(ml100k_path: Path, tmp_path: Path) -> None:
    graph = RatingGraph.from_ratings(_read_ml100k(ml100k_path))
    assert (graph.num_users, graph.num_items, graph.num_edges) == (943, 1682, 100_000)
    summary = export_graph(graph, tmp_path / "ml100k.graphml", "graphml")
    assert (summary.num_nodes, summary.num_edges) == (2625, 100_000)
    network = nx.read_graphml(tmp_path / "ml100k.graphml")
    assert network.number_of_nodes() == 2625 and network.number_of_edges() == 100_000
    toy_story = network.nodes["item:1"]
    assert toy_story["label"] == "Toy Story" and toy_story["year"] == 1995.0
    assert toy_story["genres"] == "Animation|Children's|Comedy"
    assert toy_story["degree"] == 452  # ML-100K: 452 users rated Toy Story
    first = network.edges["user:196", "item:242"]  # the file's first line
    assert first == {"rating": 3.0, "timestamp": 881250949, "count": 1}
    assert sum(d for _, d in network.degree()) == 2 * 100_000
