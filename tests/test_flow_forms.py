"""The public flows describe every parameter: Prefect shows the descriptions in the run form."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.flows import Flow
from prefect.utilities.callables import parameter_schema

from prefect_gmicloud.flows import collect_requests, generate_video


@pytest.mark.parametrize("flow", [generate_video, collect_requests], ids=lambda f: f.name)
def test_every_parameter_has_a_description(flow: Flow[..., Any]) -> None:
    properties = parameter_schema(flow).model_dump()["properties"]
    undescribed = [name for name, spec in properties.items() if not spec.get("description")]
    assert properties and undescribed == []
