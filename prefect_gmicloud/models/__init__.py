"""Typed payloads for the models on the GMI request queue, and the registry by model id.

Each model's payload class and spec live in one module of :mod:`prefect_gmicloud.models.catalog`
(import a class from there, or look it up: ``PAYLOAD_MODELS["Veo3"]``); the Wan classes are
also exported here.
"""

from prefect_gmicloud.models.base import GMIPayload, RawPayload
from prefect_gmicloud.models.catalog.wan26 import Wan26I2VPayload, Wan26R2VPayload, Wan26T2VPayload
from prefect_gmicloud.models.catalog.wan27 import (
    Wan27I2VPayload,
    Wan27R2VPayload,
    Wan27T2VPayload,
    Wan27VideoEditPayload,
)
from prefect_gmicloud.models.registry import PAYLOAD_MODELS, AnyPayload, build_payload
from prefect_gmicloud.models.served import ServedPayload, ServedSchema, spec_drift
from prefect_gmicloud.models.spec import ModelSpec, ReferenceLimits, Seconds

__all__ = [
    "PAYLOAD_MODELS",
    "AnyPayload",
    "GMIPayload",
    "ModelSpec",
    "RawPayload",
    "ReferenceLimits",
    "Seconds",
    "ServedPayload",
    "ServedSchema",
    "Wan26I2VPayload",
    "Wan26R2VPayload",
    "Wan26T2VPayload",
    "Wan27I2VPayload",
    "Wan27R2VPayload",
    "Wan27T2VPayload",
    "Wan27VideoEditPayload",
    "build_payload",
    "spec_drift",
]
