"""Whether a submit whose answer was lost created a request: looked up in ``GET /requests``.

The API has no idempotency key, so after an ambiguous failure (read timeout, dropped connection,
500/502/504) the only way not to pay twice is to look: the newest request of the same model with
the same payload, created since the submit began and not one of this client's own, is the one.
"Since the submit began" is placed on GMI's clock (``client/clock.py``), whatever ours says.
A match is an answer even in part of the list; "no match" is one only in the whole list: a list
that shows one page of more (``RequestList.partial``) cannot tell a request is absent.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from prefect_gmicloud.client.clock import GMIClock
from prefect_gmicloud.client.records import GMIRequest, RequestList
from prefect_gmicloud.errors import GMICloudError, SubmitOutcomeUnknown

logger = logging.getLogger("prefect_gmicloud.client")

#: How much older than the submit's start, on GMI's clock, a matching record may look: GMI's
#: hosts may disagree a little (its ``Date`` against its ``created_at``). Also the margin for
#: skew while nothing of GMI's clock is learned yet (no answer carried a date).
WINDOW_MARGIN_SECONDS = 120.0
#: The most request records fetched one by one while reconciling an ambiguous submit.
MAX_RECONCILE_LOOKUPS = 20


class RequestReader(Protocol):
    """The reads a lookup needs, and GMI's clock (what :class:`GMICloudClient` offers)."""

    gmi_clock: GMIClock

    async def request_list(self, model_id: str | None = None) -> RequestList: ...

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
        listed = await reader.request_list(model_id=model)
        recent = _recent(listed, model, window_start(reader.gmi_clock, created_after), exclude)
        matches = [
            record
            for record in recent[:MAX_RECONCILE_LOOKUPS]
            if payload_matches(await _payload_of(reader, record), payload)
        ]
    except GMICloudError as exc:
        raise SubmitOutcomeUnknown(model, f"{cause}; lookup failed: {exc}") from exc
    if matches:
        return max(matches, key=_created)
    if listed.partial is not None:
        raise SubmitOutcomeUnknown(
            model,
            f"{cause}; GET /requests shows only part of the list ({listed.partial}) and none "
            "of what it shows is this request: it may be among those not shown",
        )
    if len(recent) > MAX_RECONCILE_LOOKUPS:
        raise SubmitOutcomeUnknown(
            model,
            f"{cause}; {len(recent)} requests of the model since the submit, only the newest "
            f"{MAX_RECONCILE_LOOKUPS} read, none of them this request",
        )
    return None


def window_start(clock: GMIClock, created_after: float) -> float:
    """The oldest ``created_at`` (GMI's clock) a request made since local ``created_after``
    may carry."""
    earliest = clock.earliest(created_after)
    if earliest is None:
        logger.warning(
            "GMI's clock is unknown (no answer carried a Date): the lookup's window is placed "
            "on this machine's clock, %.0f s wide",
            WINDOW_MARGIN_SECONDS,
        )
        earliest = created_after
    return earliest - WINDOW_MARGIN_SECONDS


def _recent(
    listed: RequestList, model: str, start: float, exclude: Collection[str]
) -> list[GMIRequest]:
    recent = [
        record
        for record in listed.requests
        if record.request_id not in exclude
        and record.model in (model, "")
        and (record.created_at is None or _created(record) >= start)
    ]
    recent.sort(key=_created, reverse=True)
    return recent


async def _payload_of(reader: RequestReader, record: GMIRequest) -> dict[str, Any]:
    # The list's records may leave the payload out; the single record has it.
    if record.payload is not None:
        return record.payload
    return (await reader.get(record.request_id)).payload or {}
