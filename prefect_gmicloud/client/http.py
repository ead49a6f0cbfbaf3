"""``GMICloudClient``: the async client of GMI Cloud's request queue.

Reads are retried on transient faults (DESIGN rule 4). A submit is retried only when it provably
never created a request; after an ambiguous failure the request is looked up in ``list_requests``
before anything is sent again (rule 2). No Prefect import here: anyone can use this client.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import ipaddress
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Generator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from prefect_gmicloud.client.batch import BatchReads, BatchSettings, account_of
from prefect_gmicloud.client.polling import (
    LEARNED_DURATIONS,
    DurationMemory,
    WaitPolicy,
    WaitTracker,
)
from prefect_gmicloud.client.records import GMIRequest, ModelInfo, RequestStatus
from prefect_gmicloud.client.retry import (
    RETRYABLE_STATUS_CODES,
    SUBMIT_REFUSED_STATUS_CODES,
    RetryPolicy,
    parse_retry_after,
)
from prefect_gmicloud.client.tls import shared_ssl_context
from prefect_gmicloud.errors import (
    APIError,
    AuthenticationError,
    GMICloudError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    RequestCancelled,
    RequestFailed,
    ServerError,
    SubmitOutcomeUnknown,
    TransportError,
)
from prefect_gmicloud.models.registry import AnyPayload, build_payload

logger = logging.getLogger("prefect_gmicloud.client")

DEFAULT_BASE_URL = "https://console.gmicloud.ai/api/v1/ie/requestqueue/apikey"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: How far the server's clock may be behind ours when matching a request to our submit.
CLOCK_SKEW_SECONDS = 120.0
#: The most request records fetched one by one while reconciling an ambiguous submit.
MAX_RECONCILE_LOOKUPS = 20

# Failures after which the request cannot have reached the server.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_AMBIGUOUS_STATUS_CODES = RETRYABLE_STATUS_CODES - SUBMIT_REFUSED_STATUS_CODES


def _user_agent() -> str:
    try:
        return f"prefect-gmicloud/{version('prefect-gmicloud')}"
    except PackageNotFoundError:
        return "prefect-gmicloud"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> str:
    """Refuse a base URL that would send the key in clear text or nowhere sensible."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url: must be an http(s) URL, got {base_url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            "base_url: plain http is allowed only on loopback (the simulator); "
            f"use https for {parts.hostname}"
        )
    return base_url.rstrip("/")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default_port


class _BearerAuth(httpx.Auth):
    """Adds the key only to requests for the API's own origin (scheme, host and port)."""

    def __init__(self, api_key: SecretStr, api_url: str) -> None:
        self._api_key = api_key
        self._api_origin = _origin(httpx.URL(api_url))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) == self._api_origin:
            request.headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        yield request


@dataclass
class ClientStats:
    """What the client did, for logs and benchmarks: calls, retries by cause, reconciliations."""

    calls: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    reconciled: int = 0
    resubmitted_after_lookup: int = 0


