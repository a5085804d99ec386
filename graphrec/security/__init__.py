"""Security of the recommender: the black-box oracle, model extraction, and defenses (GRO, SEAT).

The attack side sees only an :class:`Oracle` (top-k item ids per query, counted and logged per
account) and the catalogue size; the defender owns the model behind it.
"""

from graphrec.security.extraction import (
    Attack,
    ExtractionConfig,
    ExtractionResult,
    agreement_curve,
    evaluate_extraction,
    extract,
    run_extraction,
)
from graphrec.security.oracle import Oracle, QueryRefused, load_oracle
from graphrec.security.queries import autoregressive_queries, label_prefixes, random_queries
from graphrec.security.ranking_loss import list_margin_loss, ranking_margin_loss, sample_outside
from graphrec.security.surrogate import SurrogateConfig, build_surrogate, fit_surrogate

__all__ = [
    "Attack",
    "ExtractionConfig",
    "ExtractionResult",
    "Oracle",
    "QueryRefused",
    "SurrogateConfig",
    "agreement_curve",
    "autoregressive_queries",
    "build_surrogate",
    "evaluate_extraction",
    "extract",
    "fit_surrogate",
    "label_prefixes",
    "list_margin_loss",
    "load_oracle",
    "random_queries",
    "ranking_margin_loss",
    "run_extraction",
    "sample_outside",
]
