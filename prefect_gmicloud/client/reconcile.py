"""Whether a submit whose answer was lost created a request: looked up in ``GET /requests``.

The API has no idempotency key, so after an ambiguous failure (read timeout, dropped connection,
500/502/504) the only way not to pay twice is to look: the newest request of the same model with
the same payload, created since the submit began and not one of this client's own, is the one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.errors import GMICloudError, SubmitOutcomeUnknown

#: How far the server's clock may be behind ours when matching a request to our submit.
CLOCK_SKEW_SECONDS = 120.0
#: The most request records fetched one by one while reconciling an ambiguous submit.
MAX_RECONCILE_LOOKUPS = 20


class RequestReader(Protocol):
    """The two reads a lookup needs (what :class:`GMICloudClient` offers)."""

    async def list_requests(self, model_id: str | None = None) -> list[GMIRequest]: ...

    async def get(self, request_id: str) -> GMIRequest: ...


def payload_matches(found: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    """Whether a record's payload is the one sent: the server may add defaults, never change.

    A presigned URL is compared by the object it names (scheme, host, path): each signing
    gives it another query string, and a fragment is never sent.
    """
    return all(
        key in found and _comparable(found[key]) == _comparable(value)
        for key, value in sent.items()
    )


_SIGNATURES = ("X-Amz-Signature=", "Signature=")


def _comparable(value: Any) -> Any:
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        signed = any(mark in parts.query for mark in _SIGNATURES)
        return urlunsplit(
            (parts.scheme, parts.netloc, parts.path, "" if signed else parts.query, "")
        )
    return value


def _created(record: GMIRequest) -> float:
    return record.created_at.timestamp() if record.created_at else 0.0


async def find_request(
    reader: RequestReader,
    model: str,
    payload: Mapping[str, Any],
    *,
    created_after: float,
    exclude: Collection[str] = (),
    why: BaseException | str = "lookup",
) -> GMIRequest | None:
    """The newest request of ``model`` with ``payload`` created after ``created_after``.

    See :meth:`GMICloudClient.find_request`, which this implements.
    """
    cause = why if isinstance(why, str) else type(why).__name__
    try:
        candidates = await _recent_requests(reader, model, created_after, exclude)
        matches = [
            record
            for record in candidates
            if payload_matches(await _payload_of(reader, record), payload)
        ]
    except GMICloudError as exc:
        raise SubmitOutcomeUnknown(model, f"{cause}; lookup failed: {exc}") from exc
    if not matches:
        return None
    return max(matches, key=_created)


async def _recent_requests(
    reader: RequestReader, model: str, since: float, exclude: Collection[str]
) -> list[GMIRequest]:
    records = await reader.list_requests(model_id=model)
    recent = [
        record
        for record in records
        if record.request_id not in exclude
        and record.model in (model, "")
        and (record.created_at is None or _created(record) >= since - CLOCK_SKEW_SECONDS)
    ]
    recent.sort(key=_created, reverse=True)
    return recent[:MAX_RECONCILE_LOOKUPS]


async def _payload_of(reader: RequestReader, record: GMIRequest) -> dict[str, Any]:
    # The list's records may leave the payload out; the single record has it.
    if record.payload is not None:
        return record.payload
    return (await reader.get(record.request_id)).payload or {}
