"""Batch status reads: the waits of one model observed with one ``GET /requests?model_id=``.

A storyboard has tens to thousands of requests of one model in flight at once. Read one by one,
each costs a status call per poll; listed, one call shows them all. Waits of the same API, key,
organization and model whose clients batch with the same :class:`BatchSettings` share a
:class:`BatchObserver` while one of those clients is open (whichever client, event loop or
thread they run in), which:

- serves a wait's poll from a list call made after its last read and at most ``window``
  seconds ago, and otherwise makes one (waits due at the same moment join it);
- paces the list calls: after each, the next is not made before a gap planned from how fast
  the model's requests are seen to end (:meth:`StatusBoard.pace`); a wait whose own poll falls
  due sooner sleeps until then, so one list call serves every wait due in between (it polls
  later than its own plan, by at most the gap) instead of the eagerest wait setting the pace;
- after each list call wakes every sleeping wait that it serves: those whose poll is due within
  ``window`` (polled early) and those whose status the list shows changed;
- never ends a wait on the list alone: a request the list shows terminal is read once more
  with ``GET /requests/{id}`` (what the wait returns), and one the list does not show (a paged
  or partial list) is read that way too, as is every request while the list cannot be used
  (an unknown body shape, an error, more than ``max_records`` records: then for ``cooldown``
  seconds).

Only waits with at least one other wait of their model in flight use the list: a lone wait
reads its own record, which is smaller. A wait's first read is not listed either: it is the
answer of the request's submit (``client/submit_answers.py``), or else its own record (it names
the model). :class:`StatusBoard` holds the decisions and no I/O (the clock is passed in), so
schedules are tested and benchmarked without a server; :class:`BatchObserver` adds the calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import math
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.client.shared import Leases
from prefect_gmicloud.client.wait_schedule import WaitTracker
from prefect_gmicloud.errors import GMICloudError

logger = logging.getLogger("prefect_gmicloud.client")


@dataclass(frozen=True)
class BatchSettings:
    """How status reads are batched.

    Attributes:
        window: a list call serves every wait whose poll is due within this many seconds (they
            poll early), and a poll within this many seconds after a list call is served by it.
        max_records: a list showing more records than this is not used (its bytes grow with
            the organization's history, not with the waits), and reads go single for
            ``cooldown`` seconds.
        cooldown: seconds of single reads after a list call that could not be used.
        horizon: seconds after its last read that a wait still counts as in flight (a wait
            that ended without a terminal read, by a timeout or cancellation, stops counting).
        list_cost: seconds of detection delay, summed over the waits it serves, that one list
            call is worth: the gap between list calls is ``sqrt(2 * list_cost / rate)`` for
            ``rate`` requests seen to end per second, where the delay a gap costs the requests
            ending within it equals this (larger: fewer list calls, later detection).
        min_gap: the shortest gap planned between list calls, in seconds.
        cold_gap: the longest gap while no request has been seen to end within
            ``rate_window``, in seconds.
        max_gap: the longest gap planned between list calls, in seconds; a wait whose own
            poll is due later still wakes then.
        rate_window: seconds of list calls over which the rate requests end at is measured.
    """

    window: float = 2.0
    max_records: int = 2000
    cooldown: float = 60.0
    horizon: float = 120.0
    list_cost: float = 2.5
    min_gap: float = 1.0
    cold_gap: float = 5.0
    max_gap: float = 15.0
    rate_window: float = 60.0

    def __post_init__(self) -> None:
        if self.window < 0 or self.cooldown < 0 or self.horizon <= 0:
            raise ValueError("BatchSettings: window and cooldown >= 0, horizon > 0")
        if self.max_records < 1:
            raise ValueError("BatchSettings.max_records: at least 1")
        if self.list_cost <= 0 or self.rate_window <= 0:
            raise ValueError("BatchSettings: list_cost and rate_window must be positive")
        if not 0 <= self.min_gap <= self.cold_gap <= self.max_gap:
            raise ValueError(
                "BatchSettings: need 0 <= min_gap <= cold_gap <= max_gap, got"
                f" {self.min_gap}, {self.cold_gap}, {self.max_gap}"
            )


@dataclass
class _Sleeper:
    request_id: str
    status: str
    due_at: float
    wake: Callable[[], None]


@dataclass
class StatusBoard:
    """One model's last list call, its waits and whom a list call serves. No I/O.

    Times are the caller's clock (monotonic seconds). Not thread-safe: the observer locks it.
    """

    settings: BatchSettings = field(default_factory=BatchSettings)
    #: When the last usable list call answered, and what it showed by request id.
    listed_at: float | None = None
    records: dict[str, GMIRequest] = field(default_factory=dict)
    #: Until when reads go single (after a list that could not be used).
    single_until: float = -math.inf
    #: When the next list call may be made (see :meth:`pace`).
    next_list_at: float = -math.inf
    _heard: dict[str, float] = field(default_factory=dict)
    #: When lists first showed waits' requests ended (within ``rate_window``), and which.
    _ended: deque[float] = field(default_factory=deque)
    _counted: set[str] = field(default_factory=set)
    _first_listed: float | None = None
    _last_listed: float | None = None
    _sleepers: dict[int, _Sleeper] = field(default_factory=dict)
    _tokens: itertools.count[int] = field(default_factory=itertools.count)

    def batching(self, request_id: str, now: float) -> bool:
        """Note that ``request_id`` is read at ``now``; whether a list call may serve it.

        True when at least one other wait of the model is in flight and the list is usable.
        """
        self._heard[request_id] = now
        horizon = now - self.settings.horizon
        for stale in [rid for rid, heard in self._heard.items() if heard < horizon]:
            del self._heard[stale]
        return self._shared(now)

    def _shared(self, now: float) -> bool:
        return len(self._in_flight()) > 1 and now >= self.single_until

    def _in_flight(self) -> set[str]:
        """The requests of the waits heard from lately or sleeping."""
        return self._heard.keys() | {s.request_id for s in self._sleepers.values()}

    def wake_at(self, request_id: str, due: float, now: float) -> float:
        """When the wait of ``request_id``, its own poll due at ``due``, should wake: then, or
        at the next list call if that is later, the list is shared and its last call showed
        the request (see :meth:`pace`; one it did not show reads its own record meanwhile)."""
        if request_id in self.records and self._shared(now):
            return max(due, self.next_list_at)
        return due

    def pace(self, now: float) -> float:
        """The gap to plan before the next list call, from how fast requests are seen to end.

        With ``rate`` of the waits' requests seen to end per second over the last
        ``rate_window`` seconds, polling every ``gap`` seconds costs the requests ending in one
        gap ``rate * gap**2 / 2`` seconds of delay in all; the gap is where that equals one list
        call's ``list_cost``, within ``[min_gap, max_gap]``. While none is seen to end, the
        only time scale known is how long the waits have run: the rate is taken as every wait
        in flight ending within the time since the first list call (at most ``rate_window``),
        and the gap is at most ``cold_gap``. So the first ends of a board, which often come
        together, are not left waiting for a long gap, and the more waits one list call serves
        the sooner it is worth making.
        """
        settings = self.settings
        while self._ended and self._ended[0] <= now - settings.rate_window:
            self._ended.popleft()
        first = now if self._first_listed is None else self._first_listed
        span = max(0.0, min(settings.rate_window, now - first))
        if self._ended:
            gap = math.sqrt(2 * settings.list_cost * span / len(self._ended))
        else:
            waits = max(1, len(self._in_flight()))
            gap = min(settings.cold_gap, math.sqrt(2 * settings.list_cost * span / waits))
        return min(settings.max_gap, max(settings.min_gap, gap))

    def served(self, request_id: str, last_read: float | None, now: float) -> bool:
        """Whether the last list call serves a poll at ``now`` of a wait last read at
        ``last_read``: it was made after that read and at most ``window`` seconds ago."""
        listed = self.listed_at
        if listed is None or now - listed > self.settings.window:
            return False
        return last_read is None or listed > last_read

    def record(self, request_id: str) -> GMIRequest | None:
        """The last list's record of a request, if the wait may use it without a single read.

        ``None`` when the list did not show the request or showed it terminal: only its own
        record may end a wait.
        """
        found = self.records.get(request_id)
        return None if found is None or found.is_terminal else found

    def listed(self, records: list[GMIRequest], total: int | None, now: float) -> list[_Sleeper]:
        """Take a list call's answer (``total``: how many the server says there are).

        Returns the sleeping waits it serves (now removed from the sleepers): due within
        ``window``, or shown with another status than they last saw. A list longer than
        ``max_records`` is not used: reads go single for ``cooldown`` seconds.
        """
        if len(records) > self.settings.max_records or (total or 0) > self.settings.max_records:
            logger.info(
                "GET /requests shows %d requests (more than %d): reading statuses one by one"
                " for %.0fs",
                max(len(records), total or 0),
                self.settings.max_records,
                self.settings.cooldown,
            )
            self.unusable(now)
            return []
        self.listed_at = now
        self.records = {record.request_id: record for record in records}
        last = self._last_listed
        if last is None or now - last > self.settings.rate_window:
            # The first list in a while (a new board): measure how fast requests end afresh.
            self._first_listed = now
            self._ended.clear()
        self._last_listed = now
        in_flight = self._in_flight()
        for record in records:
            rid = record.request_id
            if record.is_terminal and rid in in_flight and rid not in self._counted:
                self._counted.add(rid)
                self._ended.append(now)
        self.next_list_at = now + self.pace(now)
        served = []
        for token, sleeper in list(self._sleepers.items()):
            found = self.records.get(sleeper.request_id)
            if found is None:
                continue  # not shown (a page of the list): it reads its own record when due
            if str(found.status) != sleeper.status or sleeper.due_at <= now + self.settings.window:
                served.append(self._sleepers.pop(token))
        return served

    def unusable(self, now: float) -> None:
        """The list could not be read: single reads for ``cooldown`` seconds."""
        self.listed_at = None
        self.records = {}
        self.single_until = now + self.settings.cooldown
        self.next_list_at = -math.inf

    def finished(self, request_id: str) -> None:
        """A wait read its request's terminal record: it is no longer in flight."""
        self._heard.pop(request_id, None)
        self._counted.discard(request_id)

    def sleep(self, request_id: str, status: str, due_at: float, wake: Callable[[], None]) -> int:
        """A wait sleeps until ``due_at`` having last seen ``status``; returns its token."""
        token = next(self._tokens)
        self._sleepers[token] = _Sleeper(request_id, status, due_at, wake)
        return token

    def woke(self, token: int) -> None:
        """The sleep of ``token`` is over (however it ended)."""
        self._sleepers.pop(token, None)


#: A list call: the records ``GET /requests?model_id=`` shows and the ``total`` it gives.
ListCall = Callable[[], Awaitable[tuple[list[GMIRequest], int | None]]]


class BatchObserver:
    """One model's :class:`StatusBoard` with its calls; shared by every loop and thread."""

    def __init__(self, settings: BatchSettings) -> None:
        self.board = StatusBoard(settings)
        self._lock = threading.Lock()
        # One list call in flight per event loop (a future cannot be awaited from another).
        self._flights: dict[asyncio.AbstractEventLoop, tuple[float, asyncio.Future[None]]] = {}

    async def read(
        self,
        request_id: str,
        last_read: float | None,
        *,
        clock: Callable[[], float],
        list_call: ListCall,
        get: Callable[[str], Awaitable[GMIRequest]],
    ) -> GMIRequest:
        """The status of ``request_id`` for a wait whose last read was at ``last_read``."""
        board = self.board
        with self._lock:
            batching = board.batching(request_id, clock())
            served = batching and board.served(request_id, last_read, clock())
        if batching and not served:
            await self._list(last_read, clock, list_call)
            with self._lock:
                served = board.served(request_id, last_read, clock())
        if served:
            with self._lock:
                found = board.record(request_id)
            if found is not None:
                return found
        single = await get(request_id)
        if single.is_terminal:
            with self._lock:
                board.finished(request_id)
        return single

    async def _list(
        self,
        last_read: float | None,
        clock: Callable[[], float],
        list_call: ListCall,
    ) -> None:
        """Join this loop's list call in flight if it began after ``last_read``, or make one."""
        loop = asyncio.get_running_loop()
        with self._lock:
            flight = self._flights.get(loop)
            joining = flight is not None and (last_read is None or flight[0] > last_read)
            if flight is not None and joining:
                future = flight[1]
            else:
                future = loop.create_future()
                self._flights[loop] = (clock(), future)
        if joining:
            await asyncio.shield(future)
            return
        try:
            try:
                records, total = await list_call()
            except (GMICloudError, ValueError) as exc:  # ValueError: a record it cannot read
                logger.warning(
                    "GET /requests unusable for batch status reads (%s): reading statuses one by"
                    " one for %.0fs",
                    exc,
                    self.board.settings.cooldown,
                )
                with self._lock:
                    self.board.unusable(clock())
                return
            with self._lock:
                served = self.board.listed(records, total, clock())
            for sleeper in served:
                sleeper.wake()
        finally:
            with self._lock:
                if self._flights.get(loop, (0.0, None))[1] is future:
                    del self._flights[loop]
            future.set_result(None)

    async def sleep(
        self,
        request_id: str,
        status: str,
        seconds: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        latest: float = math.inf,
    ) -> None:
        """Sleep ``seconds``, or until the next list call if that is later (the list's pace),
        or less if a list call serves this wait before; never past ``latest`` (on ``clock``:
        the wait's next deadline, so a timeout is reported when it falls)."""
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(woken.set)

        with self._lock:
            due = clock() + seconds
            token = self.board.sleep(request_id, status, due, wake)
        listener = asyncio.ensure_future(woken.wait())
        sleeper: asyncio.Future[None] | None = None
        until = -math.inf
        try:
            while True:
                with self._lock:
                    now = clock()
                    target = min(self.board.wake_at(request_id, due, now), latest)
                if sleeper is not None and target <= until:
                    return  # slept until the poll or the list call it was due at
                # A list call made meanwhile may have moved the pace on: sleep until the next.
                until = target
                sleeper = asyncio.ensure_future(sleep(max(target - now, 0.0)))
                await asyncio.wait({sleeper, listener}, return_when=asyncio.FIRST_COMPLETED)
                if listener.done():
                    return  # a list call served this wait
                sleeper.result()  # raises what the sleep raised
        finally:
            with self._lock:
                self.board.woke(token)
            if sleeper is not None:
                sleeper.cancel()
            listener.cancel()


#: Who a list shows requests of (:func:`account_of`), the model, and how reads are batched.
ObserverKey = tuple[str, str, BatchSettings]

#: The observers of the open clients, by account, model and settings: clients that share all
#: three share an observer; it is dropped when the last of them closes.
OBSERVERS: Leases[ObserverKey, BatchObserver] = Leases(lambda key: BatchObserver(key[2]))


def account_of(base_url: str, api_key: SecretStr, organization_id: str | None) -> str:
    """Who a list shows requests of: a digest of the API, key and organization (not the key)."""
    text = "\0".join((base_url, organization_id or "", api_key.get_secret_value()))
    return hashlib.sha256(text.encode()).hexdigest()


def list_total(body: Any) -> int | None:
    """The ``total`` a ``GET /requests`` body gives (the vendor SDK's shape), if any."""
    total = body.get("total") if isinstance(body, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


class BatchReads:
    """A client's side of batch status reads: what ``GMICloudClient.wait`` calls.

    Args:
        account: :func:`account_of` the client's API, key and organization.
        read: the client's retried read (``_read(method, url, params=..., label=...)``).
        parse: turns a ``GET /requests`` body into records, raising on an unknown shape.
        get: the client's single read (``GET /requests/{id}``).
        clock: the client's monotonic clock.
        sleep: the client's sleep.
        settings: how reads are batched; waits of clients with other settings do not share
            list calls with this client's.
    """

    def __init__(
        self,
        account: str,
        *,
        read: Callable[..., Awaitable[Any]],
        parse: Callable[[Any], list[dict[str, Any]]],
        get: Callable[[str], Awaitable[GMIRequest]],
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        settings: BatchSettings | None = None,
    ) -> None:
        self._account = account
        self._read, self._parse, self._get = read, parse, get
        self._clock, self._sleep = clock, sleep
        self._settings = settings or BatchSettings()
        self._observers: dict[str, BatchObserver] = {}
        self._closed = False

    def _observer(self, model: str) -> BatchObserver:
        if self._closed:  # a wait outliving its client shares nothing, and leases nothing
            return BatchObserver(self._settings)
        found = self._observers.get(model)
        if found is None:
            found = OBSERVERS.acquire((self._account, model, self._settings))
            self._observers[model] = found
        return found

    def close(self) -> None:
        """Let go of this client's observers (an observer no open client uses is dropped)."""
        self._closed = True
        observers, self._observers = self._observers, {}
        for model in observers:
            OBSERVERS.release((self._account, model, self._settings))

    async def read(self, tracker: WaitTracker) -> GMIRequest:
        """The next status of the wait ``tracker`` follows (after its first read)."""
        model = tracker.model

        async def list_call() -> tuple[list[GMIRequest], int | None]:
            body = await self._read(
                "GET", "/requests", params={"model_id": model}, label="GET /requests (batch)"
            )
            records = [GMIRequest.model_validate(item) for item in self._parse(body)]
            return [r for r in records if r.model in (model, "")], list_total(body)

        return await self._observer(model).read(
            tracker.request_id,
            tracker.last_read,
            clock=self._clock,
            list_call=list_call,
            get=self._get,
        )

    async def sleep(self, tracker: WaitTracker, seconds: float) -> None:
        """Sleep ``seconds`` between polls of ``tracker``'s wait, or until a list call serves it."""
        await self._observer(tracker.model).sleep(
            tracker.request_id,
            tracker.last_status,
            seconds,
            clock=self._clock,
            sleep=self._sleep,
            latest=tracker.next_deadline() + 0.001,
        )
