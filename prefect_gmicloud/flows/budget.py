"""A storyboard run's estimate and budgets: its own (checked before anything is paid) and one
shared by every run and worker (taken shot by shot, just before each submit).

The shared budget is a Prefect global concurrency limit whose slots are generated seconds::

    prefect gcl create gmi-seconds --limit 3600 --slot-decay-per-second 0.0417

(3600 s, refilling at 0.0417 s a second: 3600 s a day). Each shot that is about to be submitted
takes its seconds with :func:`prefect.concurrency.asyncio.rate_limit`, the Prefect primitive
whose slots are *consumed* and only come back by decay, never on release: a budget is spent by a
paid video, not borrowed while it renders (``concurrency()`` would give the seconds back when the
block ends, and a lease expiry would too). Prefect only lets a limit with a slot decay be used
this way; for a budget that never refills, give it a negligible decay (``1e-6``) and reset it by
hand (``prefect gcl update gmi-seconds --active-slots 0``). Strict mode: a missing limit is an
error, never a free pass.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from prefect import get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.concurrency.asyncio import rate_limit

from prefect_gmicloud.errors import BudgetUnavailable, GMICloudError
from prefect_gmicloud.ledger.shot import ShotJob
from prefect_gmicloud.ledger.store import Ledger
from prefect_gmicloud.models.base import GMIPayload
from prefect_gmicloud.reporting import best_effort
from prefect_gmicloud.storyboard.budget_check import check_budget
from prefect_gmicloud.storyboard.estimate import Estimate, estimate, fetch_prices
from prefect_gmicloud.storyboard.plan import PlannedShot

if TYPE_CHECKING:
    from prefect_gmicloud.blocks.credentials import GMICloudCredentials


#: Held around one shot's paid submit (and only a paid one): a budget taken per submit.
BeforeSubmit = Callable[[ShotJob], contextlib.AbstractAsyncContextManager[None]]

#: The shortest wait for the shared budget: the time Prefect's API takes to answer, with room.
MIN_BUDGET_WAIT_SECONDS = 1.0


async def estimate_run(
    title: str,
    planned: list[PlannedShot],
    ledger: Ledger,
    gmi: GMICloudCredentials,
    *,
    force: bool,
    max_generated_seconds: float | None,
    max_cost: float | None,
    video_seconds: Callable[[str], float | None] = lambda url: None,
) -> Estimate:
    """Estimate what the run would pay, refuse it if over budget, and show it as an artifact.

    Only shots that would be paid count: a shot the ledger holds as stored with the same inputs
    is free (unless ``force``); when the ledger cannot be read, every shot counts. Prices are
    asked of GMI (``GET /models/{id}``) only when ``max_cost`` is set; the seconds are checked
    first, so a run over ``max_generated_seconds`` sends nothing at all.

    Args:
        title: the storyboard's title.
        planned: its shots.
        ledger: its ledger, read (never written) for shots already stored.
        gmi: the credentials, to read prices with.
        force: every shot is paid again.
        max_generated_seconds: the most generated seconds this run may pay for.
        max_cost: the most this run may cost (needs prices).
        video_seconds: the length of a reference video a payload URL names, when known.

    Raises:
        BudgetExceeded: the run would pass a budget, or ``max_cost`` is set and a price unknown.
    """
    logger = get_run_logger()
    stored: set[str] = set()
    if not force:
        try:
            stored = {e.inputs_hash for e in await ledger.entries() if e.state == "stored"}
        except GMICloudError as exc:
            logger.warning("ledger not read for the estimate (%s): every shot counts", exc)
    found = estimate(planned, stored, video_seconds)
    try:
        check_budget(title, found, max_generated_seconds=max_generated_seconds)
        if max_cost is not None:
            async with gmi.get_client() as client:
                found.with_prices(await fetch_prices(client, (m.model_id for m in found.models)))
            check_budget(title, found, max_cost=max_cost)
    finally:
        for line in found.lines():
            logger.info("estimate: %s", line)
        await best_effort(
            acreate_markdown_artifact(
                found.markdown(title), description=f"estimate of storyboard {title}"
            )
        )
    return found


def shot_seconds(job: ShotJob) -> int:
    """The budget seconds a shot takes: its length (or its model's default or longest), rounded up.

    Raises:
        BudgetUnavailable: the shot has no duration and its model no known longest one.
    """
    payload = job.payload
    seconds: float | None = None
    field = "duration"
    if isinstance(payload, GMIPayload):  # storyboard shots always are
        asked = payload.asked_seconds()
        seconds = asked if asked is not None else type(payload).unset_seconds()
        rule = payload.spec.seconds
        field = rule.field if rule is not None and rule.field else field
    if seconds is None:
        raise BudgetUnavailable(
            f"shot {job.shot_id}: no {field} and no known longest one for "
            f"{payload.model_id}, so its budget seconds are unknown; set {field}"
        )
    return max(1, math.ceil(seconds))


def budget_seconds(limit_name: str | None, wait_seconds: float) -> BeforeSubmit:
    """Take each submitting shot's seconds from the global concurrency limit ``limit_name``.

    Args:
        limit_name: the limit (slots are seconds; it must have a slot decay); none: no budget.
        wait_seconds: how long a shot may wait for the budget to refill before it fails unpaid
            (at least 1 s: less would give up before Prefect's API has answered).
    """
    wait = max(wait_seconds, MIN_BUDGET_WAIT_SECONDS)

    @contextlib.asynccontextmanager
    async def take(job: ShotJob) -> AsyncIterator[None]:
        if limit_name is None:
            yield
            return
        seconds = shot_seconds(job)
        try:
            await rate_limit(limit_name, occupy=seconds, timeout_seconds=wait, strict=True)
        except TimeoutError:
            raise BudgetUnavailable(
                f"shot {job.shot_id}: the budget {limit_name!r} had not {seconds} s left within "
                f"{wait:g} s; not submitted (run again once it refills)"
            ) from None
        except Exception as exc:  # Prefect's own errors: missing limit, no decay, too big
            raise BudgetUnavailable(
                f"shot {job.shot_id}: the budget {limit_name!r} refused {seconds} s ({exc}); "
                "not submitted"
            ) from None
        yield

    return take
