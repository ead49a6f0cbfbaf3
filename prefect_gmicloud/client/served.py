"""What GMI serves, checked before paying: model ids against ``GET /models``, payloads of models
without a typed spec against ``GET /models/{id}``'s parameters, and typed specs for drift.

Model ids are case-sensitive with per-family casing, and they come and go: a board naming a
retired model, or ``veo3`` for ``Veo3``, should be refused before its first shot is paid, with
the spelling GMI serves. The served parameters of a model are cached per API (base URL) and
model for :data:`SERVED_TTL_SECONDS`, so a run of many shots reads each model's description
once, and a change on GMI's side is seen within that time.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from prefect_gmicloud.client.records import ModelInfo, ModelSummary
from prefect_gmicloud.models.registry import PAYLOAD_MODELS
from prefect_gmicloud.models.served import ServedPayload, ServedSchema, spec_drift

#: How long a model's served parameters are trusted before they are read again.
SERVED_TTL_SECONDS = 600.0
#: How many model descriptions the cache holds at most (the oldest go first).
SERVED_CACHE_SIZE = 512


class ModelsReader(Protocol):
    """What these checks need of a client (``GMICloudClient`` is one)."""

    @property
    def base_url(self) -> str: ...

    async def list_models(self) -> list[ModelSummary]: ...

    async def get_model(self, model_id: str) -> ModelInfo: ...


@dataclass
class ServedCache:
    """Model descriptions by ``(base URL, model id)``, each kept ``ttl`` seconds.

    Attributes:
        ttl: Seconds an entry is used before it is read again.
        size: The most entries kept.
        clock: Monotonic seconds (tests pass a fake one).
    """

    ttl: float = SERVED_TTL_SECONDS
    size: int = SERVED_CACHE_SIZE
    clock: Callable[[], float] = time.monotonic
    _entries: dict[tuple[str, str], tuple[float, ModelInfo]] = field(default_factory=dict)

    async def model(self, client: ModelsReader, model_id: str) -> ModelInfo:
        """``model_id``'s description: cached when read less than ``ttl`` seconds ago.

        Args:
            client: Reads ``GET /models/{id}`` when the entry is missing or stale.
            model_id: The model.
        """
        key = (client.base_url, model_id)
        cached = self._entries.get(key)
        now = self.clock()
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        info = await client.get_model(model_id)
        self._entries.pop(key, None)
        self._entries[key] = (now, info)
        while len(self._entries) > self.size:
            del self._entries[next(iter(self._entries))]
        return info

    def clear(self) -> None:
        """Forget every entry (the next read of each model asks GMI)."""
        self._entries.clear()


#: The process's cache, shared by every client.
SERVED = ServedCache()


async def served_schema(
    client: ModelsReader, model_id: str, cache: ServedCache = SERVED
) -> ServedSchema:
    """The parameters GMI serves for ``model_id``, as a schema payloads are checked against.

    Args:
        client: Reads ``GET /models/{id}`` (cached).
        model_id: The model.
        cache: Where descriptions are kept (the process's by default).
    """
    info = await cache.model(client, model_id)
    return ServedSchema.from_parameters(model_id, info.parameters)


async def checked_payload(
    client: ModelsReader, model_id: str, data: Mapping[str, Any], cache: ServedCache = SERVED
) -> ServedPayload:
    """``data`` checked against what GMI serves for ``model_id`` (a model without a typed spec).

    Args:
        client: Reads ``GET /models/{id}`` (cached).
        model_id: The model.
        data: The payload.
        cache: Where descriptions are kept.

    Raises:
        PayloadValidationError: a field GMI does not serve (naming what it serves), a required
            one missing, or a value of the wrong type.
    """
    return (await served_schema(client, model_id, cache)).parse(data)


def unserved_problems(model_ids: Iterable[str], served: Iterable[str]) -> list[str]:
    """One problem per id of ``model_ids`` not in ``served``, with the likely intended id (pure).

    A served id equal but for case is named as the spelling to use (``veo3`` → ``Veo3``);
    otherwise the closest served ids are, when some are close.

    Args:
        model_ids: The ids a run names.
        served: The ids GMI serves (``GET /models``).
    """
    listed = list(dict.fromkeys(served))
    by_lower = {model_id.lower(): model_id for model_id in listed}
    problems = []
    for model_id in dict.fromkeys(model_ids):
        if model_id in listed:
            continue
        same = by_lower.get(model_id.lower())
        if same is not None:
            problems.append(
                f"model {model_id!r}: GMI does not serve it; it serves {same!r} "
                "(model ids are case-sensitive)"
            )
            continue
        close = difflib.get_close_matches(model_id, listed, n=3, cutoff=0.6)
        hint = f"; the closest it serves: {', '.join(close)}" if close else ""
        problems.append(f"model {model_id!r}: GMI does not serve it (retired or misspelt){hint}")
    return problems


async def unserved_models(client: ModelsReader, model_ids: Iterable[str]) -> list[str]:
    """The ids of ``model_ids`` that GMI does not serve to this key, one problem each.

    Call it before anything is paid: ``GET /models`` is read once.

    Args:
        client: Reads ``GET /models``.
        model_ids: The ids a run names.

    Example:
        ```python
        problems = await unserved_models(client, ["veo3"])
        # ["model 'veo3': GMI does not serve it; it serves 'Veo3' (model ids are case-sensitive)"]
        ```
    """
    wanted = list(model_ids)
    if not wanted:
        return []
    return unserved_problems(wanted, [m.id for m in await client.list_models()])


async def model_drift(
    client: ModelsReader,
    model_ids: Iterable[str] | None = None,
    cache: ServedCache = SERVED,
) -> list[str]:
    """How the typed specs differ from what GMI serves (a ``doctor`` check; never raises on a
    difference, only on a failed read).

    Args:
        client: Reads ``GET /models`` and ``GET /models/{id}`` (cached).
        model_ids: The typed models to compare; by default every typed model GMI serves.
        cache: Where descriptions are kept.

    Returns:
        One line per difference (see :func:`prefect_gmicloud.models.served.spec_drift`).
    """
    if model_ids is None:
        served = {m.id for m in await client.list_models()}
        model_ids = [m for m in PAYLOAD_MODELS if m in served]
    problems: list[str] = []
    for model_id in dict.fromkeys(model_ids):
        payload_class = PAYLOAD_MODELS.get(model_id)
        if payload_class is None:
            continue
        info = await cache.model(client, model_id)
        fields = {name: f.is_required() for name, f in payload_class.model_fields.items()}
        problems += spec_drift(model_id, fields, info.parameters)
    return problems
