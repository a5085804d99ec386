"""The CUDA path: training, evaluation and GRO run on a GPU and agree with the CPU.

Skipped where no CUDA device exists (CI); run on a GPU machine with ``pytest tests/test_cuda.py``.
"""

from __future__ import annotations

import pytest
import torch

from graphrec.eval.ranking import evaluate
from graphrec.models.factory import ModelSpec
from graphrec.security.gro import GROConfig, train_gro
from graphrec.train.trainer import build_for_split, load_trained, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("encoder", ["lightgcn", "sage", "gat"])
def test_train_on_cuda_then_evaluate_on_cpu_agrees(
    tiny_dataset_dir, tmp_path, tiny_train_config, encoder
):
    result = train(
        tiny_train_config(
            tiny_dataset_dir, "train.device=cuda", "train.epochs=2", f"model.encoder={encoder}"
        ),
        tmp_path,
        progress=False,
    )
    assert next(result.model.parameters()).is_cuda
    model, split, config = load_trained(tmp_path, device="cpu")
    on_cpu = evaluate(model, split, "test", max_len=config.data.max_len, device="cpu")
    gpu_model, _, _ = load_trained(tmp_path, device="cuda")
    on_gpu = evaluate(gpu_model, split, "test", max_len=config.data.max_len, device="cuda")
    assert on_cpu["num_users"] == on_gpu["num_users"]
    for key in ("ndcg@10", "hit@10", "mrr@10"):
        assert on_cpu[key] == pytest.approx(on_gpu[key], abs=0.02), key


def test_gro_fine_tunes_on_cuda(tiny_split):
    spec = ModelSpec(
        name="graphrec",
        num_users=tiny_split.num_users,
        num_items=tiny_split.num_items,
        max_len=8,
        embedding_dim=16,
        num_layers=1,
        num_blocks=1,
        num_heads=1,
    )
    init = build_for_split(spec, tiny_split).state_dict()
    config = GROConfig(k=5, max_len=8, batch_size=16, epochs=1, lamb=0.1, device="cuda")
    result = train_gro(config, tiny_split, spec, init_state=init)
    assert next(result.model.parameters()).is_cuda
    assert result.history[0]["losses/swap"] >= 0.0
