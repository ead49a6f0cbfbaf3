"""How models read in Prefect's run form: optional fields as plain inputs, JSON parts as one
editor. Shared by every model a flow takes as a parameter (the storyboard, its storage)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer


def plain_optionals(schema: dict[str, Any]) -> None:
    """Drop the ``null`` alternative and ``null`` default of every optional property; refuse
    an optional boolean.

    Prefect's UI renders ``X | None`` as a type toggle starting on "None" with no input;
    without the alternative an optional field is a plain input left empty. A boolean has no
    such plain form: a switch left alone is sent as ``false`` (``prompt_extend`` off changes
    the video), and the toggle reads ``Property is type "None"``. So a form part may not
    have one: optional switches belong in a ``settings`` JSON, which says only what is set.

    Raises:
        TypeError: a property is an optional boolean.
    """
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if options and {"type": "boolean"} in options and {"type": "null"} in options:
            raise TypeError(
                f"form field {name!r} is an optional boolean, which the run form shows as a "
                "None/bool toggle: make it a plain bool with a default, or a setting in JSON"
            )
        if options and {"type": "null"} in options and any("$ref" in o for o in options):
            # An optional part of the board (the music bed) is left unset: shown open, its
            # required fields would hold up every form left without one. The UI starts on the
            # first alternative.
            prop["anyOf"] = [{"type": "null"}, *(o for o in options if o != {"type": "null"})]
            prop.pop("default", None)
            continue
        if options and {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            del prop["anyOf"]
            if len(rest) == 1:
                prop.update(rest[0])
            else:
                prop["anyOf"] = rest
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class WithoutNones(BaseModel):
    """A model whose unset (``None``) fields are not serialised: with ``plain_optionals`` its
    schema has no ``null``, so leaving them out keeps the parameters Prefect stores valid
    against the form's schema."""

    @model_serializer(mode="wrap")
    def _without_nones(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {name: value for name, value in data.items() if value is not None}
