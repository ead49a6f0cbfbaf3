"""What GMI serves, checked before paying: ids against GET /models, untyped payloads against
GET /models/{id}'s parameters (cached), typed specs compared for drift. Over HTTP to the
simulator; every refusal leaves it without a submit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from prefect_gmicloud import GMICloudSyncClient, PayloadValidationError, RawPayload
from prefect_gmicloud.client.records import ModelParameter
from prefect_gmicloud.client.served import (
    ServedCache,
    model_drift,
    served_schema,
    unserved_models,
    unserved_problems,
)
from prefect_gmicloud.errors import InvalidRequestError, ModelNotServed, NotFoundError
from prefect_gmicloud.flows import generate_video
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.models import PAYLOAD_MODELS, ServedPayload, ServedSchema, spec_drift
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.catalogue import class_parameters
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storyboard import Storyboard
from tests.conftest import client_for, credentials_for

MUSIC = "minimax-music-3.0"


def param(name: str, type_: str | None = "string", required: bool = False) -> ModelParameter:
    return ModelParameter(name=name, type=type_, required=required)


# -- pure --------------------------------------------------------------------------------------


def test_unserved_ids_get_the_served_spelling_or_the_closest() -> None:
    served = ["Veo3", "Veo3-Fast", "kling-v2-6", "wan2.7-r2v"]
    assert unserved_problems(["Veo3", "veo3", "kling-v2-7", "sora-2-pro"], served) == [
        "model 'veo3': GMI does not serve it; it serves 'Veo3' (model ids are case-sensitive)",
        "model 'kling-v2-7': GMI does not serve it (retired or misspelt); the closest it "
        "serves: kling-v2-6",
        "model 'sora-2-pro': GMI does not serve it (retired or misspelt)",
    ]


def test_a_served_schema_refuses_unknown_missing_and_mistyped_fields_at_once() -> None:
    schema = ServedSchema.from_parameters(
        "m", [param("prompt", required=True), param("steps", "integer"), param("hd", "boolean")]
    )
    assert schema.problems({"prompt": "x", "steps": 4, "hd": True}) == []
    assert schema.problems({"promt": "x", "steps": True, "hd": "yes"}) == [
        "promt: GMI does not serve this parameter for m (it serves: hd, prompt, steps); GMI "
        "would ignore it. RawPayload sends it unchecked",
        "prompt: required by GMI for m",
        "steps: GMI serves it as integer, got bool True",
        "hd: GMI serves it as boolean, got str 'yes'",
    ]
    # A type GMI names in its own words is not guessed at.
    assert ServedSchema.from_parameters("m", [param("ref", "image")]).problems({"ref": 3}) == []
    assert isinstance(schema.parse({"prompt": "x"}), ServedPayload)


def test_a_model_served_without_parameters_cannot_be_checked_so_it_is_refused() -> None:
    with pytest.raises(PayloadValidationError, match="GMI serves no parameters for m"):
        ServedSchema.from_parameters("m", []).parse({"prompt": "x"})


def test_drift_names_each_difference_of_spec_and_served_parameters() -> None:
    fields = {"prompt": True, "seed": False, "durationSeconds": False}
    served = [param("prompt"), param("durationSeconds", required=True), param("resolution")]
    assert spec_drift("Veo3", fields, served) == [
        "Veo3: GMI serves 'resolution', which the typed spec lacks (payloads with it are "
        "refused locally)",
        "Veo3: the typed spec has 'seed', which GMI does not serve (GMI may ignore it)",
        "Veo3: GMI requires 'durationSeconds'; the typed spec leaves it optional",
        "Veo3: the typed spec requires 'prompt'; GMI marks it optional",
    ]
    assert spec_drift("Veo3", fields, [param(n, required=r) for n, r in fields.items()]) == []


# -- over HTTP ---------------------------------------------------------------------------------


async def test_a_misspelt_field_of_an_untyped_model_is_refused_naming_what_gmi_serves(
    sim: Simulator,
) -> None:
    async with client_for(sim) as client:
        with pytest.raises(PayloadValidationError) as caught:
            await client.submit(MUSIC, {"promt": "warm cafe jazz"})
    assert caught.value.model == MUSIC
    assert caught.value.problems == [
        f"promt: GMI does not serve this parameter for {MUSIC} (it serves: format, lyrics, "
        "prompt); GMI would ignore it. RawPayload sends it unchecked",
        f"prompt: required by GMI for {MUSIC}",
    ]
    assert sim.stats.calls["submit"] == 0 and sim.stats.created == 0


async def test_a_checked_untyped_payload_is_sent_as_given(sim: Simulator) -> None:
    async with client_for(sim) as client:
        request = await client.submit(MUSIC, {"prompt": "warm cafe jazz", "format": "wav"})
    assert sim.state.requests[request.request_id].payload == {
        "prompt": "warm cafe jazz",
        "format": "wav",
    }


def test_the_sync_client_checks_the_same_way(sim: Simulator) -> None:
    with (
        GMICloudSyncClient(api_key=sim.api_key, base_url=sim.base_url) as client,
        pytest.raises(PayloadValidationError, match="lyrics: GMI serves it as string"),
    ):
        client.submit(MUSIC, {"prompt": "jazz", "lyrics": 5})
    assert sim.stats.calls["submit"] == 0


async def test_raw_payload_is_the_unchecked_escape_hatch(sim: Simulator) -> None:
    async with client_for(sim) as client:
        # Nothing local looks at it: the simulator (strict, as GMI's 400s are) is the first.
        with pytest.raises(InvalidRequestError, match="promt"):
            await client.submit(RawPayload(model_id=MUSIC, data={"promt": "jazz"}))
    assert sim.stats.calls["submit"] == 1 and sim.stats.calls["models"] == 0


async def test_served_parameters_are_read_once_per_api_and_again_after_their_lifetime(
    sim: Simulator,
) -> None:
    now = [0.0]
    cache = ServedCache(ttl=60, clock=lambda: now[0])
    async with client_for(sim) as client:
        first = await served_schema(client, MUSIC, cache)
        await served_schema(client, MUSIC, cache)
        assert sim.stats.calls["models"] == 1
        now[0] = 61.0
        assert await served_schema(client, MUSIC, cache) == first
    assert sim.stats.calls["models"] == 2
    assert first.required == {"prompt"}


async def test_an_unserved_or_miscased_model_is_refused_before_anything_is_paid(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(retired_models=["wan2.6-r2v"])
    async with client_for(sim) as client:
        assert await unserved_models(client, ["Veo3", "veo3", "wan2.6-r2v"]) == [
            "model 'veo3': GMI does not serve it; it serves 'Veo3' (model ids are case-sensitive)",
            "model 'wan2.6-r2v': GMI does not serve it (retired or misspelt); the closest it "
            "serves: wan2.7-r2v, wan2.6-t2v, wan2.6-i2v",
        ]
        with pytest.raises(NotFoundError):
            await client.get_model("wan2.6-r2v")
    assert sim.stats.calls["submit"] == 0


async def test_drift_against_the_simulator_reports_the_one_deliberate_difference(
    make_simulator: Callable[..., Simulator],
) -> None:
    served = [p for p in class_parameters(PAYLOAD_MODELS["Veo3"]) if p["name"] != "seed"]
    sim = make_simulator(served_parameters={"Veo3": served})
    async with client_for(sim) as client:
        assert await model_drift(client, cache=ServedCache()) == [
            "Veo3: the typed spec has 'seed', which GMI does not serve (GMI may ignore it)"
        ]


# -- the flows ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.parametrize(
    ("model", "payload", "expected"),
    [
        ("Veo3", {"prompt": "a lighthouse", "durationSeconds": "5"}, PayloadValidationError),
        ("veo3", {"prompt": "a lighthouse", "durationSeconds": "8"}, ModelNotServed),
        (MUSIC, {"prompt": "jazz", "tempo": 90}, PayloadValidationError),
    ],
)
async def test_generate_video_refuses_before_any_submit(
    sim: Simulator, bucket: S3Destination, model: str, payload: dict[str, Any], expected: type
) -> None:
    with pytest.raises(expected) as caught:
        await generate_video(model, payload, bucket, credentials_for(sim))
    message = str(caught.value)
    assert {
        "Veo3": "durationSeconds: must be one of '4', '6' or '8', got '5'",
        "veo3": "it serves 'Veo3'",
        MUSIC: "tempo: GMI does not serve this parameter",
    }[model] in message
    assert sim.stats.calls["submit"] == 0


@pytest.mark.usefixtures("prefect_api")
async def test_a_board_naming_a_retired_model_is_refused_before_anything_is_paid(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator(retired_models=["wan2.6-r2v"])
    board = Storyboard.parse(
        {
            "title": "retired",
            "characters": {"barista": {"video": "https://refs.example/barista.mp4"}},
            "shots": [
                {"id": "now", "prompt": "{barista} waves", "settings": {"model": "wan2.7-r2v"}},
                {"id": "then", "prompt": "{barista} bows", "settings": {"model": "wan2.6-r2v"}},
            ],
        }
    )
    with pytest.raises(ModelNotServed, match=r"model 'wan2\.6-r2v': GMI does not serve it"):
        await run_storyboard(board, bucket, credentials_for(sim))
    assert sim.stats.calls["submit"] == 0
    listing = bucket.s3_client().list_objects_v2(Bucket=bucket.bucket)
    assert listing.get("KeyCount", 0) == 0  # not even the ledger was written
