"""The Prefect global concurrency limits a run names, checked before anything is paid.

A run may name two: ``concurrency_limit`` (one slot per request in flight, the GMI quota every
worker shares) and ``budget_limit`` (slots are generated seconds, consumed by
``rate_limit`` and refilled by a slot decay). Both are used in strict mode, so a missing one
fails a shot rather than letting it through; without this check the run would find out only
shot by shot, after it had claimed the shots and staged its references. ``prefect-gmicloud
doctor`` makes the same checks. A limit found usable is not read again for
:data:`LIMIT_CHECK_SECONDS`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prefect import get_client
from prefect.exceptions import ObjectNotFound
from prefect.settings import get_current_settings

from prefect_gmicloud.errors import LimitUnusable

#: How long a limit found usable is trusted before a run reads it again.
LIMIT_CHECK_SECONDS = 300.0

#: Limits found usable, by (Prefect API, name, kind), with the monotonic time they were.
_USABLE: dict[tuple[str | None, str, str], float] = {}


@dataclass(frozen=True)
class LimitProblem:
    """What is wrong with one limit, and the command that fixes it."""

    problem: str
    fix: str


def prefect_api() -> str:
    """The Prefect API limits live in, for messages."""
    url = get_current_settings().api.url
    return f"the Prefect API at {url}" if url else "this machine's temporary Prefect server"


async def limit_problem(
    name: str, *, budget: bool, largest_shot_seconds: int | None = None
) -> LimitProblem | None:
    """What keeps the global concurrency limit ``name`` from serving a run; ``None`` if nothing.

    Args:
        name: the limit.
        budget: it is a budget (``budget_limit``: needs a slot decay); else a quota.
        largest_shot_seconds: the most seconds one shot takes of a budget, when known: a budget
            smaller than that can never let the shot be paid.

    Raises:
        Exception: Prefect's API could not be asked (its own errors, as they come).
    """
    async with get_client() as prefect:
        try:
            limit = await prefect.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            create = (
                f"prefect gcl create {name} --limit 3600 --slot-decay-per-second 0.0417"
                if budget
                else f"prefect gcl create {name} --limit 4"
            )
            return LimitProblem(
                f"the global concurrency limit {name!r} does not exist on {prefect_api()}",
                create,
            )
    if not limit.active:
        return LimitProblem(
            f"the global concurrency limit {name!r} is inactive: it limits nothing",
            f"prefect gcl enable {name}",
        )
    if budget and not limit.slot_decay_per_second:
        return LimitProblem(
            f"the budget {name!r} has no slot decay: Prefect refuses to spend seconds from it",
            f"prefect gcl update {name} --slot-decay-per-second 0.0417 (or 0.000001 for a "
            "budget that never refills)",
        )
    if budget and largest_shot_seconds is not None and limit.limit < largest_shot_seconds:
        return LimitProblem(
            f"the budget {name!r} holds {limit.limit} s but a shot takes {largest_shot_seconds} "
            "s: that shot could never be paid",
            f"prefect gcl update {name} --limit {largest_shot_seconds}",
        )
    return None


async def require_limits(concurrency_limit: str | None, budget_limit: str | None) -> None:
    """Refuse a run whose named limits do not exist or cannot serve it (cached when usable).

    Args:
        concurrency_limit: the run's quota limit, if any.
        budget_limit: the run's budget limit, if any.

    Raises:
        LimitUnusable: naming each limit's problem and the command that fixes it.
    """
    api = get_current_settings().api.url
    problems = []
    for name, budget in ((concurrency_limit, False), (budget_limit, True)):
        if name is None:
            continue
        key = (api, name, "budget" if budget else "quota")
        checked = _USABLE.get(key)
        if checked is not None and time.monotonic() - checked < LIMIT_CHECK_SECONDS:
            continue
        found = await limit_problem(name, budget=budget)
        if found is None:
            _USABLE[key] = time.monotonic()
        else:
            role = "budget_limit" if budget else "concurrency_limit"
            problems.append(f"{role}: {found.problem}; nothing was paid. Fix: {found.fix}")
    if problems:
        raise LimitUnusable(problems)


def forget_limits() -> None:
    """Drop every limit found usable (the next run reads them again)."""
    _USABLE.clear()
