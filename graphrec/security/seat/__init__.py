"""SEAT (Zhang, Chen, Wagner, AISec 2021): similarity encoder, pair counting, detector, monitor."""

from graphrec.security.seat.detector import SEATDetector
from graphrec.security.seat.encoder import (
    EncoderTraining,
    SimilarityEncoder,
    contrastive_loss,
    gradient_swaps,
    pgd_embedding,
    squared_distances,
    train_encoder,
)
from graphrec.security.seat.monitor import (
    AccountMonitor,
    account_assignment,
    accounts_needed,
    detection_report,
    spread_queries,
)
from graphrec.security.seat.pairs import (
    account_limit,
    benign_pair_distances,
    count_similar_pairs,
    pair_threshold,
    similar_pairs,
    squared_distance_matrix,
)

__all__ = [
    "AccountMonitor",
    "EncoderTraining",
    "SEATDetector",
    "SimilarityEncoder",
    "account_assignment",
    "account_limit",
    "accounts_needed",
    "benign_pair_distances",
    "contrastive_loss",
    "count_similar_pairs",
    "detection_report",
    "gradient_swaps",
    "pair_threshold",
    "pgd_embedding",
    "similar_pairs",
    "spread_queries",
    "squared_distance_matrix",
    "squared_distances",
    "train_encoder",
]
