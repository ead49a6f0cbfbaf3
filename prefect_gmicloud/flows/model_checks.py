"""The checks a run makes of GMI's models before it pays: ids served, payload fields served,
typed specs not drifted (a warning)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prefect import get_run_logger

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client.http import GMICloudClient
from prefect_gmicloud.client.served import model_drift, unserved_models
from prefect_gmicloud.errors import AuthenticationError, GMICloudError, ModelNotServed
from prefect_gmicloud.models.base import GMIPayload
from prefect_gmicloud.models.registry import PAYLOAD_MODELS
from prefect_gmicloud.models.served import ServedPayload


async def refuse_unserved(client: GMICloudClient, model_ids: Iterable[str]) -> None:
    """Raise unless GMI serves every id; warn of typed specs that drifted from what it serves.

    When ``GET /models`` cannot be read (after its retries) the ids are not checked, with a
    warning: nothing is paid for an unserved id anyway (GMI answers its submit 404). A refused
    key (401/403) is not such a failure: it is raised, so a run stops before its first shot.

    Args:
        client: Reads ``GET /models`` (and the typed models' ``GET /models/{id}``, cached).
        model_ids: The ids the run names.

    Raises:
        ModelNotServed: naming each unserved id and the spelling GMI serves, or the closest.
        AuthenticationError: GMI refused the key (401/403): no shot could be paid or read.
    """
    wanted = list(dict.fromkeys(model_ids))
    logger = get_run_logger()
    try:
        problems = await unserved_models(client, wanted)
    except AuthenticationError:
        # The first call a run makes with the key: a refused key would refuse every submit and
        # every status read too, so the run stops here, before any shot tries (and nothing
        # recorded is touched).
        logger.error("GMI Cloud refused the API key at GET /models: check it; nothing was paid")
        raise
    except GMICloudError as exc:
        # Not a reason to stop: GMI refuses an unserved id at its submit (404), unpaid, and a
        # run may have recorded requests to collect while GMI answers badly.
        logger.warning(
            "model ids not checked against GET /models (%s): GMI refuses an "
            "unserved one at its submit",
            exc,
        )
        return
    if problems:
        raise ModelNotServed(problems)
    try:
        drift = await model_drift(client, [m for m in wanted if m in PAYLOAD_MODELS])
    except GMICloudError as exc:
        logger.warning("typed specs not compared with what GMI serves: %s", exc)
        return
    for line in drift:
        logger.warning("model spec drift: %s", line)


async def check_models(credentials: GMICloudCredentials, model_ids: Iterable[str]) -> None:
    """:func:`refuse_unserved` with a client of ``credentials``: what a storyboard run calls.

    Args:
        credentials: The GMI credentials of the run.
        model_ids: The ids the run names.
    """
    async with credentials.get_client() as client:
        await refuse_unserved(client, model_ids)


async def checked_request(
    credentials: GMICloudCredentials, model_id: str, payload: Mapping[str, Any]
) -> GMIPayload | ServedPayload:
    """``payload`` checked every way before it is paid for: what ``generate_video`` calls.

    A typed model's limits are checked first (no request is made when they fail); then the id
    against ``GET /models``; then a model without a typed spec against the parameters GMI
    serves for it.

    Args:
        credentials: The GMI credentials of the run.
        model_id: The model, exactly as GMI spells it.
        payload: The request body for it.

    Raises:
        PayloadValidationError: a limit is broken, or a field is not one GMI serves.
        ModelNotServed: GMI does not serve ``model_id``.
    """
    typed = PAYLOAD_MODELS.get(model_id)
    checked = typed.parse(payload) if typed is not None else None
    async with credentials.get_client() as client:
        await refuse_unserved(client, [model_id])
        return checked if checked is not None else await client.validate(model_id, payload)
