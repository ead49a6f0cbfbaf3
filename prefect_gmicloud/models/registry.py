"""Which payload class serves which model id, and the pass-through for the rest."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from prefect_gmicloud.models.base import GMIPayload, RawPayload
from prefect_gmicloud.models.wan26 import Wan26I2VPayload, Wan26R2VPayload, Wan26T2VPayload
from prefect_gmicloud.models.wan27 import (
    Wan27I2VPayload,
    Wan27R2VPayload,
    Wan27T2VPayload,
    Wan27VideoEditPayload,
)

logger = logging.getLogger(__name__)

PAYLOAD_MODELS: dict[str, type[GMIPayload]] = {
    cls.model_id: cls
    for cls in (
        Wan26T2VPayload,
        Wan26I2VPayload,
        Wan26R2VPayload,
        Wan27T2VPayload,
        Wan27I2VPayload,
        Wan27R2VPayload,
        Wan27VideoEditPayload,
    )
}

AnyPayload = GMIPayload | RawPayload

#: What a storyboard shot renders with when neither it nor the storyboard's defaults say.
DEFAULT_STORYBOARD_MODEL = Wan27R2VPayload.model_id
#: The models a storyboard can render (their classes set ``storyboard_references``), the
#: default first.
STORYBOARD_MODELS: dict[str, type[GMIPayload]] = {
    model_id: cls
    for model_id, cls in sorted(
        PAYLOAD_MODELS.items(), key=lambda item: item[0] != DEFAULT_STORYBOARD_MODEL
    )
    if cls.storyboard_references is not None
}


def build_payload(model: str, data: Mapping[str, Any]) -> AnyPayload:
    """Validate ``data`` for ``model``; unknown models pass through unvalidated, with a warning.

    Raises:
        PayloadValidationError: the payload breaks a documented limit of a known model.
    """
    payload_class = PAYLOAD_MODELS.get(model)
    if payload_class is None:
        logger.warning(
            "No payload schema for model %r: sending the payload unvalidated. Known models: %s",
            model,
            ", ".join(sorted(PAYLOAD_MODELS)),
        )
        return RawPayload(model_id=model, data=dict(data))
    return payload_class.parse(data)
