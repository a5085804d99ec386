"""GRO: train a target recommender whose top-k lists mislead a model-extraction student.

Zhang, Yin, Chen, Long, "Defense Against Model Extraction Attacks on Recommender Systems",
WSDM 2024 (official code: RinneSz/GRO-Gradient-based-Ranking-Optimization). The defender solves
min over the target of L_target - L_student, where the student learns from the target's rankings
as an extraction attacker would. A ranking is not differentiable, so GRO writes the target's
top-k list ``a_1..a_k`` as a swap matrix ``A`` (``A[i, a_i] = 1``, shape ``[k, I]``) and feeds
``c = A @ S_student`` to the student's ranking loss. Each training step:

1. the target scores every item for a query; its top-k (query items excluded, as the
   :class:`~graphrec.security.oracle.Oracle` serves them) gives ``A`` (:func:`swap_matrix`);
2. a student with the target's architecture (its own :class:`GraphSequentialRecommender` over the
   same training graph) scores the items; ``c = A @ S_student``;
3. student loss = hinge between adjacent ranks (margin ``m1``) + hinge against one sampled item
   outside the list per rank (margin ``m2``): the extraction attack's own loss,
   :func:`graphrec.security.ranking_loss.list_margin_loss`, so the student learns as the attacker;
4. ``G = dL_student / dA`` by ``torch.autograd.grad``; ``A'`` = row-wise one-hot of ``argmax G``
   (:func:`swap_targets`): putting item ``a'_i`` at rank ``i`` would hurt the student most;
5. ``L_swap = (1/k) sum_i max((A_i - A'_i) . S_target + m_swap, 0)`` (:func:`swap_loss`) pushes
   the target to rank ``a'_i`` where it ranked ``a_i``;
6. the target minimises ``L_rec + lambda * L_swap``; the student takes its own step on its loss
   and is discarded at the end.

Unlike the source project's "GRO", ``A`` is a leaf that requires grad and ``c`` is a ``bmm`` with
it, so ``G`` is the real gradient (tested in ``tests/security/test_gro.py``).

Choices this module makes where the paper leaves room (all documented on the functions):

* the target's rankings are those of *anonymous* queries (user id -1, query items masked), which
  is what the oracle serves; the recommendation loss is the ordinary one (with users);
* each training sequence is queried as a random prefix (``random_prefix``), because attackers
  query prefixes of every length (autoregressive queries), not only the full history;
* ``A'`` never points at an item of the query (the oracle can never serve it), and a row whose
  gradient is identically zero (no active hinge) keeps ``A'_i = A_i`` (no swap) instead of the
  arbitrary column 0 that a plain ``argmax`` of zeros would give;
* ``m_swap`` defaults to 0, as in the official code (the paper's formula has a margin: settable);
* the student's randomness (dropout, negative sampling) runs on its own RNG stream, so with
  ``lambda = 0`` the target follows exactly the trajectory of plain training
  (:func:`graphrec.train.trainer.train` with the same seed).

Fine-tuning: :func:`train_gro` accepts ``init_state`` (a trained target's state dict) and then
fine-tunes it with the GRO objective for ``epochs`` epochs, the official repo's ``--use_pretrained``
mode; on a CPU this is much cheaper than training from scratch and is what the benchmark does.
"""

from graphrec.security.gro.queries import (
    ServedLists,
    query_batch,
    query_item_ids,
    query_item_mask,
    sample_negatives,
    serve_queries,
)
from graphrec.security.gro.select import (
    GROCandidate,
    choose_lambda,
    sweep_candidates,
    test_candidate,
)
from graphrec.security.gro.swap import (
    student_swap_gradient,
    swap_loss,
    swap_matrix,
    swap_targets,
)
from graphrec.security.gro.train import (
    DEFAULT_LAMBDAS,
    GROConfig,
    GROResult,
    GROStepOutput,
    build_student,
    gro_step,
    student_rng,
    train_gro,
    warm_up_student,
)

__all__ = [
    "DEFAULT_LAMBDAS",
    "GROConfig",
    "GROCandidate",
    "GROResult",
    "GROStepOutput",
    "ServedLists",
    "build_student",
    "choose_lambda",
    "gro_step",
    "query_batch",
    "query_item_ids",
    "query_item_mask",
    "sample_negatives",
    "serve_queries",
    "student_rng",
    "student_swap_gradient",
    "swap_loss",
    "swap_matrix",
    "swap_targets",
    "sweep_candidates",
    "test_candidate",
    "train_gro",
    "warm_up_student",
]
