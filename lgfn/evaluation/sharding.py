"""Sharded evaluation: the clips of one evaluation split over the processes that torchrun started.

``torchrun --nproc_per_node=N test.py ...`` runs N processes (CPU or GPUs, one machine or several).
The clips still to score are cut into rounds of N; in each round every process scores one clip,
and then every process receives every clip's scores (:func:`gather_round`, pickled, so the floats
are the ones a single process would compute). Rank 0 appends them to the resume log after each
round, so ``partial.jsonl`` always holds whole clips, whatever the number of processes: an
interrupted sharded run resumes with any number of processes, and the report, built from the
gathered scores in the dataset's clip order, is the one a single process writes.

With more than one process, the clips are taken longest first (a stable sort on the number of
scored frames), so that the clips of one round take about as long and no process waits long for
the others; with one process they are taken in the dataset's order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from lgfn.distributed import DistributedContext, all_gather_objects, broadcast_object
from lgfn.errors import LGFNError
from lgfn.evaluation.scoring import ClipScores

T = TypeVar("T")


def plan_rounds(frame_counts: Sequence[int], pending: Sequence[int], world_size: int) -> list[list[int]]:
    """Which clip each process scores in each round.

    Args:
        frame_counts: the number of scored frames of every clip of the dataset.
        pending: the indices of the clips still to score, in the dataset's order.
        world_size: the number of processes.

    Returns:
        Rounds of at most ``world_size`` clip indices; process ``k`` scores ``round[k]`` (the last
        round may leave the higher ranks without a clip). Every pending clip appears once.
    """
    order = list(pending)
    if world_size > 1:
        order.sort(key=lambda index: -frame_counts[index])  # stable: ties keep the dataset's order
    return [order[first : first + world_size] for first in range(0, len(order), world_size)]


@dataclass(frozen=True)
class ClipOutcome:
    """What one process sends after a round: its clip's scores, or why it could not score it.

    Attributes:
        key: the clip's key (``None`` when this process had no clip this round).
        scores: the clip's scores (``None`` when there were none).
        error: the message of the user error that stopped this process, or ``None``.
    """

    key: str | None = None
    scores: ClipScores | None = None
    error: str | None = None


def score_share(key: str, score: Callable[[], ClipScores], context: DistributedContext) -> ClipOutcome:
    """Run ``score`` for this process's clip of a round.

    With several processes a user error (an unreadable frame) is kept for :func:`gather_round`
    instead of raised, so that the other processes learn of it rather than wait for this one.
    """
    if not context.enabled:
        return ClipOutcome(key, score())
    try:
        return ClipOutcome(key, score())
    except LGFNError as exc:
        return ClipOutcome(key, error=str(exc))


def gather_round(outcome: ClipOutcome, context: DistributedContext) -> list[tuple[str, ClipScores]]:
    """Every process's scores of the round, in rank order, on every process.

    Raises:
        LGFNError: a process met a user error this round (raised on every process, naming the clip).
    """
    outcomes = all_gather_objects(outcome, context)
    for rank, other in enumerate(outcomes):
        if other.error is not None:
            where = "" if not context.enabled else f" (process {rank} of {context.world_size})"
            raise LGFNError(f"{other.error}{where}")
    return [(other.key, other.scores) for other in outcomes if other.key is not None]


def decided_on_main(decide: Callable[[], T] | None, context: DistributedContext) -> T | None:
    """Rank 0 runs ``decide`` (reading or claiming the output folder) and every process gets its outcome.

    Args:
        decide: rank 0's step, ``None`` on the other processes (their result is rank 0's); ``None``
            on rank 0 too gives ``None`` everywhere.
        context: the process group.

    Raises:
        LGFNError: ``decide`` raised one (a refusal); raised on every process, so that none waits.
    """
    if not context.enabled:
        return None if decide is None else decide()
    outcome, error = None, None
    if decide is not None:
        try:
            outcome = decide()
        except LGFNError as exc:
            error = str(exc)
    outcome, error = broadcast_object((outcome, error), context)
    if error is not None:
        raise LGFNError(error)
    return outcome
