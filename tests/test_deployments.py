"""The deployments build, their parameters fit the flow, and the UI form has the model enums."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.localstack import BUCKET, S3_PORT
from prefect_gmicloud.storyboard import Storyboard, StoryboardOptions, plan_storyboard

ROOT = Path(__file__).resolve().parent.parent
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())


def test_storyboard_form_offers_the_model_enums() -> None:
    schema = parameter_schema(run_storyboard).model_dump()
    assert set(schema["properties"]) == {
        "storyboard", "storage", "credentials", "options", "storyboard_url"
    }  # fmt: skip
    defaults = schema["definitions"]["StoryboardDefaults"]["properties"]
    assert defaults["model"]["enum"] == [
        "wan2.7-r2v", "kling-v2-6", "kling-v3-text-to-video", "kling-v3-image-to-video",
        "Minimax-Hailuo-2.3-Fast", "MiniMax-H3", "seedance-1-0-pro-250528",
        "seedance-1-5-pro-251215", "seedance-2-0-260128", "seedance-2-0-fast-260128", "Veo3",
        "Veo3-Fast", "wan2.6-t2v", "wan2.6-i2v", "wan2.6-r2v", "wan2.7-t2v", "wan2.7-i2v",
        "wan2.7-videoedit",
    ]  # fmt: skip
    # Seedance's and MiniMax's ratios are unpublished strings: the form takes any text, and
    # each shot's model checks its own (Wan's five ratios) when the board is planned.
    assert defaults["ratio"]["type"] == "string"
    # Switches (prompt_extend...) are JSON settings: none is a None/bool toggle in the form.
    assert "watermark" in defaults["settings"]["description"]
    assert "properties" not in defaults["settings"]
    assert "Shot" in schema["definitions"]


def test_prefect_yaml_deployments_point_at_the_flow_with_valid_parameters() -> None:
    assert [d["name"] for d in SPEC["deployments"]] == ["cafe-nightly", "storyboard-on-demand"]
    assert SPEC["pull"] == []  # the flow comes from the installed package: nothing to pull
    for deployment in SPEC["deployments"]:
        # A module path, not a file: it resolves wherever the package is installed.
        assert ".py" not in deployment["entrypoint"]
        flow: Flow[..., Any] = load_flow_from_entrypoint(deployment["entrypoint"])
        assert flow is run_storyboard
        parameters = flow.validate_parameters(deployment["parameters"])
        assert plan_storyboard(parameters["storyboard"])  # the example is a valid storyboard
        assert parameters["options"] == StoryboardOptions(
            max_concurrency=4, concurrency_limit="gmi-quota"
        )
        assert "api_key" not in str(deployment["parameters"])
    assert SPEC["deployments"][0]["schedules"][0]["cron"] == "0 2 * * *"


def test_prefect_yaml_defaults_point_at_the_local_stack() -> None:
    defaults = SPEC["definitions"]["storyboard_parameters"]
    assert defaults["credentials"] == "gmicloud"  # the flow's default block name
    assert defaults["storage"] == {
        "bucket": BUCKET,
        "prefix": "gmicloud",
        "endpoint_url": f"http://127.0.0.1:{S3_PORT}",
    }


def test_example_storyboard_is_the_deployed_one() -> None:
    deployed = SPEC["definitions"]["storyboard_parameters"]["storyboard"]
    assert Storyboard.parse(deployed) == Storyboard.load(ROOT / "examples" / "cafe.yaml")


def test_serve_builds_both_deployments_under_their_own_names() -> None:
    spec = importlib.util.spec_from_file_location("serve", ROOT / "deployments" / "serve.py")
    assert spec is not None and spec.loader is not None
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    built = serve.deployments()
    assert [d.name for d in built] == ["cafe-nightly-served", "storyboard-on-demand-served"]
    for served, declared in zip(built, SPEC["deployments"], strict=True):
        assert served.description == declared["description"]
        assert served.parameters == declared["parameters"]
    (nightly,) = built[0].schedules
    assert (nightly.schedule.cron, nightly.schedule.timezone) == ("0 2 * * *", "UTC")
    assert not built[1].schedules
