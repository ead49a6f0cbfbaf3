"""``StoryboardOptions`` is the one place a storyboard option lives: the flow's ``options``
parameter (one JSON editor in the run form), the CLI's flags and a deployment's parameters all
come from it, and a bad option fails naming itself before anything is paid."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from prefect.exceptions import ParameterTypeError
from prefect.utilities.callables import parameter_schema

from prefect_gmicloud.cli import app
from prefect_gmicloud.cli_options import flag
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.storyboard import StoryboardOptions

FIELDS = StoryboardOptions.model_fields
STORAGE = {"bucket": "gmicloud-local", "prefix": "gmicloud"}


def run_flags() -> dict[str, Any]:
    """The options of ``storyboard run`` as typer builds them, by parameter name."""
    group: Any = typer.main.get_command(app)
    command = group.commands["storyboard"].commands["run"]
    return {p.name: p for p in command.params if getattr(p, "opts", [""])[0].startswith("--")}


def test_every_option_is_a_flag_of_storyboard_run_with_its_default_and_help() -> None:
    params = run_flags()
    for name, info in FIELDS.items():
        option = params[name]
        assert flag(name) in option.opts, name
        assert option.default == info.default, name
        assert option.help == info.description, name
    assert {"bucket", "prefix", "credentials"} <= set(params)


def test_the_flow_takes_the_options_as_one_json_object_in_the_form() -> None:
    schema = parameter_schema(run_storyboard).model_dump()
    options = schema["properties"]["options"]
    # No properties: Prefect's UI renders one JSON editor, not fifteen inputs.
    assert options["type"] == "object" and "properties" not in options
    assert options["default"] == StoryboardOptions().model_dump(mode="json")
    assert '{"review": true}' in options["description"]


def test_the_flow_validates_a_json_options_object_into_the_model() -> None:
    parameters = run_storyboard.validate_parameters(
        {"storyboard": None, "storage": STORAGE, "options": {"review": True, "max_cost": 2}}
    )
    assert parameters["options"] == StoryboardOptions(review=True, max_cost=2)
    assert parameters["options"].max_concurrency == 4  # the rest keep their defaults


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"max_concurency": 8}, "options.max_concurency"),  # a typo is refused, not ignored
        ({"max_concurrency": 0}, "options.max_concurrency"),
        ({"budget_wait": 0.5}, "options.budget_wait"),
        ({"review": "maybe"}, "options.review"),
    ],
)
def test_a_bad_option_fails_the_run_naming_it(given: dict[str, Any], named: str) -> None:
    with pytest.raises(ParameterTypeError) as refused:
        run_storyboard.validate_parameters(
            {"storyboard": None, "storage": STORAGE, "options": given}
        )
    assert named in str(refused.value)


def test_options_are_immutable_so_a_default_is_never_shared_state() -> None:
    options = StoryboardOptions()
    with pytest.raises(ValueError, match="frozen"):
        options.max_concurrency = 8  # type: ignore[misc]
