"""HTTP errors map onto the exception hierarchy with the vendor's message, in both body shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from prefect_gmicloud import APIError, GMICloudClient, RawPayload
from prefect_gmicloud.client.responses import error_from_response
from prefect_gmicloud.errors import (
    AuthenticationError,
    InsufficientCreditsError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from prefect_gmicloud.simulator import Simulator
from tests.conftest import R2V_PAYLOAD, client_for


def response(
    status: int, body: Any = None, text: str | None = None, **headers: str
) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (422, InvalidRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (402, InsufficientCreditsError),
        (418, APIError),
    ],
)
@pytest.mark.parametrize(
    "body",
    [
        {"error": "Insufficient credits"},
        {"error": {"message": "Insufficient credits", "details": "x"}},
    ],
)
def test_status_maps_to_its_error_with_the_vendor_message(
    status: int, kind: type[APIError], body: dict[str, Any]
) -> None:
    error = error_from_response(response(status, body), request_id="r-9")
    assert type(error) is kind
    assert error.status_code == status and error.request_id == "r-9"
    assert error.message.startswith("Insufficient credits")
    assert "r-9" in str(error) and str(status) in str(error)


@pytest.mark.parametrize(
    ("made", "message"),
    [
        (lambda: response(500, text="<html>bad gateway</html>"), "<html>bad gateway</html>"),
        (lambda: response(500, {"message": "oops"}), "oops"),
        (lambda: response(500, {"detail": "oops"}), "oops"),
        (lambda: response(500, text=""), "Internal Server Error"),
    ],
)
def test_other_bodies_still_give_a_message(
    made: Callable[[], httpx.Response], message: str
) -> None:
    assert error_from_response(made()).message == message


def test_rate_limit_carries_retry_after() -> None:
    error = error_from_response(response(429, {"error": "slow down"}, **{"Retry-After": "12"}))
    assert isinstance(error, RateLimitError) and error.retry_after == 12.0


@pytest.mark.parametrize("shape", ["flat", "nested"])
async def test_simulator_errors_arrive_mapped(
    make_simulator: Callable[..., Simulator], shape: str
) -> None:
    sim = make_simulator(error_shape=shape)
    async with client_for(sim) as client:
        with pytest.raises(NotFoundError, match="model nope does not exist"):
            await client.submit(RawPayload(model_id="nope", data={"prompt": "x"}))
        with pytest.raises(NotFoundError, match="request not found") as caught:
            await client.get("00000000-0000-4000-8000-000000000000")
        assert caught.value.request_id == "00000000-0000-4000-8000-000000000000"
        # Local validation bypassed on purpose: the server's own 400 comes back intact.
        raw = RawPayload(model_id="wan2.7-r2v", data={**R2V_PAYLOAD, "duration": 99})
        with pytest.raises(InvalidRequestError, match="duration: must be <= 15"):
            await client.submit(raw)
    async with GMICloudClient("wrong-key", base_url=sim.base_url) as stranger:
        with pytest.raises(AuthenticationError, match="invalid or missing API key"):
            await stranger.list_models()
    assert sim.stats.created == 0


async def test_organization_header_is_sent_and_checked(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(organizations=["org-a"])
    async with client_for(sim, organization_id="org-a") as member:
        assert "wan2.7-r2v" in [m.id for m in await member.list_models()]
    async with client_for(sim, organization_id="org-b") as outsider:
        with pytest.raises(AuthenticationError, match="org-b"):
            await outsider.list_models()
