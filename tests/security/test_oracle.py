"""The black-box oracle: exact answers, exact counts, per-account logs, refusal, validation, and
a public surface through which no model or score can leak."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from graphrec.config import load_config
from graphrec.data.split import from_token
from graphrec.models.batch import SequenceBatch
from graphrec.security.oracle import Oracle, QueryRefused, load_oracle
from graphrec.train.trainer import train

SECURITY = Path(__file__).resolve().parents[2] / "graphrec" / "security"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread; a shared, loaded machine makes more threads thrash."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class NextInLine(nn.Module):
    """Scores item ``(last + j) mod I`` highest for j = 1, 2, ...: answers are easy to predict."""

    def __init__(self, num_items: int = 20) -> None:
        super().__init__()
        self.num_items = num_items
        self.bias = nn.Parameter(torch.zeros(num_items))
        self.seen_users: list[Tensor] = []

    def full_sort_predict(self, batch: SequenceBatch) -> Tensor:
        self.seen_users.append(batch.users.clone())
        last = from_token(batch.items[:, -1])  # [B]
        offset = (torch.arange(self.num_items) - last.unsqueeze(1)) % self.num_items  # [B, I]
        return -offset.float() + self.bias  # [B, I]: last + 1 best, last itself worst


def make_oracle(**kwargs) -> Oracle:
    return Oracle(NextInLine(), max_len=4, max_k=10, **kwargs)


def test_answers_are_item_ids_with_the_query_excluded() -> None:
    oracle = make_oracle()
    answer = oracle.recommend([3, 5, 4], k=5)
    assert answer == [6, 7, 8, 9, 10]  # 5 follows 4 but is in the query
    assert all(type(i) is int for i in answer)
    assert oracle.recommend([5, 4], k=3) == [6, 7, 8]
    assert oracle.recommend([6, 4], k=3) == [5, 7, 8]
    # wrap-around and a query longer than max_len: all its items are excluded
    assert oracle.recommend([0, 1, 2, 3, 4, 5, 19], k=4) == [6, 7, 8, 9]


def test_every_query_is_anonymous() -> None:
    model = NextInLine()
    Oracle(model, max_len=4, max_k=10).recommend_batch([[1], [2, 3]], k=2)
    assert torch.equal(model.seen_users[-1], torch.tensor([-1, -1]))


def test_batch_equals_single_calls_and_counts_one_call_per_query() -> None:
    oracle = make_oracle(batch_size=2)  # 5 queries -> 3 forward chunks
    queries = [[1], [2, 3], [19], [7, 8, 9, 10, 11], [0]]
    batch = oracle.recommend_batch(queries, k=4, account="a")
    singles = [make_oracle().recommend(q, k=4) for q in queries]
    assert batch == singles
    oracle.recommend([1, 2], k=1, account="b")
    oracle.recommend([4], k=10)
    assert oracle.calls == 7
    assert oracle.calls_by_account == {"a": 5, "b": 1, "anonymous": 1}
    assert oracle.calls_of("nobody") == 0
    log = oracle.query_log
    assert log["a"] == [tuple(q) for q in queries]
    assert log["b"] == [(1, 2)]
    log["a"].clear()  # a copy: the oracle's own log is untouched
    assert len(oracle.query_log["a"]) == 5
    oracle.reset_counts()
    assert oracle.calls == 0 and oracle.query_log == {}


@pytest.mark.parametrize(
    ("query", "k", "match"),
    [
        ([], 3, "non-empty"),
        ([1, 20], 3, "unknown item id 20"),
        ([-1], 3, "unknown item id -1"),
        ([1.5], 3, "non-integer"),
        ([[1, 2]], 3, "1-D"),
        ([1], 0, "k must be"),
        ([1], 11, "k must be"),
        ([1], True, "k must be"),
    ],
)
def test_invalid_queries_are_rejected_and_not_counted(query, k, match) -> None:
    oracle = make_oracle()
    with pytest.raises(ValueError, match=match):
        oracle.recommend(query, k=k)
    assert oracle.calls == 0 and oracle.query_log == {}


def test_one_bad_query_rejects_the_whole_batch() -> None:
    oracle = make_oracle()
    with pytest.raises(ValueError, match="query 1"):
        oracle.recommend_batch([[1], [99]], k=2)
    assert oracle.calls == 0


def test_gate_refuses_flagged_accounts() -> None:
    seen: list[tuple[str, tuple[int, ...]]] = []

    def gate(account: str, query: tuple[int, ...]) -> bool:
        seen.append((account, query))
        return account != "bad" and len(seen) <= 4

    oracle = make_oracle(gate=gate)
    assert oracle.recommend([1], k=2, account="good") == [2, 3]
    with pytest.raises(QueryRefused) as refused:
        oracle.recommend([1], k=2, account="bad")
    assert refused.value.account == "bad" and refused.value.answered == []
    assert oracle.calls_by_account == {"good": 1, "bad": 0}
    # in a batch, the queries before the refusal are answered and counted
    with pytest.raises(QueryRefused) as refused:
        oracle.recommend_batch([[2], [3], [4]], k=1, account="good")
    assert refused.value.answered == [[3], [4]]
    assert refused.value.query == (4,)
    assert oracle.calls_by_account["good"] == 3
    assert oracle.refused_by_account == {"bad": 1, "good": 1}
    assert oracle.query_log["good"] == [(1,), (2,), (3,)]


def test_many_accounts_answer_in_order_and_refusals_are_none() -> None:
    oracle = make_oracle(gate=lambda account, query: account != "bad")
    answers = oracle.recommend_many([[1], [2], [3]], ["a", "bad", "b"], k=2)
    assert answers == [[2, 3], None, [4, 5]]
    assert oracle.calls_by_account == {"a": 1, "bad": 0, "b": 1}
    assert oracle.refused_by_account == {"bad": 1}
    assert oracle.query_log["b"] == [(3,)]
    with pytest.raises(ValueError, match="2 accounts for 3 queries"):
        oracle.recommend_many([[1], [2], [3]], ["a", "b"], k=2)


def test_model_mode_is_restored() -> None:
    model = NextInLine().train()
    Oracle(model, max_len=4, max_k=10).recommend([1], k=2)
    assert model.training


def test_public_surface_exposes_no_model_or_scores() -> None:
    oracle = make_oracle()
    oracle.recommend([1, 2], k=3)
    public = {name for name in dir(oracle) if not name.startswith("_")}
    for name in public:
        value = getattr(oracle, name)
        assert not isinstance(value, Tensor | nn.Module | np.ndarray), name
        assert not any(word in name.lower() for word in ("score", "model", "logit", "weight"))
    assert {n for n in public if callable(getattr(oracle, n))} == {
        "recommend",
        "recommend_batch",
        "recommend_many",
        "calls_of",
        "reset_counts",
    }
    assert not any(isinstance(v, nn.Module) for k, v in vars(oracle).items() if "__" not in k)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_attack_modules_cannot_import_the_target() -> None:
    # the batch dataclass (query tokens) is the only thing the attack takes from graphrec.models
    for name in ("extraction.py", "queries.py"):
        imported = _imports(SECURITY / name) - {"graphrec.models.batch"}
        assert not any(m.startswith(("graphrec.models", "graphrec.train")) for m in imported), name
    # the surrogate builds its own model from the model factories, never loads a trained one
    surrogate_imports = _imports(SECURITY / "surrogate.py")
    assert not any(m.startswith("graphrec.train") for m in surrogate_imports)
    assert "graphrec.security.oracle" not in surrogate_imports


def test_load_oracle_serves_a_trained_run(tiny_dataset_dir, tmp_path) -> None:
    config = load_config(
        None,
        [
            f"data.source={tiny_dataset_dir}",
            "data.max_len=8",
            "model.embedding_dim=8",
            "model.num_layers=1",
            "model.num_blocks=1",
            "train.epochs=1",
            "train.device=cpu",
        ],
    )
    result = train(config, tmp_path / "run", progress=False)
    oracle, split = load_oracle(tmp_path / "run", max_k=10)
    assert oracle.num_items == split.num_items and oracle.max_len == 8
    answer = oracle.recommend([0, 1, 2], k=10)
    # the same ranking as the trained model's own, for an anonymous query, query items masked
    batch = SequenceBatch(users=torch.tensor([-1]), items=torch.tensor([[0] * 5 + [1, 2, 3]]))
    scores = result.model.eval().full_sort_predict(batch)[0]
    scores[[0, 1, 2]] = float("-inf")
    assert answer == scores.topk(10).indices.tolist()
