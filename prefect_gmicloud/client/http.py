"""``GMICloudClient``: the async client of GMI Cloud's request queue.

Reads are retried on transient faults. A submit is retried only when it provably never created
a request; after an ambiguous failure the request is looked up in ``list_requests`` before
anything is sent again, so one call never pays for two requests. No Prefect import here: anyone
can use this client. Its parts live beside it: the key's URL policy and auth in ``urls``, error
mapping and body shapes in ``responses``, the retry loop in ``retry_loop`` (its policy in
``retry_policy``), the submit lookup in ``reconcile``, the wait's sleeps and wake-ups in
``wait_sleep`` (its schedule in ``wait_schedule``), batched status reads in ``batch_reads``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypedDict

import httpx
from pydantic import SecretStr

from prefect_gmicloud.client import reconcile, served
from prefect_gmicloud.client.batch_reads import BatchReads, BatchSettings, account_of
from prefect_gmicloud.client.clock import GMIClock
from prefect_gmicloud.client.records import (
    GMIRequest,
    ModelInfo,
    ModelSummary,
    RequestList,
    RequestStatus,
)
from prefect_gmicloud.client.responses import (
    error_from_response,
    json_body,
    model_ids,
    partial_list,
    request_records,
    retry_after,
)
from prefect_gmicloud.client.retry_loop import _Retry, with_retries
from prefect_gmicloud.client.retry_policy import (
    RETRYABLE_STATUS_CODES,
    SUBMIT_REFUSED_STATUS_CODES,
    RetryPolicy,
)
from prefect_gmicloud.client.shared import Leases
from prefect_gmicloud.client.submit_answers import SubmitAnswers
from prefect_gmicloud.client.tls import shared_ssl_context
from prefect_gmicloud.client.urls import (
    DEFAULT_BASE_URL,
    BearerAuth,
    alternate_models_url,
    check_base_url,
    resolve_api_key,
    user_agent,
)
from prefect_gmicloud.client.wait_schedule import (
    DurationMemory,
    WaitPolicy,
    WaitTracker,
)
from prefect_gmicloud.client.wait_sleep import pause, with_learned
from prefect_gmicloud.errors import (
    ModelNotEntitledError,
    NotFoundError,
    RateLimitError,
    RequestCancelled,
    RequestFailed,
    ServerError,
    TransportError,
)
from prefect_gmicloud.models.base import GMIPayload
from prefect_gmicloud.models.registry import PAYLOAD_MODELS, AnyPayload, build_payload
from prefect_gmicloud.models.served import ServedPayload

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "ClientStats", "GMICloudClient"]

logger = logging.getLogger("prefect_gmicloud.client")

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def _permanent(error: BaseException) -> bool:
    """An answer that no retry, and no new submit, can change."""
    return isinstance(error, ModelNotEntitledError)


# Failures after which the request cannot have reached the server.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_AMBIGUOUS_STATUS_CODES = RETRYABLE_STATUS_CODES - SUBMIT_REFUSED_STATUS_CODES

#: What the open clients of each API (by base URL) learned of its models' processing times.
SHARED_DURATIONS: Leases[str, DurationMemory] = Leases(lambda base_url: DurationMemory())


@dataclass
class ClientStats:
    """What the client did, for logs and benchmarks: calls, retries by cause, reconciliations."""

    calls: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    reconciled: int = 0
    resubmitted_after_lookup: int = 0


class ClientOptions(TypedDict, total=False):
    """The keyword options of :class:`GMICloudClient` besides the key, URL and organization.

    ``GMICloudCredentials.get_client(**options)`` and ``GMICloudSyncClient(**options)`` take
    the same, typed.
    """

    timeout: httpx.Timeout | float
    retry_policy: RetryPolicy | None
    wait_policy: WaitPolicy | None
    transport: httpx.AsyncBaseTransport | None
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    rng: random.Random | None
    durations: DurationMemory | None
    batch_reads: bool | BatchSettings
    gmi_clock: GMIClock | None


class GMICloudClient:
    """Async client of the GMI Cloud request queue.

    Args:
        api_key: the API key; ``$GMI_CLOUD_API_KEY`` when not given.
        base_url: the request-queue API root (the simulator's, in tests).
        organization_id: sent as ``X-Organization-ID``.
        timeout: per HTTP call.
        retry_policy: how reads and refused submits are retried.
        wait_policy: the default schedule and deadlines of :meth:`wait`.
        transport: an httpx transport to use instead of the network (tests).
        clock: monotonic seconds (tests pass a fake one).
        sleep: the pause between tries and polls (tests pass a fake one).
        rng: the jitter's random source.
        durations: where processing times are learned (default: with the other open
            clients of the same ``base_url``; forgotten when the last of them closes).
        gmi_clock: where GMI's clock is learned from its answers (default: this client's
            own; every lookup's list answer teaches it too); a lost submit is looked for on it.

    Example:
        ```python
        from prefect_gmicloud import GMICloudClient
        from prefect_gmicloud.models import Wan27R2VPayload

        async with GMICloudClient() as client:  # the key from $GMI_CLOUD_API_KEY
            request = await client.submit(
                Wan27R2VPayload(prompt="Video1 waves", reference_video=["https://x/a.mp4"])
            )
            done = await client.wait(request, timeout=600)
            print(done.video.url)
        ```
    """

    def __init__(
        self,
        api_key: SecretStr | str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        organization_id: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        wait_policy: WaitPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        durations: DurationMemory | None = None,
        batch_reads: bool | BatchSettings = True,
        gmi_clock: GMIClock | None = None,
    ) -> None:
        key = resolve_api_key(api_key)
        self.base_url = check_base_url(base_url)
        self.gmi_clock = gmi_clock or GMIClock()
        self.retry_policy = retry_policy or RetryPolicy()
        self.wait_policy = wait_policy or WaitPolicy()
        self.stats = ClientStats()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._submitted_ids: set[str] = set()
        self._submit_answers = SubmitAnswers(clock)
        # Waits of one model share list calls with other open clients' (client/batch_reads.py).
        self._batch = (
            BatchReads(
                account_of(self.base_url, key, organization_id),
                read=self._read,
                parse=request_records,
                get=self.get,
                clock=clock,
                sleep=sleep,
                settings=None if batch_reads is True else batch_reads,
            )
            if batch_reads
            else None
        )
        headers = {"User-Agent": user_agent(), "Accept": "application/json"}
        if organization_id:
            headers["X-Organization-ID"] = organization_id
        self._http = httpx.AsyncClient(
            verify=shared_ssl_context(),
            base_url=self.base_url,
            headers=headers,
            auth=BearerAuth(key, self.base_url),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )
        # What one wait learns of a model's processing times, the other open clients of this
        # API use too (Prefect tasks make a client per call); given a memory, only this one.
        self._leased_durations = durations is None
        self._durations = (
            SHARED_DURATIONS.acquire(self.base_url) if durations is None else durations
        )

    def __repr__(self) -> str:
        return f"GMICloudClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool and let go of what this client shares with others."""
        if self._batch is not None:
            self._batch.close()
        if self._leased_durations:
            self._leased_durations = False
            SHARED_DURATIONS.release(self.base_url)
        await self._http.aclose()

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, request_id: str) -> GMIRequest:
        """The request's current record (``GET /requests/{id}``)."""
        body = await self._read(
            "GET", f"/requests/{request_id}", label="GET /requests/{id}", request_id=request_id
        )
        return GMIRequest.model_validate(body)

    async def list_requests(self, model_id: str | None = None) -> list[GMIRequest]:
        """Your organization's requests, optionally for one model (``GET /requests``).

        The answer may be one page of a longer list (:meth:`request_list` says).
        """
        return (await self.request_list(model_id)).requests

    async def request_list(self, model_id: str | None = None) -> RequestList:
        """``GET /requests`` as answered: its records, and whether it shows only part of them
        (``RequestList.partial``: a ``total`` above the records held, a next-page marker).

        Args:
            model_id: only this model's requests.
        """
        params = {"model_id": model_id} if model_id else None
        body = await self._read("GET", "/requests", params=params)
        return RequestList(
            requests=[GMIRequest.model_validate(item) for item in request_records(body)],
            partial=partial_list(body),
        )

    async def list_models(self) -> list[ModelSummary]:
        """The models your key may use (``GET /models``; the vendor's other path as fallback).

        The list holds ids only; ``get_model(id)`` describes one.
        """
        try:
            body = await self._read("GET", "/models")
        except NotFoundError:
            body = await self._read("GET", alternate_models_url(self.base_url))
        return [
            ModelSummary(id=model_id, has_schema=model_id in PAYLOAD_MODELS)
            for model_id in model_ids(body)
        ]

    async def get_model(self, model_id: str) -> ModelInfo:
        """One model's description and parameters (``GET /models/{id}``)."""
        body = await self._read("GET", f"/models/{model_id}", label="GET /models/{id}")
        return ModelInfo.model_validate(body)

    async def validate(self, model_id: str, data: Mapping[str, Any]) -> GMIPayload | ServedPayload:
        """Check ``data`` for ``model_id`` before paying: by its typed spec when it has one
        (no request), else against the parameters GMI serves (``GET /models/{id}``, cached per
        base URL for ``served.SERVED_TTL_SECONDS``).

        Args:
            model_id: The model, exactly as GMI spells it.
            data: The payload.

        Raises:
            PayloadValidationError: a typed limit is broken; or, for a model without a typed
                spec, a field GMI does not serve (naming what it serves), a required one
                missing, or a value of the wrong type.
            NotFoundError: GMI does not describe the model (it does not serve it).
        """
        if model_id in PAYLOAD_MODELS:
            return build_payload(model_id, data)
        return await served.checked_payload(self, model_id, data)

    async def _read(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        label: str | None = None,
        request_id: str | None = None,
    ) -> Any:
        """An idempotent call: retried on 408/429/5xx and transport faults, within the policy."""
        self.stats.calls[label or f"{method} {url}"] += 1

        async def attempt() -> Any:
            sent = time.time()
            try:
                response = await self._http.request(method, url, params=params)
            except httpx.TransportError as exc:
                kind = type(exc).__name__
                raise _Retry(kind, TransportError(f"{method} {url}: {kind}"), cause=exc) from exc
            self.gmi_clock.observe_date(response.headers.get("Date"), sent, time.time())
            if response.is_success:
                return json_body(response)
            error = error_from_response(response, request_id)
            if response.status_code not in RETRYABLE_STATUS_CODES or _permanent(error):
                raise error
            raise _Retry(str(response.status_code), error, retry_after=retry_after(response))

        def retried(failure: _Retry, tries: int, delay: float) -> None:
            self.stats.retries[failure.kind] += 1
            logger.debug("%s %s: %s, retry %d in %.2fs", method, url, failure.kind, tries, delay)

        return await self._with_retries(attempt, retried)

    def _with_retries(
        self, attempt: Callable[[], Awaitable[Any]], on_retry: Callable[[_Retry, int, float], None]
    ) -> Awaitable[Any]:
        return with_retries(
            attempt,
            policy=self.retry_policy,
            rng=self._rng,
            clock=self._clock,
            sleep=self._sleep,
            on_retry=on_retry,
        )

    # -- submit --------------------------------------------------------------------------------

    async def submit(
        self, payload: AnyPayload | str, data: Mapping[str, Any] | None = None
    ) -> GMIRequest:
        """Submit a request; never creates two for one call.

        Pass a typed payload (``Wan27R2VPayload(...)``), or a model id and a dict, checked by
        :meth:`validate` (the model's typed spec, else the parameters GMI serves for it). A
        ``RawPayload`` is sent unchecked.

        Raises:
            PayloadValidationError: before anything is sent, when the payload breaks a limit
                or names a field GMI does not serve.
            SubmitOutcomeUnknown: the submit may have created a request that could not be
                found; nothing was resubmitted.
            InsufficientCreditsError: 402, the account has no credits; nothing was created.
            ModelNotEntitledError: ``500 Backend error (401)``, the key may not use the
                model; not retried, nothing was created.
            InvalidRequestError: 400, the payload was refused (content policy, invalid
                input), with GMI's reason; nothing was created.
        """
        if isinstance(payload, str):
            payload = await self.validate(payload, data or {})
        elif data is not None:
            raise TypeError("submit: pass either a typed payload or a model id and a dict")
        body = {"model": payload.model_id, "payload": payload.to_payload()}
        started_wall = time.time()

        async def attempt() -> GMIRequest:
            self.stats.calls["POST /requests"] += 1
            sent = time.time()
            try:
                response = await self._http.post("/requests", json=body)
            except _NOT_SENT_ERRORS as exc:
                kind = type(exc).__name__
                raise _Retry(kind, TransportError(f"submit: {kind}"), cause=exc) from exc
            except httpx.TransportError as exc:
                found = await self._reconcile(body, started_wall, exc)
                if found is not None:
                    return found
                error = TransportError(f"submit: {type(exc).__name__}")
                raise _Retry("lost", error, cause=exc) from exc
            received = time.time()
            self.gmi_clock.observe_date(response.headers.get("Date"), sent, received)
            if response.is_success:
                return self._accepted(json_body(response), sent, received)
            api_error = error_from_response(response, model=payload.model_id)
            status = response.status_code
            if _permanent(api_error):
                raise api_error  # GMI refused it for good: no request was made, none is sent
            if status in _AMBIGUOUS_STATUS_CODES:
                found = await self._reconcile(body, started_wall, api_error)
                if found is not None:
                    return found
            elif status not in SUBMIT_REFUSED_STATUS_CODES:
                raise api_error
            raise _Retry(str(status), api_error, retry_after=retry_after(response))

        def retried(failure: _Retry, tries: int, delay: float) -> None:
            self.stats.retries[f"submit {failure.kind}"] += 1
            logger.info(
                "submit of a %s request: %s, retrying in %.1fs", body["model"], failure.kind, delay
            )

        request: GMIRequest = await self._with_retries(attempt, retried)
        return request

    def _accepted(self, body: Any, sent: float, received: float) -> GMIRequest:
        request = GMIRequest.model_validate(body)
        if request.created_at is not None:
            self.gmi_clock.observe(request.created_at.timestamp(), sent, received)
        self._submitted_ids.add(request.request_id)
        self._submit_answers.put(request)
        logger.info("submitted %s request %s", request.model, request.request_id)
        return request

    async def _reconcile(
        self, body: Mapping[str, Any], since: float, failure: BaseException
    ) -> GMIRequest | None:
        """After an ambiguous submit, find the request it created, if it created one.

        Returns the request, or ``None`` when it provably was not created (so a resubmit is safe).
        Raises :class:`SubmitOutcomeUnknown` when the lookup itself fails.
        """
        model: str = body["model"]
        sent: dict[str, Any] = body["payload"]
        logger.warning(
            "submit of a %s request failed ambiguously (%s); looking for it before resubmitting",
            model,
            type(failure).__name__,
        )
        await self._sleep(self.retry_policy.reconcile_delay)
        found = await self.find_request(
            model, sent, created_after=since, exclude=self._submitted_ids, why=failure
        )
        if found is None:
            self.stats.resubmitted_after_lookup += 1
            return None
        self.stats.reconciled += 1
        self._submitted_ids.add(found.request_id)
        logger.warning("found request %s created by the ambiguous submit", found.request_id)
        return found

    async def find_request(
        self,
        model: str,
        payload: Mapping[str, Any],
        *,
        created_after: float,
        exclude: Collection[str] = (),
        why: BaseException | str = "lookup",
    ) -> GMIRequest | None:
        """The newest request of ``model`` with ``payload`` created after ``created_after``.

        Used to learn whether a submit whose answer was lost created a request. Every field of
        ``payload`` must be in the record with the same value (the server may add defaults).

        Args:
            model: the model id submitted.
            payload: the payload submitted.
            created_after: this machine's Unix time the submit began; it is placed on GMI's
                clock as learned from its answers (the list's own among them), and records
                a little older are accepted.
            exclude: request ids that are known to be other submits'.
            why: what made the outcome uncertain, for the error message.

        Returns:
            The request, or ``None`` when the list shows none (a submit is then safe).

        Raises:
            SubmitOutcomeUnknown: the lookup failed, its answer could not be read, or it shows
                only part of the list (a ``total`` above its records, a next page) and none of
                what it shows matches: whether a request was created cannot be decided.
        """
        return await reconcile.find_request(
            self, model, payload, created_after=created_after, exclude=exclude, why=why
        )

    # -- wait ----------------------------------------------------------------------------------

    async def wait(
        self,
        request: GMIRequest | str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline raising WaitTimeout
        poll_interval: float | None = None,
        policy: WaitPolicy | None = None,
        on_change: Callable[[GMIRequest], Any] | None = None,
        raise_on_failure: bool = True,
    ) -> GMIRequest:
        """Poll until the request is terminal and return its final record.

        The schedule is :class:`WaitPolicy`'s (``policy``, else ``self.wait_policy``). Once a
        few of a model's requests have been seen to finish (by any client in this process, or
        what ``durations`` was given), waits without their own ``durations`` poll where that
        model's requests usually end; waits already sleeping then re-plan their next poll.
        With ``batch_reads`` (the default), waits of one model in flight together in this
        process read their statuses with shared ``GET /requests?model_id=`` calls and are woken
        when a list shows their request changed; a terminal status is always read with
        ``GET /requests/{id}`` before it is returned (``client/batch_reads.py``). A wait that
        starts within 30 s of this client's submit of the request takes the submit's answer
        as its first status read (``client/submit_answers.py``).

        Args:
            request: the request (as ``submit`` returned it) or its id.
            timeout: most seconds to wait in all (on top of the policy's queue and processing
                deadlines); the request is left running when it passes.
            poll_interval: the first pause between status reads, in seconds.
            policy: the schedule and deadlines; ``timeout`` and ``poll_interval`` apply on top.
            on_change: called (a function or a coroutine function) with the record each time
                the status changes.
            raise_on_failure: raise on ``failed``/``cancelled``; when False, return the record.

        Raises:
            RequestFailed / RequestCancelled: the request ended so (unless ``raise_on_failure``
                is False, then the record is returned).
            WaitTimeout: a deadline passed; the request is left running. Reads that still
                fail after their retries (5xx, 429, transport) do not end the wait before that.
        """
        if isinstance(request, GMIRequest):
            request_id, model = request.request_id, request.model
        else:
            request_id, model = request, ""
        policy = (policy or self.wait_policy).with_options(
            timeout=timeout, poll_interval=poll_interval
        )
        tracker: WaitTracker | None = None
        # Right after its submit, the submit's answer is the wait's first read.
        answered = self._submit_answers.take(request_id)
        while True:
            if answered is not None:
                (record, read_at), answered = answered, None
            else:
                try:
                    record = await self._read_status(request_id, tracker)
                except (ServerError, RateLimitError, TransportError) as exc:
                    if tracker is None:
                        raise
                    # A long wait outlives a bad minute of the API: only its deadlines end it.
                    delay = tracker.read_failed(self._clock())
                    logger.warning(
                        "status of %s unread (%s); again in %.1fs", request_id, exc, delay
                    )
                    await self._sleep(delay)
                    continue
                read_at = self._clock()
            model = record.model
            if tracker is None:
                learned = with_learned(policy, self._durations, self.base_url, model)
                tracker = WaitTracker(request_id, learned, read_at)
                tracker.rng = self._rng
            delay_or_done = tracker.observe(record, read_at)
            if tracker.status_changed:
                self._log_change(record)
                if on_change is not None:
                    outcome = on_change(record)
                    if inspect.isawaitable(outcome):
                        await outcome
            if delay_or_done is None:
                return self._finished(record, tracker, read_at, raise_on_failure)
            await pause(
                tracker,
                max(0.0, delay_or_done - (self._clock() - read_at)),
                memory=self._durations,
                api=self.base_url,
                model=model,
                sleep=functools.partial(self._doze, tracker),
                clock=self._clock,
            )

    async def _read_status(self, request_id: str, tracker: WaitTracker | None) -> GMIRequest:
        """One status read of a wait: its own GET, or (batched, after the first) a shared list."""
        if self._batch is None or tracker is None:
            return await self.get(request_id)
        return await self._batch.read(tracker)

    async def _doze(self, tracker: WaitTracker, seconds: float) -> None:
        """A wait's sleep between polls; batched, a list call serving the wait ends it early."""
        if self._batch is None:
            await self._sleep(seconds)
        else:
            await self._batch.sleep(tracker, seconds)

    def _finished(
        self, request: GMIRequest, tracker: WaitTracker, now: float, raise_on_failure: bool
    ) -> GMIRequest:
        if request.status == RequestStatus.SUCCESS and tracker.processing_since is not None:
            self._durations.record(self.base_url, request.model, now - tracker.processing_since)
        if raise_on_failure and request.status == RequestStatus.FAILED:
            raise RequestFailed(request)
        if raise_on_failure and request.status == RequestStatus.CANCELLED:
            raise RequestCancelled(request)
        return request

    @staticmethod
    def _log_change(request: GMIRequest) -> None:
        if request.is_known_status:
            logger.info("request %s is %s", request.request_id, request.status)
        else:
            logger.warning(
                "request %s has unknown status %r: treated as still running",
                request.request_id,
                request.status,
            )
