"""Reading the API's answers: error statuses onto the exception hierarchy, and list bodies.

The vendor uses two error body shapes (``{"error": "..."}`` and ``{"error": {"message": ...}}``)
and documents no body for ``GET /requests``: both are read tolerantly here, and a list body of a
shape nobody has seen is an error rather than "no requests".
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from prefect_gmicloud.client.retry_policy import parse_retry_after
from prefect_gmicloud.errors import (
    APIError,
    AuthenticationError,
    InsufficientCreditsError,
    InvalidRequestError,
    ModelNotEntitledError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnknownListShape,
)

_ERROR_KINDS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: AuthenticationError,
    404: NotFoundError,
    422: InvalidRequestError,
}


def answer_time(response: httpx.Response) -> datetime | None:
    """When the server says it answered (its ``Date``); ``None`` when absent or unreadable.

    A ``Retry-After`` date is read against it: both are the server's clock, whatever ours says.
    """
    try:
        when = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else None


def retry_after(response: httpx.Response) -> float | None:
    """The answer's ``Retry-After`` in seconds (a date read on the server's own clock)."""
    return parse_retry_after(response.headers.get("Retry-After"), answer_time(response))


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


#: How GMI answers a model the key is not entitled to: a 5xx wrapping its backend's 401.
_NOT_ENTITLED = re.compile(r"backend error \(\s*40[13]\s*\)", re.IGNORECASE)


def error_from_response(
    response: httpx.Response, request_id: str | None = None, model: str | None = None
) -> APIError:
    """Map an error response onto the exception hierarchy.

    Args:
        response: an answer with an error status.
        request_id: the request concerned, when known (it goes into the message).
        model: the model concerned, when known (a submit's).
    """
    status = response.status_code
    message = error_message(response)
    if status >= 500 and _NOT_ENTITLED.search(message):
        return ModelNotEntitledError(status, message, model)
    if status == 429:
        return RateLimitError(status, message, request_id, retry_after=retry_after(response))
    if status in _ERROR_KINDS:
        return _ERROR_KINDS[status](status, message, request_id)
    if status >= 500:
        return ServerError(status, message, request_id)
    return APIError(status, message, request_id)


def json_body(response: httpx.Response) -> Any:
    """The body of a successful answer; an :class:`APIError` when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        raise APIError(response.status_code, "the response is not JSON") from None


#: Keys that say a list body is one page of more (none is documented; seen in other APIs).
_NEXT_PAGE_KEYS = ("next", "next_page", "next_cursor", "next_page_token", "cursor", "has_more")
_PAGE_SIZE_KEYS = ("page_size", "limit", "per_page")


def partial_list(body: Any) -> str | None:
    """Why a ``GET /requests`` body shows only part of the list, or ``None`` if nothing says so.

    The list is undocumented beyond ``{requests, total}``: a ``total`` above the records held,
    a next-page marker, or a page size the records reach all mean some requests are not shown.
    """
    if not isinstance(body, dict):
        return None
    records = request_records(body)
    shown = len(records)
    total = body.get("total")
    if isinstance(total, int) and not isinstance(total, bool) and total > shown:
        return f"total {total}, {shown} shown"
    for key in _NEXT_PAGE_KEYS:
        marker = body.get(key)
        if marker not in (None, False, "", 0):
            return f"{key!r} marks a next page"
    for key in _PAGE_SIZE_KEYS:
        size = body.get(key)
        if isinstance(size, int) and not isinstance(size, bool) and 0 < size <= shown:
            return f"{shown} shown, the page size {key}={size}"
    return None


def request_records(body: Any) -> list[dict[str, Any]]:
    """The request records of a ``GET /requests`` body (``{"requests": [...]}`` or a list).

    Raises:
        UnknownListShape: any other shape.
    """
    # Undocumented shape: the vendor SDK reads {"requests": [...]}; accept a bare list too.
    if isinstance(body, dict):
        for key in ("requests", "data", "items"):
            if isinstance(body.get(key), list):
                body = body[key]
                break
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise UnknownListShape(200, f"GET /requests: unknown body shape {str(body)[:200]!r}")
    return [item for item in body if item.get("request_id")]


def model_ids(body: Any) -> list[str]:
    """The model ids of a ``GET /models`` body (``{"model_ids": [...]}`` or a bare list)."""
    ids = body.get("model_ids", []) if isinstance(body, dict) else body
    return [str(model_id) for model_id in ids]
