"""The chunked BPR loss equals the recommender's autograd BPR, value and gradients."""

from __future__ import annotations

import pytest
import torch

from graphrec.anomaly import bpr
from graphrec.models.recommender import bpr_loss


def test_chunked_bpr_matches_autograd_bpr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bpr, "CHUNK", 7)  # several chunks, the last one partial
    generator = torch.Generator().manual_seed(0)
    user0 = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    item0 = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    users = torch.randint(5, (30,), generator=generator)
    positives = torch.randint(6, (30,), generator=generator)

    user, item = user0.clone().requires_grad_(), item0.clone().requires_grad_()
    torch.manual_seed(3)
    expected = bpr_loss(user, item, users, positives)  # draws its negatives from the seed
    expected.backward()
    torch.manual_seed(3)
    negatives = torch.randint(6, positives.shape)
    user_c, item_c = user0.clone().requires_grad_(), item0.clone().requires_grad_()
    loss = bpr.chunked_bpr_loss(user_c, item_c, users, positives, negatives)
    loss.backward()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(user_c.grad, user.grad)
    torch.testing.assert_close(item_c.grad, item.grad)
