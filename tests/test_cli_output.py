"""Shared-CPU thread policy, one axis per metric family, integer counts, user attributes."""

from __future__ import annotations

import os

import networkx as nx
import numpy as np
import pandas as pd
import torch

from graphrec import threads
from graphrec.data.ratings import from_raw_events
from graphrec.graph.export import export_graph
from graphrec.graph.rating_graph import RatingGraph
from graphrec.tables import metrics_table
from graphrec.train.curves import metric_families


def test_thread_policy_gives_every_pool_one_budget(monkeypatch):
    before = torch.get_num_threads()
    for name in threads.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    try:
        assert threads.apply_thread_policy(1) == 1
        assert torch.get_num_threads() == 1
        assert all(os.environ[name] == "1" for name in threads.THREAD_VARIABLES)
        from threadpoolctl import threadpool_info

        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    finally:
        torch.set_num_threads(before)
    assert 1 <= threads.available_cpus() <= (os.cpu_count() or 1)


def test_cgroup_quota_caps_the_cpus(tmp_path):
    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")
    assert threads._cgroup_quota(quota) == 1.5
    quota.write_text("max 100000\n")
    assert threads._cgroup_quota(quota) is None


def test_no_spin_environment_is_set_unless_the_user_chose(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.delenv("KMP_BLOCKTIME", raising=False)
    threads.prepare_environment()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE" and os.environ["KMP_BLOCKTIME"] == "0"


def test_each_metric_family_gets_its_own_panel():
    tags = ["valid/ndcg@10", "valid/ndcg@5", "valid/popularity_percentile@10", "valid/hit@10"]
    families = metric_families(tags, "valid/")
    assert families["ndcg"] == ["valid/ndcg@5", "valid/ndcg@10"]
    assert families["popularity_percentile"] == ["valid/popularity_percentile@10"]
    assert "ndcg" in families and len(families) == 3


def test_counts_print_as_integers():
    table = metrics_table({"test": {"num_users": 943.0, "ndcg@10": 0.1234567}})
    assert "943" in table and "943.0" not in table and "0.1235" in table


def test_user_attributes_reach_the_exported_nodes(tmp_path):
    events = pd.DataFrame(
        {"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"], "rating": [4.0, 3.0, 5.0]}
    )
    users = pd.DataFrame(
        {"age": [24, 53], "gender": ["M", "F"], "zip_code": ["02134", "9"]}, index=["a", "b"]
    )
    graph = RatingGraph.from_ratings(from_raw_events(events, users=users))
    summary = export_graph(graph, tmp_path / "g.graphml", "graphml")
    nodes = dict(nx.read_graphml(summary.paths[0]).nodes(data=True))
    a = next(attrs for attrs in nodes.values() if attrs.get("raw_id") == "a")
    assert a["age"] == 24 and a["gender"] == "M" and a["zip_code"] == "02134"
    assert np.isfinite(a["degree"])
