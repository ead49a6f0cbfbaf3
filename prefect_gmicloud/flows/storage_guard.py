"""Before a run pays into a store: prove the store, or hold the board's lock where it cannot be.

A store that honours conditional writes lets the ledger pay each shot once across any number
of runs. One that ignores them is refused, unless the run asks for ``board_lock``: then a
Prefect global concurrency limit of one slot per board, held with a lease for as long as the
run pays, lets only one run of the board pay at a time on every worker. The lease is renewed
in the background; should renewal fail (the Prefect API gone for most of a lease), Prefect
cancels the run, which stops its submits, before another run could take the lock.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator

from prefect import get_client, get_run_logger
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.asyncio import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import get_current_settings

from prefect_gmicloud.errors import BoardBusy, BoardLockUnshared, UnsafeStore
from prefect_gmicloud.storage.location import StorageLocation
from prefect_gmicloud.storage.probe import check_store

#: The board lock's lease, in seconds: Prefect renews it at three quarters of this.
BOARD_LEASE_SECONDS = 60.0
#: How long a run waits for another run of its board to let go of the lock.
BOARD_LOCK_WAIT_SECONDS = 60.0


def board_lock_name(location: StorageLocation, title: str) -> str:
    """The Prefect limit that locks the board ``title`` in this storage (one per board)."""
    where = f"{location.store.endpoint}|{location.bucket}|{location.prefix}|{title}"
    return f"gmicloud-board-{hashlib.sha256(where.encode()).hexdigest()[:16]}"


async def guard_storage(
    location: StorageLocation, title: str, board_lock: bool
) -> contextlib.AbstractAsyncContextManager[None]:
    """Check the store before anything is paid; what to hold while paying.

    Args:
        location: the run's storage.
        title: the board (or video) the run pays for.
        board_lock: hold a Prefect lock on the board while paying, so only one run of it
            pays at a time; required on a store that ignores conditional writes.

    Returns:
        The board lock when asked for, else nothing to hold.

    Raises:
        UnsafeStore: the store ignores conditional writes and ``board_lock`` is off.
        StorageError: the store could not be written or read at all.
        BoardLockUnshared: ``board_lock`` without a Prefect server shared by every run.
    """
    if board_lock and get_current_settings().api.url is None:
        # A temporary API server is this process's own: its lock would lock nobody else out.
        raise BoardLockUnshared(title)
    verdict = await check_store(location)
    if not verdict.safe:
        if not board_lock:
            raise UnsafeStore(location.uri(location.key(title) + "/"), verdict.explain())
        get_run_logger().warning(
            "%s; paying under the board lock %s instead",
            verdict.summary(),
            board_lock_name(location, title),
        )
    return hold_board(location, title) if board_lock else contextlib.nullcontext()


@contextlib.asynccontextmanager
async def hold_board(location: StorageLocation, title: str) -> AsyncIterator[None]:
    """Hold the board's Prefect lock (one slot, leased) while inside.

    Raises:
        BoardBusy: another run held it for longer than ``BOARD_LOCK_WAIT_SECONDS``.
    """
    name = board_lock_name(location, title)
    await _ensure_limit(name)
    lock = concurrency(
        name,
        occupy=1,
        timeout_seconds=BOARD_LOCK_WAIT_SECONDS,
        lease_duration=BOARD_LEASE_SECONDS,
        strict=True,
        raise_on_lease_renewal_failure=True,
    )
    async with contextlib.AsyncExitStack() as held:
        try:
            await held.enter_async_context(lock)
        except TimeoutError:
            raise BoardBusy(title, name, BOARD_LOCK_WAIT_SECONDS) from None
        get_run_logger().info("holding the board lock %s", name)
        yield


async def _ensure_limit(name: str) -> None:
    """Create the board's limit of one slot if it does not exist (two runs may race: fine)."""
    async with get_client() as prefect:
        try:
            await prefect.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):
                await prefect.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )
