"""The flags of ``storyboard run``, made from ``StoryboardOptions``: one per field, with its
description as help, so an option added to the model is a flag without touching the CLI."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from prefect_gmicloud.models.base import describe_errors
from prefect_gmicloud.storyboard.options import StoryboardOptions


def flag(name: str) -> str:
    """The command-line flag of the option ``name``."""
    return "--" + name.replace("_", "-")


def with_option_flags(command: Callable[..., None]) -> Callable[..., None]:
    """``command``, whose parameter ``options`` is a ``StoryboardOptions``, taking one flag per
    option instead and called with the options they give.

    Args:
        command: A typer command with a keyword parameter ``options: StoryboardOptions``.
    """
    signature = inspect.signature(command, eval_str=True)
    fields = StoryboardOptions.model_fields
    flags = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=info.default,
            annotation=Annotated[info.annotation, typer.Option(help=info.description)],
        )
        for name, info in fields.items()
    ]
    kept = [p for p in signature.parameters.values() if p.name != "options"]

    @functools.wraps(command)
    def with_flags(*args: Any, **kwargs: Any) -> None:
        given = {name: kwargs.pop(name) for name in fields}
        try:
            options = StoryboardOptions(**given)
        except ValidationError as exc:
            hint = sorted({flag(str(e["loc"][0])) for e in exc.errors() if e["loc"]})
            raise typer.BadParameter("; ".join(describe_errors(exc)), param_hint=hint) from None
        command(*args, options=options, **kwargs)

    with_flags.__signature__ = signature.replace(parameters=[*kept, *flags])  # type: ignore[attr-defined]
    with_flags.__annotations__ = {p.name: p.annotation for p in [*kept, *flags]}
    return with_flags
