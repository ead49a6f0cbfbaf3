"""Which payload class serves which model id, found in the catalogue's modules.

Every module of :mod:`prefect_gmicloud.models.catalog` is imported, and each
:class:`~prefect_gmicloud.models.base.GMIPayload` subclass defined there that names its own
``model_id`` is registered under it, so a model is added by adding its file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any

from prefect_gmicloud.errors import PayloadValidationError
from prefect_gmicloud.models import catalog
from prefect_gmicloud.models.base import GMIPayload, RawPayload
from prefect_gmicloud.models.served import ServedPayload, ServedSchema


def _discover() -> dict[str, type[GMIPayload]]:
    found: dict[str, type[GMIPayload]] = {}
    for module_info in sorted(pkgutil.iter_modules(catalog.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{catalog.__name__}.{module_info.name}")
        for value in vars(module).values():
            if not (
                isinstance(value, type)
                and issubclass(value, GMIPayload)
                and value.__module__ == module.__name__
                and "model_id" in vars(value)
            ):
                continue
            if value.model_id in found:
                raise RuntimeError(
                    f"model id {value.model_id!r} is defined twice: by "
                    f"{found[value.model_id].__qualname__} and {value.__qualname__}"
                )
            found[value.model_id] = value
    return found


#: Every typed model, by id.
PAYLOAD_MODELS: dict[str, type[GMIPayload]] = _discover()

AnyPayload = GMIPayload | ServedPayload | RawPayload

#: What a storyboard shot renders with when neither it nor the storyboard's defaults say.
DEFAULT_STORYBOARD_MODEL = "wan2.7-r2v"
#: The models a storyboard can render (their classes set ``storyboard_references``), the
#: default first.
STORYBOARD_MODELS: dict[str, type[GMIPayload]] = {
    model_id: cls
    for model_id, cls in sorted(
        PAYLOAD_MODELS.items(), key=lambda item: item[0] != DEFAULT_STORYBOARD_MODEL
    )
    if cls.storyboard_references is not None
}


def build_payload(
    model: str, data: Mapping[str, Any], served: ServedSchema | None = None
) -> GMIPayload | ServedPayload:
    """Validate ``data`` for ``model``: by its typed spec, else by the parameters GMI serves.

    Args:
        model: The model id, exactly as GMI spells it.
        data: The payload.
        served: What ``GET /models/{id}`` says the model takes
            (:func:`prefect_gmicloud.client.served.served_schema` reads it, cached); needed
            for a model without a typed spec.

    Raises:
        PayloadValidationError: the payload breaks a limit of the typed spec, or names a field
            GMI does not serve, misses one it requires or gives one a value of the wrong type;
            or the model has no typed spec and no ``served`` schema was given.
    """
    payload_class = PAYLOAD_MODELS.get(model)
    if payload_class is not None:
        return payload_class.parse(data)
    if served is None:
        raise PayloadValidationError(
            model,
            [
                f"model: no typed spec for {model!r}: check the payload against the parameters "
                "GMI serves (GMICloudClient.submit(model, data) does), or send "
                "RawPayload(model_id=..., data=...) to pay for it unchecked",
            ],
        )
    return served.parse(data)
