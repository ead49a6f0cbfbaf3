"""``GMICloudSyncClient``: the same client for scripts without an event loop.

It is :class:`GMICloudClient` itself, run on a private event loop in a daemon thread: every
call is handed to that loop and its result (or exception) handed back, so the retries, the
submit lookup and the wait schedule are the async client's own, not a copy.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from pydantic import SecretStr
from typing_extensions import Unpack

from prefect_gmicloud.client.http import ClientOptions, GMICloudClient
from prefect_gmicloud.client.records import GMIRequest, ModelInfo, ModelSummary
from prefect_gmicloud.client.urls import DEFAULT_BASE_URL
from prefect_gmicloud.client.wait_schedule import WaitPolicy
from prefect_gmicloud.models.base import GMIPayload
from prefect_gmicloud.models.registry import AnyPayload
from prefect_gmicloud.models.served import ServedPayload

T = TypeVar("T")


class GMICloudSyncClient:
    """Blocking client of the GMI Cloud request queue (the async client on a thread of its own).

    Args:
        api_key: the API key; ``$GMI_CLOUD_API_KEY`` when not given.
        base_url: the request-queue API root (the simulator's, in tests).
        organization_id: sent as ``X-Organization-ID``.
        options: :class:`GMICloudClient`'s other keyword options (``ClientOptions``: timeout,
            retry and wait policies, transport...).

    Example:
        ```python
        from prefect_gmicloud import GMICloudSyncClient
        from prefect_gmicloud.models import Wan27T2VPayload

        with GMICloudSyncClient() as client:  # the key from $GMI_CLOUD_API_KEY
            request = client.submit(Wan27T2VPayload(prompt="a red fox in snow", duration=5))
            done = client.wait(request, timeout=900)
            print(done.video.url)
        ```
    """

    def __init__(
        self,
        api_key: SecretStr | str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        organization_id: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        # Built here, so a bad key or URL raises in the caller's thread before any thread starts.
        self._client = GMICloudClient(
            api_key, base_url=base_url, organization_id=organization_id, **options
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="gmicloud-sync-client", daemon=True
        )
        self._thread.start()
        self._closed = False

    @property
    def base_url(self) -> str:
        """The API root this client talks to."""
        return self._client.base_url

    def __repr__(self) -> str:
        return f"GMICloudSyncClient(base_url={self.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the client's thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self._client.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def submit(
        self, payload: AnyPayload | str, data: Mapping[str, Any] | None = None
    ) -> GMIRequest:
        """Submit a request; never creates two for one call (see ``GMICloudClient.submit``)."""
        return self._call(self._client.submit(payload, data))

    def validate(self, model_id: str, data: Mapping[str, Any]) -> GMIPayload | ServedPayload:
        """Check a payload before paying (see ``GMICloudClient.validate``)."""
        return self._call(self._client.validate(model_id, data))

    def get(self, request_id: str) -> GMIRequest:
        """The request's current record (``GET /requests/{id}``)."""
        return self._call(self._client.get(request_id))

    def list_requests(self, model_id: str | None = None) -> list[GMIRequest]:
        """Your organization's requests, optionally for one model (``GET /requests``)."""
        return self._call(self._client.list_requests(model_id))

    def list_models(self) -> list[ModelSummary]:
        """The models your key may use (``GET /models``)."""
        return self._call(self._client.list_models())

    def get_model(self, model_id: str) -> ModelInfo:
        """One model's description and parameters (``GET /models/{id}``)."""
        return self._call(self._client.get_model(model_id))

    def wait(
        self,
        request: GMIRequest | str,
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        policy: WaitPolicy | None = None,
        on_change: Callable[[GMIRequest], Any] | None = None,
        raise_on_failure: bool = True,
    ) -> GMIRequest:
        """Poll until the request is terminal and return its final record.

        Args:
            request: the request (as ``submit`` returned it) or its id.
            timeout: most seconds to wait in all; ``WaitTimeout`` leaves the request running.
            poll_interval: the first pause between status reads, in seconds.
            policy: the schedule and deadlines; ``timeout`` and ``poll_interval`` apply on top.
            on_change: called with the record at each status change (on the client's thread).
            raise_on_failure: raise on ``failed``/``cancelled``; when False, return the record.

        Raises:
            RequestFailed / RequestCancelled / WaitTimeout: as ``GMICloudClient.wait``.
        """
        return self._call(
            self._client.wait(
                request,
                timeout=timeout,
                poll_interval=poll_interval,
                policy=policy,
                on_change=on_change,
                raise_on_failure=raise_on_failure,
            )
        )

    def _call(self, call: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            call.close()
            raise RuntimeError("GMICloudSyncClient: used after close()")
        return self._run(call)

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(call, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # interrupted (Ctrl-C): stop the call on the client's thread too
            raise
