"""Payloads of models without a typed spec, checked against the parameters GMI serves for them,
and the drift between a typed spec and what GMI serves.

``GET /models/{id}`` lists a model's ``parameters`` as ``{name, display_name, description, type,
required}``. That is enough to refuse, before paying, a field GMI does not serve (a typo GMI
would silently ignore), a required field left out, and a value whose type is plainly wrong where
the parameter's type is one of the JSON types. It is not enough to check ranges or enums (GMI
serves none), so a typed spec in :mod:`prefect_gmicloud.models.catalog` stays the stronger
check. Pure: the parameters are read by :mod:`prefect_gmicloud.client.served`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from prefect_gmicloud.errors import PayloadValidationError

#: GMI's type names (and the usual spellings of JSON types) onto the Python types a value of
#: that type parses to. Any other type name (``"image"``, ``"enum"``, none) is not checked.
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "str": (str,),
    "text": (str,),
    "integer": (int,),
    "int": (int,),
    "number": (int, float),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "bool": (bool,),
    "array": (list,),
    "list": (list,),
    "object": (dict,),
    "dict": (dict,),
}


class ServedParameter(Protocol):
    """One parameter as ``GET /models/{id}`` describes it (``ModelParameter`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str | None: ...

    @property
    def required(self) -> bool: ...


def _python_types(type_name: str | None) -> tuple[type, ...] | None:
    return _TYPES.get((type_name or "").strip().lower())


def _type_problem(name: str, value: Any, type_name: str | None) -> str | None:
    expected = _python_types(type_name)
    if expected is None or value is None:
        return None
    # JSON has no int/bool distinction problem, Python does: True is not an integer here.
    wrong = isinstance(value, bool) and bool not in expected
    if wrong or not isinstance(value, expected):
        return f"{name}: GMI serves it as {type_name}, got {type(value).__name__} {value!r:.60}"
    return None


@dataclass(frozen=True)
class ServedSchema:
    """What GMI says one model takes: its parameters' names, types and which are required.

    Attributes:
        model_id: The model.
        types: Each parameter's type name as GMI serves it (``None`` when it gives none).
        required: The parameters GMI marks required.
    """

    model_id: str
    types: Mapping[str, str | None]
    required: frozenset[str]

    @classmethod
    def from_parameters(cls, model_id: str, parameters: Iterable[ServedParameter]) -> ServedSchema:
        """The schema of ``model_id`` from ``GET /models/{id}``'s ``parameters``.

        Args:
            model_id: The model described.
            parameters: Its parameters (``ModelInfo.parameters``).
        """
        listed = list(parameters)
        return cls(
            model_id,
            {p.name: p.type for p in listed},
            frozenset(p.name for p in listed if p.required),
        )

    def problems(self, data: Mapping[str, Any]) -> list[str]:
        """Every way ``data`` differs from what GMI serves, one ``"field: ..."`` line each.

        Args:
            data: The payload about to be sent.
        """
        served = ", ".join(sorted(self.types)) or "none"
        if not self.types:
            return [
                f"payload: GMI serves no parameters for {self.model_id}, so no field can be "
                "checked; send RawPayload(model_id=..., data=...) to pay for it unchecked"
            ]
        found = [
            f"{name}: GMI does not serve this parameter for {self.model_id} (it serves: "
            f"{served}); GMI would ignore it. RawPayload sends it unchecked"
            for name in data
            if name not in self.types
        ]
        found += [
            f"{name}: required by GMI for {self.model_id}"
            for name in sorted(self.required - set(data))
        ]
        found += [
            problem
            for name, value in data.items()
            if name in self.types and (problem := _type_problem(name, value, self.types[name]))
        ]
        return found

    def parse(self, data: Mapping[str, Any]) -> ServedPayload:
        """``data`` as a checked payload.

        Args:
            data: The payload.

        Raises:
            PayloadValidationError: naming every field GMI does not serve, every required one
                missing, and every value of the wrong type.
        """
        if not data:
            raise PayloadValidationError(
                self.model_id, ["payload: empty, and the API refuses an empty payload (400)"]
            )
        problems = self.problems(data)
        if problems:
            raise PayloadValidationError(self.model_id, problems)
        return ServedPayload(model_id=self.model_id, data=dict(data))


class ServedPayload(BaseModel):
    """A payload for a model without a typed spec, checked against what GMI serves for it.

    Made by :meth:`ServedSchema.parse` (or ``GMICloudClient.submit(model, data)``): every field
    is one GMI serves, the required ones are there, and values of a clear type have it. Ranges
    and allowed values are not checked (GMI does not serve them).
    """

    model_config = ConfigDict(frozen=True)

    model_id: str = Field(min_length=1)
    data: dict[str, Any] = Field(min_length=1)

    def to_payload(self) -> dict[str, Any]:
        """The payload, as checked."""
        return dict(self.data)


def spec_drift(
    model_id: str,
    spec_fields: Mapping[str, bool],
    parameters: Iterable[ServedParameter],
) -> list[str]:
    """How a typed spec and the parameters GMI serves for its model differ (pure).

    Args:
        model_id: The model.
        spec_fields: The typed spec's fields, each with whether the spec requires it
            (``{name: info.is_required() for name, info in cls.model_fields.items()}``).
        parameters: What ``GET /models/{id}`` serves (``ModelInfo.parameters``).

    Returns:
        One line per difference: a parameter GMI serves that the spec lacks (the spec refuses
        it), a spec field GMI does not serve (GMI may ignore it), a required mismatch. Empty
        when they agree; one line when GMI serves no parameters (nothing to compare).
    """
    served = {p.name: p.required for p in parameters}
    if not served:
        return [f"{model_id}: GMI serves no parameters, so the typed spec cannot be compared"]
    found = [
        f"{model_id}: GMI serves {name!r}, which the typed spec lacks (payloads with it are "
        "refused locally)"
        for name in sorted(set(served) - set(spec_fields))
    ]
    found += [
        f"{model_id}: the typed spec has {name!r}, which GMI does not serve (GMI may ignore it)"
        for name in sorted(set(spec_fields) - set(served))
    ]
    for name in sorted(set(served) & set(spec_fields)):
        if served[name] and not spec_fields[name]:
            found.append(f"{model_id}: GMI requires {name!r}; the typed spec leaves it optional")
        elif spec_fields[name] and not served[name]:
            found.append(f"{model_id}: the typed spec requires {name!r}; GMI marks it optional")
    return found
