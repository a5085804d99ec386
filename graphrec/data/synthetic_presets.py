"""What the synthetic generator (:mod:`graphrec.data.synthetic`) matches: the published sizes,
dates, rating histograms and shapes of the real MovieLens datasets (Harper & Konstan, ACM TiiS
5(4), 2015), and ml-100k's genre, occupation and gender shares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GENRES = (
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
# Share of ml-100k items listing each genre (same order as GENRES).
GENRE_SHARES = np.array(
    [.149, .080, .025, .073, .300, .065, .030, .431, .013, .014, .055, .033, .036, .147, .060,
     .149, .042, .016]
)  # fmt: skip
# Share of ml-100k items with 1, 2, … 6 genres.
GENRE_COUNT_SHARES = np.array([0.4953, 0.3383, 0.1278, 0.0303, 0.0065, 0.0018])
OCCUPATIONS = (
    "student", "other", "educator", "administrator", "engineer", "programmer", "librarian",
    "writer", "executive", "scientist", "artist", "technician", "marketing", "entertainment",
    "healthcare", "retired", "lawyer", "salesman", "none", "homemaker", "doctor",
)  # fmt: skip
OCCUPATION_COUNTS = np.array(
    [196, 105, 95, 79, 67, 66, 51, 45, 32, 31, 28, 27, 26, 18, 16, 14, 12, 12, 9, 7, 7]
)
MALE_SHARE = 0.71  # ml-100k: 670 of 943 users


@dataclass(frozen=True)
class Preset:
    """Published size and shape of one real MovieLens dataset.

    Attributes:
        num_users: users (each with at least ``min_user_events`` ratings).
        num_items: items with at least one rating.
        num_ratings: rating events.
        start: first rating date (ISO).
        end: last rating date (ISO).
        rating_values: the rating scale.
        rating_shares: the share of events at each rating value.
        activity_shape: Gamma shape of events per user above the minimum (sets the Gini).
        popularity_exponent: Zipf exponent ``a`` of the item popularity weights.
        popularity_cutoff: exponential cutoff of the popularity weights, as a share of the
            catalogue (smaller = a thinner tail).
        max_user_events: the most ratings of one user (the cap scales with the catalogue).
        min_user_events: MovieLens keeps only users with at least this many ratings.
    """

    num_users: int
    num_items: int
    num_ratings: int
    start: str
    end: str
    rating_values: tuple[float, ...]
    rating_shares: tuple[float, ...]
    activity_shape: float
    popularity_exponent: float
    popularity_cutoff: float
    max_user_events: int
    min_user_events: int = 20


_STARS = (1.0, 2.0, 3.0, 4.0, 5.0)
_HALF_STARS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)

PRESETS: dict[str, Preset] = {
    # Sizes, dates, rating shares (per-value counts ÷ ratings) and the most active user's count are
    # the real datasets'. The shape parameters are fitted: ml-100k's to its activity and popularity
    # Gini; ml-1m's and ml-20m's to the published item-count median / mean and maximum.
    "ml-100k": Preset(
        num_users=943,
        num_items=1_682,
        num_ratings=100_000,
        start="1997-09-20",
        end="1998-04-23",
        rating_values=_STARS,
        rating_shares=(0.0611, 0.1137, 0.27145, 0.34174, 0.21201),
        activity_shape=0.6,
        popularity_exponent=0.3,
        popularity_cutoff=0.22,
        max_user_events=737,
    ),
    "ml-1m": Preset(
        num_users=6_040,
        num_items=3_706,
        num_ratings=1_000_209,
        start="2000-04-25",
        end="2003-02-28",
        rating_values=_STARS,
        rating_shares=(0.05616, 0.10753, 0.26114, 0.34889, 0.22626),
        activity_shape=0.6,
        popularity_exponent=0.3,
        popularity_cutoff=0.25,
        max_user_events=2_314,
    ),
    "ml-20m": Preset(
        num_users=138_493,
        num_items=26_744,
        num_ratings=20_000_263,
        start="1995-01-09",
        end="2015-03-31",
        rating_values=_HALF_STARS,
        rating_shares=(
            0.01196,
            0.03404,
            0.01396,
            0.07155,
            0.04417,
            0.21456,
            0.11001,
            0.27809,
            0.07674,
            0.14493,
        ),
        activity_shape=0.45,
        popularity_exponent=0.45,
        popularity_cutoff=0.1,
        max_user_events=9_254,
    ),
}
