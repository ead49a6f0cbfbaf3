"""Typed payloads for the models on the GMI request queue, and the registry by model id."""

from prefect_gmicloud.models.base import GMIPayload, RawPayload
from prefect_gmicloud.models.registry import PAYLOAD_MODELS, AnyPayload, build_payload
from prefect_gmicloud.models.wan26 import Wan26I2VPayload, Wan26R2VPayload, Wan26T2VPayload
from prefect_gmicloud.models.wan27 import (
    Wan27I2VPayload,
    Wan27R2VPayload,
    Wan27T2VPayload,
    Wan27VideoEditPayload,
)

__all__ = [
    "PAYLOAD_MODELS",
    "AnyPayload",
    "GMIPayload",
    "RawPayload",
    "Wan26I2VPayload",
    "Wan26R2VPayload",
    "Wan26T2VPayload",
    "Wan27I2VPayload",
    "Wan27R2VPayload",
    "Wan27T2VPayload",
    "Wan27VideoEditPayload",
    "build_payload",
]
