"""Labeled anomaly injection into any :class:`Ratings`.

The competition of ``seeds/000`` gives no generator, only labeled data; to train and evaluate
detectors on MovieLens (or any ratings file) we plant the brief's behaviours ourselves and keep
account- and event-level ground truth. Every injector draws from the genuine data (see
:mod:`graphrec.anomaly.attack_models`) so that no accidental artefact — profile length, a NaN
demographic, timestamps outside the real span — separates the fakes.

Types (names in :mod:`graphrec.anomaly.labels`), one module each:

* ``account_sharing`` (:mod:`.sharing`) — 2–3 real users' histories merged into one account,
  interleaved in time; the merged users disappear as accounts.
* ``shilling_push`` / ``shilling_nuke`` (:mod:`.shilling`) — fake profiles of the random,
  average, bandwagon and segment models, sized by attack size (fakes ÷ genuine users) and filler
  size.
* ``review_bombing`` (:mod:`.bombing`) — new and hijacked real accounts rating one title or a
  series at the minimum inside a window of hours; the new accounts carry cover activity.
* ``bot_consistency`` (:mod:`.bots`) — one rating value, or a repeating pattern, at machine pace.
* ``abnormal_viewing`` (:mod:`.viewing`) — real users with bursts and repeated events.
* step 2 only: ``obfuscated_shilling`` (:mod:`.obfuscated`, AoP with noise, user shift, target
  shift), ``hijacked`` (:mod:`.hijacked`, the last ~30 % of real accounts' events become a
  campaign) and ``sampling`` (:mod:`.copying`, see :class:`SamplingConfig` for why this one).
* the literature's further families, for leave-one-type-out benchmarks (:func:`full_config`):
  ``love_hate`` and ``reverse_bandwagon`` (Mobasher et al. 2007), ``power_user`` and
  ``power_item`` (Seminario & Wilson 2014, :mod:`.power`), ``mixed_shilling`` (Williams et al.
  2007, :mod:`.mixed`) and ``coordinated_ring`` (:mod:`.ring`: members that each copy part of a
  distinct real profile and together move one item).

Every shilling family takes :class:`Obfuscation` (noise, user shift, target shift, AoP) and a
lockstep ``window_seconds``. The result is a fresh :class:`Ratings` built with
``from_raw_events`` on raw ids (the item catalogue and metadata kept), plus the label tables of
:mod:`graphrec.anomaly.labels` and the attacked items. The same seed always gives the same result;
each type draws from its own random stream, so enabling one type does not change what another
produces.
"""

from graphrec.anomaly.inject.config import (
    FULL_TYPES,
    InjectionConfig,
    full_config,
    step1_config,
    step2_config,
    without_types,
)
from graphrec.anomaly.inject.engine import Injected, inject
from graphrec.anomaly.inject.family_options import (
    IN_DEGREE,
    NUM_RATINGS,
    POWER_SELECTIONS,
    LoveHateConfig,
    MixedConfig,
    PowerItemConfig,
    PowerUserConfig,
    ReverseBandwagonConfig,
    RingConfig,
)
from graphrec.anomaly.inject.options import (
    HOUR,
    BombingConfig,
    BotConfig,
    HijackConfig,
    ObfuscatedConfig,
    Obfuscation,
    SamplingConfig,
    SharingConfig,
    ShillingAttack,
    ViewingConfig,
)
from graphrec.anomaly.inject.power import power_items, power_users

__all__ = [
    "FULL_TYPES",
    "HOUR",
    "IN_DEGREE",
    "NUM_RATINGS",
    "POWER_SELECTIONS",
    "BombingConfig",
    "BotConfig",
    "HijackConfig",
    "Injected",
    "InjectionConfig",
    "LoveHateConfig",
    "MixedConfig",
    "ObfuscatedConfig",
    "Obfuscation",
    "PowerItemConfig",
    "PowerUserConfig",
    "ReverseBandwagonConfig",
    "RingConfig",
    "SamplingConfig",
    "SharingConfig",
    "ShillingAttack",
    "ViewingConfig",
    "full_config",
    "without_types",
    "inject",
    "power_items",
    "power_users",
    "step1_config",
    "step2_config",
]