def error_message(response: httpx.Response) -> str:
    """The vendor's message from ``{"error": "..."}``, ``{"error": {"message": ...}}`` or text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:500] or response.reason_phrase or "no message"
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, dict):
                parts = [str(value[k]) for k in ("message", "details") if value.get(k)]
                if parts:
                    return ": ".join(parts)
            elif value:
                return str(value)
    return json.dumps(body)[:500]


def error_from_response(response: httpx.Response, request_id: str | None = None) -> APIError:
    """Map an error response onto the exception hierarchy."""
    status = response.status_code
    message = error_message(response)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimitError(status, message, request_id, retry_after=retry_after)
    kinds: dict[int, type[APIError]] = {
        400: InvalidRequestError,
        401: AuthenticationError,
        403: AuthenticationError,
        404: NotFoundError,
        422: InvalidRequestError,
    }
    if status in kinds:
        return kinds[status](status, message, request_id)
    if status >= 500:
        return ServerError(status, message, request_id)
    return APIError(status, message, request_id)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise APIError(response.status_code, "the response is not JSON") from None


class UnknownListShape(APIError):
    """``GET /requests`` answered with a body whose shape the client does not know.

    The body is undocumented; reading an unknown shape as "no requests" would let a paid
    request look absent, so it is an error instead.
    """


def _records(body: Any) -> list[dict[str, Any]]:
    # Undocumented shape: the vendor SDK reads {"requests": [...]}; accept a bare list too.
    if isinstance(body, dict):
        for key in ("requests", "data", "items"):
            if isinstance(body.get(key), list):
                body = body[key]
                break
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise UnknownListShape(200, f"GET /requests: unknown body shape {str(body)[:200]!r}")
    return [item for item in body if item.get("request_id")]


def _payload_matches(found: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    # The server may add defaults; every field we sent must be there with the same value.
    return all(key in found and found[key] == value for key, value in sent.items())


class GMICloudClient:
    """Async client of the GMI Cloud request queue.

    Example:
        ```python
        from prefect_gmicloud import GMICloudClient, Wan27R2VPayload

        async with GMICloudClient(api_key="...") as client:
            request = await client.submit(
                Wan27R2VPayload(prompt="Video1 waves", reference_video=["https://x/a.mp4"])
            )
            done = await client.wait(request.request_id)
            print(done.video.url)
        ```
    """

    def __init__(
        self,
        api_key: SecretStr | str,
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
    ) -> None:
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if not key.get_secret_value().strip():
            raise ValueError("api_key: must not be empty")
        self.base_url = check_base_url(base_url)
        self.retry_policy = retry_policy or RetryPolicy()
        self.wait_policy = wait_policy or WaitPolicy()
        self.stats = ClientStats()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._submitted_ids: set[str] = set()
        self._durations = LEARNED_DURATIONS if durations is None else durations
        # Waits of one model in this process share list calls (client/batch.py).
        self._batch = (
            BatchReads(
                account_of(self.base_url, key, organization_id),
                read=self._read,
                parse=_records,
                get=self.get,
                clock=clock,
                sleep=sleep,
                settings=None if batch_reads is True else batch_reads,
            )
            if batch_reads
            else None
        )
        headers = {"User-Agent": _user_agent(), "Accept": "application/json"}
        if organization_id:
            headers["X-Organization-ID"] = organization_id
        self._http = httpx.AsyncClient(
            verify=shared_ssl_context(),
            base_url=self.base_url,
            headers=headers,
            auth=_BearerAuth(key, self.base_url),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
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
        """Close the connection pool."""
        await self._http.aclose()

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, request_id: str) -> GMIRequest:
        """The request's current record (``GET /requests/{id}``)."""
        body = await self._read(
            "GET", f"/requests/{request_id}", label="GET /requests/{id}", request_id=request_id
        )
        return GMIRequest.model_validate(body)

    async def list_requests(self, model_id: str | None = None) -> list[GMIRequest]:
        """Your organization's requests, optionally for one model (``GET /requests``)."""
        params = {"model_id": model_id} if model_id else None
        body = await self._read("GET", "/requests", params=params)
        return [GMIRequest.model_validate(item) for item in _records(body)]

    async def list_models(self) -> list[str]:
        """The model ids your key may use (``GET /models``; the vendor's other path as fallback)."""
        try:
            body = await self._read("GET", "/models")
        except NotFoundError:
            alternate = self.base_url.replace("/ie/requestqueue/apikey", "/apikey") + "/models"
            body = await self._read("GET", alternate)
        ids = body.get("model_ids", []) if isinstance(body, dict) else body
        return [str(model_id) for model_id in ids]

    async def get_model(self, model_id: str) -> ModelInfo:
        """One model's description and parameters (``GET /models/{id}``)."""
        body = await self._read("GET", f"/models/{model_id}", label="GET /models/{id}")
        return ModelInfo.model_validate(body)

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
        policy = self.retry_policy
        started = self._clock()
        attempt = 0
        self.stats.calls[label or f"{method} {url}"] += 1
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = await self._http.request(method, url, params=params)
            except httpx.TransportError as exc:
                error: GMICloudError = TransportError(f"{method} {url}: {type(exc).__name__}")
                cause: BaseException = exc
                kind = type(exc).__name__
            else:
                if response.is_success:
                    return _json(response)
                api_error = error_from_response(response, request_id)
                if response.status_code not in RETRYABLE_STATUS_CODES:
                    raise api_error
                error, cause, kind = api_error, api_error, str(response.status_code)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = policy.backoff(attempt, self._rng, retry_after)
            if not policy.allows(attempt, self._clock() - started, delay):
                raise error from cause
            self.stats.retries[kind] += 1
            logger.debug("%s %s: %s, retry %d in %.2fs", method, url, kind, attempt, delay)
            await self._sleep(delay)

    # -- submit --------------------------------------------------------------------------------

    async def submit(
        self, payload: AnyPayload | str, data: Mapping[str, Any] | None = None
    ) -> GMIRequest:
        """Submit a request; never creates two for one call.

        Pass a typed payload (``Wan27R2VPayload(...)``), or a model id and a dict (validated by
        the model's schema when one is known, passed through with a warning otherwise).

        Raises:
            PayloadValidationError: before anything is sent, when the payload breaks a limit.
            SubmitOutcomeUnknown: the submit may have created a request that could not be
                found; nothing was resubmitted.
        """
        if isinstance(payload, str):
            payload = build_payload(payload, data or {})
        elif data is not None:
            raise TypeError("submit: pass either a typed payload or a model id and a dict")
        body = {"model": payload.model_id, "payload": payload.to_payload()}
        policy = self.retry_policy
        started, started_wall = self._clock(), time.time()
        attempt = 0
        while True:
            attempt += 1
            self.stats.calls["POST /requests"] += 1
            retry_after: float | None = None
            try:
                response = await self._http.post("/requests", json=body)
            except _NOT_SENT_ERRORS as exc:
                error: GMICloudError = TransportError(f"submit: {type(exc).__name__}")
                cause: BaseException = exc
                kind = type(exc).__name__
            except httpx.TransportError as exc:
                found = await self._reconcile(body, started_wall, exc)
                if found is not None:
                    return found
                error, cause, kind = TransportError(f"submit: {type(exc).__name__}"), exc, "lost"
            else:
                if response.is_success:
                    return self._accepted(_json(response))
                api_error = error_from_response(response)
                status = response.status_code
                if status in _AMBIGUOUS_STATUS_CODES:
                    found = await self._reconcile(body, started_wall, api_error)
                    if found is not None:
                        return found
                elif status not in SUBMIT_REFUSED_STATUS_CODES:
                    raise api_error
                error, cause, kind = api_error, api_error, str(status)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = policy.backoff(attempt, self._rng, retry_after)
            if not policy.allows(attempt, self._clock() - started, delay):
                raise error from cause
            self.stats.retries[f"submit {kind}"] += 1
            logger.info("submit of a %s request: %s, retrying in %.1fs", body["model"], kind, delay)
            await self._sleep(delay)

    def _accepted(self, body: Any) -> GMIRequest:
        request = GMIRequest.model_validate(body)
        self._submitted_ids.add(request.request_id)
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
            created_after: Unix time the submit began (records a little older are accepted,
                for clock skew).
            exclude: request ids that are known to be other submits'.
            why: what made the outcome uncertain, for the error message.

        Returns:
            The request, or ``None`` when the list shows none (a submit is then safe).

        Raises:
            SubmitOutcomeUnknown: the lookup failed or its answer could not be read, so whether
                a request was created cannot be decided.
        """
        cause = why if isinstance(why, str) else type(why).__name__
        try:
            candidates = await self._recent_requests(model, created_after, exclude)
            matches = [
                record
                for record in candidates
                if _payload_matches(await self._payload_of(record), payload)
            ]
        except GMICloudError as exc:
            raise SubmitOutcomeUnknown(model, f"{cause}; lookup failed: {exc}") from exc
        if not matches:
            return None
        return max(matches, key=lambda r: r.created_at.timestamp() if r.created_at else 0.0)

    async def _recent_requests(
        self, model: str, since: float, exclude: Collection[str]
    ) -> list[GMIRequest]:
        records = await self.list_requests(model_id=model)
        recent = [
            record
            for record in records
            if record.request_id not in exclude
            and record.model in (model, "")
            and (
                record.created_at is None
                or record.created_at.timestamp() >= since - CLOCK_SKEW_SECONDS
            )
        ]
        recent.sort(key=lambda r: r.created_at.timestamp() if r.created_at else 0.0, reverse=True)
        return recent[:MAX_RECONCILE_LOOKUPS]

    async def _payload_of(self, record: GMIRequest) -> dict[str, Any]:
        # The list's records may leave the payload out; the single record has it.
        if record.payload is not None:
            return record.payload
        return (await self.get(record.request_id)).payload or {}

    # -- wait ----------------------------------------------------------------------------------

    async def wait(
        self,
        request_id: str,
        *,
        policy: WaitPolicy | None = None,
        on_change: Callable[[GMIRequest], Any] | None = None,
        raise_on_failure: bool = True,
    ) -> GMIRequest:
        """Poll until the request is terminal and return its final record.

        The schedule is :class:`WaitPolicy`'s (``self.wait_policy`` by default). Once a few of a
        model's requests have been seen to finish (by any client in this process, or what
        ``durations`` was given), waits without their own ``durations`` poll where that
        model's requests usually end; waits already sleeping then re-plan their next poll.
        ``on_change`` (a function or a coroutine function) is called with the record each time
        the status changes.
        With ``batch_reads`` (the default), waits of one model in flight together in this process
        read their statuses with shared ``GET /requests?model_id=`` calls and are woken when a
        list shows their request changed; a terminal status is always read with
        ``GET /requests/{id}`` before it is returned (``client/batch.py``).

        Raises:
            RequestFailed / RequestCancelled: the request ended so (unless ``raise_on_failure``
                is False, then the record is returned).
            WaitTimeout: a deadline passed; the request is left running. Reads that still
                fail after their retries (5xx, 429, transport) do not end the wait before that.
        """
        policy = policy or self.wait_policy
        tracker: WaitTracker | None = None
        while True:
            try:
                request = await self._status(request_id, tracker)
            except (ServerError, RateLimitError, TransportError) as exc:
                if tracker is None:
                    raise
                # A long wait outlives a bad minute of the API: only its deadlines end it.
                pause = tracker.read_failed(self._clock())
                logger.warning("status of %s unread (%s); again in %.1fs", request_id, exc, pause)
                await self._sleep(pause)
                continue
            now = self._clock()
            if tracker is None:
                tracker = WaitTracker(request_id, self._with_learned(policy, request.model), now)
                tracker.rng = self._rng
            delay = tracker.observe(request, now)
            if tracker.status_changed:
                self._log_change(request)
                if on_change is not None:
                    outcome = on_change(request)
                    if inspect.isawaitable(outcome):
                        await outcome
            if delay is None:
                return self._finished(request, tracker, now, raise_on_failure)
            await self._pause(tracker, delay, request.model)

    async def _pause(self, tracker: WaitTracker, delay: float, model: str) -> None:
        """Sleep ``delay``; if the model's processing times are learned meanwhile, re-plan.

        Requests submitted together finish together: once the first few have been seen to end,
        the others poll where those ended instead of sleeping out a long cold interval.
        """
        if tracker.policy.durations is not None:
            await self._doze(tracker, delay)
            return
        loop = asyncio.get_running_loop()
        news = asyncio.Event()

        def notify() -> None:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(news.set)

        # Listen before looking: a model learned in between (even mid-read) is not missed.
        unsubscribe = self._durations.subscribe(self.base_url, model, notify)
        sleeper: asyncio.Future[Any] | None = None
        try:
            while True:
                learned = self._with_learned(tracker.policy, model)
                if learned.durations is not None:
                    if sleeper is not None:
                        sleeper.cancel()
                    await self._doze(tracker, tracker.adopt(learned, self._clock()))
                    return
                if sleeper is None:
                    sleeper = asyncio.ensure_future(self._doze(tracker, delay))
                listener = asyncio.ensure_future(news.wait())
                try:
                    await asyncio.wait({sleeper, listener}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    listener.cancel()
                if sleeper.done():
                    sleeper.result()  # raises what the sleep raised
                    return
                news.clear()
        finally:
            unsubscribe()
            if sleeper is not None:
                sleeper.cancel()

    async def _status(self, request_id: str, tracker: WaitTracker | None) -> GMIRequest:
        """A wait's status read: its own GET, or (batched, after the first) a shared list call."""
        if self._batch is None or tracker is None:
            return await self.get(request_id)
        return await self._batch.read(tracker)

    async def _doze(self, tracker: WaitTracker, seconds: float) -> None:
        """A wait's sleep between polls; batched, a list call serving the wait ends it early."""
        if self._batch is None:
            await self._sleep(seconds)
        else:
            await self._batch.sleep(tracker, seconds)

    def _with_learned(self, policy: WaitPolicy, model: str) -> WaitPolicy:
        if policy.durations is not None:
            return policy
        learned = self._durations.model(self.base_url, model)
        return policy if learned is None else dataclasses.replace(policy, durations=learned)

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
