"""A corpus of malformed inputs, each entered where a user would enter it.

Every case must end in a clear error that names the problem, with no call reaching the API
(the simulator counts every one) and nothing written to the bucket.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from prefect_gmicloud import GMICloudCredentials, PayloadValidationError
from prefect_gmicloud.cli import app
from prefect_gmicloud.errors import UnsafeKeyError
from prefect_gmicloud.models import PAYLOAD_MODELS
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import S3Destination, resolve_storage
from tests.conftest import client_for
from tests.test_payload_limits import MINIMAL

GOOD_BOARD: dict[str, Any] = {
    "title": "corpus",
    "characters": {"hero": {"image": "https://refs.example/hero.png"}},
    "defaults": {"model": "wan2.7-r2v", "resolution": "720P", "duration": 2},
    "shots": [{"id": "one", "prompt": "{hero} waves"}],
}


@dataclass
class Target:
    """What a case may use: the simulator, the bucket and a folder for files."""

    sim: Simulator
    bucket: S3Destination
    folder: Path

    def run_cli(self, *args: str, board: dict[str, Any] | str | None = GOOD_BOARD) -> str:
        """``prefect-gmicloud storyboard run`` on ``board`` (None: no file); its failing output."""
        file = self.folder / "board.yaml"
        if board is not None:
            file.write_text(board if isinstance(board, str) else yaml.safe_dump(board))
        command = [
            "storyboard", "run", str(file), "--bucket", self.bucket.bucket,
            "--prefix", self.bucket.prefix, "--endpoint-url", str(self.bucket.endpoint_url),
            "--api-key-env", "GMI_CORPUS_KEY", "--base-url", self.sim.base_url, *args,
        ]  # fmt: skip
        env = {"GMI_CORPUS_KEY": self.sim.api_key, "COLUMNS": "200"}
        result = CliRunner().invoke(app, command, env=env)
        assert result.exit_code != 0, result.output
        assert isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output, result.output
        return result.output

    def submit(self, model: str, payload: dict[str, Any]) -> str:
        async def send() -> None:
            async with client_for(self.sim) as client:
                await client.submit(model, payload)

        with pytest.raises(PayloadValidationError) as caught:
            asyncio.run(send())
        return str(caught.value)


def board_with(path: str, value: Any) -> dict[str, Any]:
    """GOOD_BOARD with the value at a dotted ``path`` (numbers index lists) replaced."""
    board = copy.deepcopy(GOOD_BOARD)
    *parents, last = path.split(".")
    node: Any = board
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[int(last) if isinstance(node, list) else last] = value
    return board


def raised(kind: type[Exception], make: Callable[[], object]) -> str:
    with pytest.raises(kind) as caught:
        make()
    return str(caught.value)


def shots(n: int) -> list[dict[str, str]]:
    return [{"id": f"s{i}", "prompt": "{hero} waves"} for i in range(n)]


URL = "https://refs.example/a.mp4"
R2V: dict[str, Any] = {"prompt": "Video1 waves", "reference_video": [URL]}
CASES: dict[str, tuple[Callable[[Target], str], str]] = {
    # -- storyboards, through the CLI ---------------------------------------------------------
    "board: not a mapping": (
        lambda t: t.run_cli(board="- a\n- list\n"),
        "mapping of title, shots... ; got list",
    ),
    "board: not YAML": (lambda t: t.run_cli(board="title: [unclosed"), "not valid YAML"),
    "board: empty file": (lambda t: t.run_cli(board=""), "got nothing"),
    "board: no shots": (lambda t: t.run_cli(board=board_with("shots", [])), "shots: at least 1"),
    "board: 2001 shots": (
        lambda t: t.run_cli(board=board_with("shots", shots(2001))),
        "shots: at most 2000 items, got 2001",
    ),
    "board: title ../x": (lambda t: t.run_cli(board=board_with("title", "../x")), "title:"),
    "board: title with capitals": (
        lambda t: t.run_cli(board=board_with("title", "My Film")),
        "title: String should match pattern",
    ),
    "board: shot id ../x": (
        lambda t: t.run_cli(board=board_with("shots.0.id", "../x")),
        "shots.0.id: String should match pattern",
    ),
    "board: shot id with a slash": (
        lambda t: t.run_cli(board=board_with("shots.0.id", "a/b")),
        "shots.0.id",
    ),
    "board: shot id of odd unicode": (
        lambda t: t.run_cli(board=board_with("shots.0.id", "s\u202ehot")),
        "shots.0.id",
    ),
    "board: duplicate shot ids": (
        lambda t: t.run_cli(board=board_with("shots", shots(1) * 2)),
        "s0",
    ),
    "board: empty prompt": (
        lambda t: t.run_cli(board=board_with("shots.0.prompt", "")),
        "shot one: prompt: at least 1 characters, got 0",
    ),
    "board: prompt of 1501 characters": (
        lambda t: t.run_cli(board=board_with("shots.0.prompt", "x" * 1501)),
        "at most 1500 characters, got 1501",
    ),
    # Far past the limit, yet small enough for PyYAML to read in a blink (1M took 13 s).
    "board: huge prompt": (
        lambda t: t.run_cli(board=board_with("shots.0.prompt", "ü" * 20_000)),
        "at most 1500 characters, got 20000",
    ),
    "board: duration 1": (
        lambda t: t.run_cli(board=board_with("defaults.duration", 1)),
        "duration: must be >= 2, got 1",
    ),
    "board: duration 16": (
        lambda t: t.run_cli(board=board_with("defaults.duration", 16)),
        "duration: must be <= 15, got 16",
    ),
    "board: duration as words": (
        lambda t: t.run_cli(board=board_with("defaults.duration", "five")),
        "defaults.duration",
    ),
    "board: unknown model": (
        lambda t: t.run_cli(board=board_with("defaults.model", "sora-2-pro")),
        "defaults.model: must be one of",
    ),
    "board: unknown field": (
        lambda t: t.run_cli(board=board_with("shots.0.camera", "dolly")),
        "shot one: camera",
    ),
    "board: character with an ftp URL": (
        lambda t: t.run_cli(board=board_with("characters.hero.image", "ftp://x/y.png")),
        "must be an http(s) URL",
    ),
    "board: character URL with a space": (
        lambda t: t.run_cli(board=board_with("characters.hero.image", "https://x/a b.png")),
        "white space",
    ),
    "board: prompt names an unknown character": (
        lambda t: t.run_cli(board=board_with("shots.0.prompt", "{villain} laughs")),
        "villain",
    ),
    "board: wan2.6 character without a video": (
        lambda t: t.run_cli(board=board_with("defaults", {"model": "wan2.6-r2v"})),
        "needs a reference video for wan2.6-r2v",
    ),
    # -- payloads, through GMICloudClient.submit ----------------------------------------------
    "payload: prompt 1501": (
        lambda t: t.submit("wan2.7-r2v", {**R2V, "prompt": "Video1 " + "x" * 1494}),
        "prompt: at most 1500 characters, got 1501",
    ),
    "payload: negative prompt 501": (
        lambda t: t.submit("wan2.7-t2v", {"prompt": "a", "negative_prompt": "n" * 501}),
        "negative_prompt: at most 500 characters, got 501",
    ),
    "payload: seed -1": (
        lambda t: t.submit("wan2.7-t2v", {"prompt": "a", "seed": -1}),
        "seed: must be >= 0, got -1",
    ),
    "payload: seed 2**31": (
        lambda t: t.submit("wan2.7-t2v", {"prompt": "a", "seed": 2**31}),
        "seed: must be <= 2147483647",
    ),
    "payload: seed as text": (
        lambda t: t.submit("wan2.7-t2v", {"prompt": "a", "seed": "lucky"}),
        "seed:",
    ),
    "payload: six references": (
        lambda t: t.submit("wan2.7-r2v", {**R2V, "reference_video": [URL] * 6}),
        "reference_video: at most 5 items, got 6",
    ),
    "payload: no references": (
        lambda t: t.submit("wan2.7-r2v", {"prompt": "a"}),
        "at least 1 reference, got 0",
    ),
    "payload: prompt names a missing reference": (
        lambda t: t.submit("wan2.7-r2v", {**R2V, "prompt": "Video2 waves"}),
        "prompt mentions Video2",
    ),
    "payload: wan2.6 r2v duration 15": (
        lambda t: t.submit("wan2.6-r2v", {"reference_video_urls": [URL], "duration": 15}),
        "duration:",
    ),
    "payload: resolution 4K": (
        lambda t: t.submit("wan2.7-t2v", {"prompt": "a", "resolution": "4K"}),
        "resolution: must be one of",
    ),
    "payload: javascript: URL": (
        lambda t: t.submit("wan2.6-i2v", {"img_url": "javascript:alert(1)"}),
        "img_url: must be an http(s) URL",
    ),
    "payload: URL of 2100 characters": (
        lambda t: t.submit("wan2.6-i2v", {"img_url": "https://" + "a" * 2100}),
        "at most 2048 characters",
    ),
    "payload: misspelt field": (
        lambda t: t.submit("wan2.7-t2v", {"prompt": "a", "negativ_prompt": "x"}),
        "negativ_prompt: unknown field",
    ),
    "payload: empty": (lambda t: t.submit("wan2.7-i2v", {}), "API refuses an empty payload"),
    "payload: required fields missing": (
        lambda t: t.submit("wan2.7-videoedit", {}),
        "prompt: required",
    ),
    # -- block values -------------------------------------------------------------------------
    "block: blank API key": (
        lambda t: raised(ValidationError, lambda: GMICloudCredentials(api_key="  ")),
        "api_key: must not be empty",
    ),
    "block: plain http to a remote host": (
        lambda t: raised(
            ValidationError,
            lambda: GMICloudCredentials(api_key="k", base_url="http://console.gmicloud.ai/x"),
        ),
        "plain http is allowed only",
    ),
    "block: base URL not a URL": (
        lambda t: raised(
            ValidationError, lambda: GMICloudCredentials(api_key="k", base_url="not a url")
        ),
        "must be an http(s) URL",
    ),
    "block: bucket name of 2 characters": (
        lambda t: raised(ValidationError, lambda: S3Destination(bucket="ab")),
        "at least 3 characters",
    ),
    "block: endpoint not a URL": (
        lambda t: raised(ValidationError, lambda: S3Destination(bucket="abc", endpoint_url="s3")),
        "endpoint_url",
    ),
    # -- CLI arguments ------------------------------------------------------------------------
    "cli: --max-concurrency 0": (
        lambda t: t.run_cli("--max-concurrency", "0"),
        "'--max-concurrency': max_concurrency: must be >= 1, got 0",
    ),
    "cli: --max-concurrency 257": (
        lambda t: t.run_cli("--max-concurrency", "257"),
        "'--max-concurrency': max_concurrency: must be <= 256, got 257",
    ),
    "cli: --max-concurrency ten": (
        lambda t: t.run_cli("--max-concurrency", "ten"),
        "'--max-concurrency': Input should be a valid integer",
    ),
    "cli: --poll-interval 0": (lambda t: t.run_cli("--poll-interval", "0"), "poll-interval"),
    "cli: --api-key-env unset": (
        lambda t: t.run_cli("--api-key-env", "GMI_NOT_SET_ANYWHERE"),
        "$GMI_NOT_SET_ANYWHERE is empty or unset",
    ),
    "cli: --bucket of one character": (
        lambda t: t.run_cli("--bucket", "x"),
        "bucket: at least 3 characters, got 1",
    ),
    "cli: --endpoint-url not a URL": (
        lambda t: t.run_cli("--endpoint-url", "localhost:9000"),
        "endpoint_url: must be an http(s) URL",
    ),
    "cli: missing storyboard file": (lambda t: t.run_cli(board=None), "board.yaml"),
    # -- S3 keys that would escape the prefix -------------------------------------------------
    "s3: --prefix ../x": (
        lambda t: t.run_cli("--prefix", "../x"),
        "unsafe S3 key segment '..' in '../x'",
    ),
    "s3: prefix a/../../b": (
        lambda t: raised(ValidationError, lambda: S3Destination(bucket="abc", prefix="a/../../b")),
        "unsafe S3 key segment '..'",
    ),
    "s3: key ../x under the prefix": (
        lambda t: raised(UnsafeKeyError, lambda: resolve_storage(t.bucket).key("../x")),
        "unsafe S3 key segment '..'",
    ),
    "s3: key with a backslash": (
        lambda t: raised(UnsafeKeyError, lambda: resolve_storage(t.bucket).key("a\\..\\b")),
        "unsafe S3 key segment",
    ),
    "s3: key with a newline": (
        lambda t: raised(UnsafeKeyError, lambda: resolve_storage(t.bucket).key("a\nb")),
        "unsafe S3 key segment",
    ),
    "s3: key of 1025 bytes": (
        lambda t: raised(UnsafeKeyError, lambda: resolve_storage(t.bucket).key("k" * 1021)),
        "at most 1024 bytes",
    ),
}


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_clearly_before_any_io(
    name: str, sim: Simulator, bucket: S3Destination, tmp_path: Path
) -> None:
    case, expected = CASES[name]
    message = " ".join(case(Target(sim, bucket, tmp_path)).split())
    assert expected in message, message
    assert sum(sim.stats.calls.values()) == 0, dict(sim.stats.calls)
    listing = bucket.s3_client().list_objects_v2(Bucket=bucket.bucket)
    assert listing.get("KeyCount", 0) == 0, [o["Key"] for o in listing.get("Contents", [])]


# -- properties: every payload model, over HTTP to the simulator ------------------------------

MODELS = sorted(PAYLOAD_MODELS)
#: The models whose limits TOO_MUCH breaks: Wan's (other families publish other limits, which
#: tests/test_family_payloads.py checks).
WAN_MODELS = [model for model in MODELS if model.startswith("wan")]
#: The simulator fixture is shared by a test's examples: each checks its own call count.
ONE_SIMULATOR_FOR_ALL_EXAMPLES = [HealthCheck.function_scoped_fixture]
TOO_MUCH: dict[str, Any] = {
    "prompt": "p" * 1501,
    "negative_prompt": "n" * 501,
    "seed": 2**31,
    "duration": 16,
}


def _optional_text(model: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = PAYLOAD_MODELS[model].model_fields
    optional: dict[str, st.SearchStrategy[Any]] = {}
    if "negative_prompt" in fields:
        optional["negative_prompt"] = st.text(max_size=500)
    if "seed" in fields:
        optional["seed"] = st.integers(0, 2**31 - 1)
    if "watermark" in fields:
        optional["watermark"] = st.booleans()
    return st.fixed_dictionaries({}, optional=optional)


@settings(max_examples=60, deadline=None, suppress_health_check=ONE_SIMULATOR_FOR_ALL_EXAMPLES)
@given(data=st.data())
def test_valid_payloads_reach_the_api_exactly_as_given(sim: Simulator, data: st.DataObject) -> None:
    model = data.draw(st.sampled_from(MODELS))
    payload = {**MINIMAL[PAYLOAD_MODELS[model]], **data.draw(_optional_text(model))}

    async def send() -> str:
        async with client_for(sim) as client:
            return (await client.submit(model, payload)).request_id

    request_id = asyncio.run(send())
    assert sim.state.requests[request_id].payload == payload


@settings(max_examples=60, deadline=None, suppress_health_check=ONE_SIMULATOR_FOR_ALL_EXAMPLES)
@given(data=st.data())
def test_payloads_past_a_limit_never_reach_the_api(sim: Simulator, data: st.DataObject) -> None:
    model = data.draw(st.sampled_from(WAN_MODELS))
    fields = [f for f in TOO_MUCH if f in PAYLOAD_MODELS[model].model_fields]
    field = data.draw(st.sampled_from(fields))
    payload = {**MINIMAL[PAYLOAD_MODELS[model]], **data.draw(_optional_text(model))}
    payload[field] = TOO_MUCH[field]
    calls = sum(sim.stats.calls.values())

    async def send() -> None:
        async with client_for(sim) as client:
            await client.submit(model, payload)

    with pytest.raises(PayloadValidationError) as caught:
        asyncio.run(send())
    assert any(problem.startswith(f"{field}:") for problem in caught.value.problems)
    assert sum(sim.stats.calls.values()) == calls
