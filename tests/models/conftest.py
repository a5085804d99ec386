"""Fixtures shared by the model tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from graphrec.models.batch import SequenceBatch

FitLosses = Callable[[nn.Module, SequenceBatch, float], list[float]]


@pytest.fixture
def fit_losses() -> FitLosses:
    """30 full-batch Adam steps on ``model.calculate_loss(data)``; the loss of each step.

    The recommenders' learning tests all train this way, so they share it.
    """

    def fit(model: nn.Module, data: SequenceBatch, lr: float) -> list[float]:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        losses = []
        for _ in range(30):
            optimizer.zero_grad()
            loss = model.calculate_loss(data)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    return fit
