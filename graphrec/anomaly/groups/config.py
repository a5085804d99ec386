"""The vocabulary shared by every part of group detection: method names, output columns, config.

Kept apart so that the detection modules and the report can all import it without importing
each other.
"""

from __future__ import annotations

from dataclasses import dataclass

LOCKSTEP = "lockstep"
DENSE_BLOCK = "dense_block"
METHODS: tuple[str, ...] = (LOCKSTEP, DENSE_BLOCK)
GROUP_COLUMNS: tuple[str, ...] = (
    "group",
    "direction",
    "method",
    "members",
    "member_ids",
    "targets",
    "target_ids",
    "target_titles",
    "window_start",
    "window_end",
    "size",
    "num_targets",
    "density",
    "suspicion",
    "confidence",
)
TARGET_TABLE_COLUMNS: tuple[str, ...] = (
    "group",
    "item",
    "item_id",
    "title",
    "direction",
    "extreme_count",
    "expected",
    "suspicion",
)


@dataclass(frozen=True)
class GroupConfig:
    """Parameters of :func:`~graphrec.anomaly.groups.detect_groups`.

    Attributes:
        min_group_size: fewest accounts a reported group may have (campaigns in the literature
            and in our injector use 10–50 accounts; below ~8, genuine coincidences abound).
        min_llr: least Poisson log-likelihood ratio (observed vs expected extreme ratings) of an
            item's excess or a time window; 12 ≈ a one-sided p of 1e-6 under the Poisson null,
            i.e. a Bonferroni margin over a few thousand (item, direction) tests. Real data are
            over-dispersed, hence the margin.
        window_seconds: Δt of the lockstep windows (CopyCatch's Δt); bombing "within hours" fits
            in the default day.
        column_c: FRAUDAR's ``c`` in the column weight ``1 / log(degree + c)``.
        min_overlap: two lockstep windows (or a dense block and a lockstep group) with at least
            this Jaccard (overlap) of accounts are the same campaign.
        prior_strength: pseudo-events pulling a rater's extreme-rating share toward the global
            one (short profiles have noisy shares).
        use_time: None = lockstep when ``ratings.has_timestamps``; False = never; True = required.
        max_groups: dense blocks peeled per direction at most.
    """

    min_group_size: int = 8
    min_llr: float = 12.0
    window_seconds: int = 24 * 3600
    column_c: float = 5.0
    min_overlap: float = 0.5
    prior_strength: float = 5.0
    use_time: bool | None = None
    max_groups: int = 20

    def __post_init__(self) -> None:
        if self.min_group_size < 2:
            raise ValueError(f"min_group_size must be >= 2, got {self.min_group_size}")
        if self.min_llr < 0:
            raise ValueError(f"min_llr must be >= 0, got {self.min_llr}")
        if self.window_seconds < 1:
            raise ValueError(f"window_seconds must be >= 1, got {self.window_seconds}")
        if self.column_c <= 1.0:
            raise ValueError(f"column_c must be > 1 (log(degree + c) > 0), got {self.column_c}")
        if not 0.0 < self.min_overlap <= 1.0:
            raise ValueError(f"min_overlap must be in (0, 1], got {self.min_overlap}")
        if self.prior_strength < 0:
            raise ValueError(f"prior_strength must be >= 0, got {self.prior_strength}")
        if self.max_groups < 1:
            raise ValueError(f"max_groups must be >= 1, got {self.max_groups}")
