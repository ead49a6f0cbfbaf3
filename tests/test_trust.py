"""A run reads only what its worker allows: local files under allowed roots, s3:// objects in
allowed buckets, regular files of bounded size; everything else refused before it is read,
uploaded or paid for. A board loaded from a file may read the files beside it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from prefect_gmicloud.errors import ParameterError, UntrustedSourceError
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storyboard import Storyboard
from prefect_gmicloud.storyboard.options import StoryboardOptions
from prefect_gmicloud.storyboard.trust import BUCKETS_ENV, ROOTS_ENV, TrustRule
from tests.conftest import credentials_for, read_object

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "production" / "media"


def board_naming(*images: str) -> dict[str, Any]:
    return {
        "title": "trust",
        "characters": {f"c{i}": {"image": image} for i, image in enumerate(images)},
        "shots": [{"id": f"s{i}", "prompt": f"{{c{i}}} waves"} for i in range(len(images))],
    }


def objects_in(bucket: S3Destination) -> list[str]:
    listing = bucket.s3_client().list_objects_v2(Bucket=bucket.bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_the_rule_reads_roots_and_buckets_from_the_environment(tmp_path: Path) -> None:
    env = {ROOTS_ENV: f"{tmp_path}{os.pathsep}/srv/boards", BUCKETS_ENV: "library, shared"}
    rule = TrustRule.from_environment("run-bucket", environ=env)
    assert rule.roots == (tmp_path.resolve(), Path("/srv/boards"))
    assert rule.buckets == {"run-bucket", "library", "shared"}
    # By default: no local file, only the run's own bucket; https is GMI's to fetch.
    bare = TrustRule.from_environment("run-bucket", environ={})
    assert bare.roots == () and bare.buckets == {"run-bucket"}
    assert bare.problem("https://refs.example/a.png") is None
    assert bare.problem("s3://run-bucket/a.png") is None
    assert "not under an allowed local root (allowed: none" in str(bare.problem("/etc/passwd"))


def test_a_symlink_is_judged_by_where_it_points(tmp_path: Path) -> None:
    inside = tmp_path / "root"
    inside.mkdir()
    (inside / "passwd.png").symlink_to("/etc/passwd")
    (inside / "real.png").write_bytes(b"x")
    (inside / "alias.png").symlink_to(inside / "real.png")
    rule = TrustRule(roots=(inside.resolve(),))
    assert rule.problem(str(inside / "passwd.png")) == (
        f"{inside / 'passwd.png'} (it is /etc/passwd): not under an allowed local root "
        f"(allowed: {inside.resolve()}; the worker's {ROOTS_ENV} names them)"
    )
    assert rule.problem(str(inside / "alias.png")) is None


async def test_a_board_naming_what_the_worker_must_not_read_is_refused_unpaid(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_api: object,
) -> None:
    sim = make_simulator()
    root = tmp_path / "refs"
    root.mkdir()
    os.mkfifo(root / "fifo.png")
    (root / "folder.png").mkdir()
    with (root / "huge.png").open("wb") as huge:  # sparse: its size, not its bytes
        huge.truncate(201_000_000)
    shutil.copy(EXAMPLE / "guest.png", root / "guest.png")
    other = f"other-{bucket.bucket}"
    bucket.s3_client().create_bucket(Bucket=other)
    bucket.s3_client().upload_file(str(EXAMPLE / "guest.png"), other, "guest.png")
    # /dev is allowed here only so that /dev/zero meets the special-file check.
    monkeypatch.setenv(ROOTS_ENV, f"{root}{os.pathsep}/dev")
    board = Storyboard.parse(
        board_naming(
            "/etc/passwd",
            "/dev/zero",
            str(root / "fifo.png"),
            str(root / "folder.png"),
            str(root / "huge.png"),
            f"s3://{other}/guest.png",
            str(root / "guest.png"),
        )
    )
    with pytest.raises(UntrustedSourceError) as caught:
        await run_storyboard(
            board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
        )
    assert caught.value.problems == [
        "/etc/passwd: not under an allowed local root "
        f"(allowed: {root.resolve()}, /dev; the worker's {ROOTS_ENV} names them)",
        "/dev/zero: a character device, not a regular file",
        f"{root / 'fifo.png'}: a FIFO, not a regular file",
        f"{root / 'folder.png'}: a folder, not a regular file",
        f"{root / 'huge.png'}: 201000000 bytes, more than the 200000000 a source may have",
        f"s3://{other}/guest.png: bucket '{other}' is not allowed (allowed: {bucket.bucket}; "
        f"the worker's {BUCKETS_ENV} adds others)",
    ]
    assert sim.stats.calls["submit"] == 0
    assert objects_in(bucket) == []  # nothing uploaded, not even the allowed guest.png


async def test_a_board_file_s_own_folder_is_read_and_a_file_elsewhere_is_not(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    tmp_path: Path,
    prefect_api: object,
) -> None:
    sim = make_simulator()
    shutil.copy(EXAMPLE / "guest.png", tmp_path / "guest.png")
    data = board_naming("guest.png")
    data["defaults"] = {"model": "wan2.7-r2v", "duration": 2}
    (tmp_path / "board.yaml").write_text(yaml.safe_dump(data))
    # As the CLI runs it: loaded in this process, its references beside it.
    result = await run_storyboard(
        Storyboard.load(tmp_path / "board.yaml"),
        bucket,
        credentials_for(sim),
        options=StoryboardOptions(poll_interval=0.05),
    )
    assert result.submitted == 1
    # The same board as a parameter (JSON, as the UI sends it) has no folder to trust.
    as_sent = Storyboard.parse(Storyboard.load(tmp_path / "board.yaml").model_dump(mode="json"))
    with pytest.raises(UntrustedSourceError, match=r"guest\.png: not under an allowed local root"):
        await run_storyboard(
            as_sent, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
        )


async def test_storyboard_url_runs_a_board_from_a_file_or_the_bucket(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    tmp_path: Path,
    prefect_api: object,
) -> None:
    sim = make_simulator()
    data = board_naming("https://refs.example/guest.png")
    data["defaults"] = {"model": "wan2.7-r2v", "duration": 2}
    (tmp_path / "board.yaml").write_text(yaml.safe_dump(data))
    from_file = await run_storyboard(
        None,
        bucket,
        credentials_for(sim),
        storyboard_url=str(tmp_path / "board.yaml"),
        options=StoryboardOptions(poll_interval=0.05),
    )
    assert from_file.submitted == 1
    bucket.s3_client().put_object(
        Bucket=bucket.bucket, Key="boards/trust.yaml", Body=yaml.safe_dump(data).encode()
    )
    from_bucket = await run_storyboard(
        None,
        bucket,
        credentials_for(sim),
        storyboard_url=f"s3://{bucket.bucket}/boards/trust.yaml",
        options=StoryboardOptions(poll_interval=0.05),
    )
    assert (from_bucket.submitted, from_bucket.reused) == (0, 1)
    assert read_object(bucket, "out/trust/manifest.json")
    with pytest.raises(UntrustedSourceError, match="bucket 'elsewhere' is not allowed"):
        await run_storyboard(
            None, bucket, credentials_for(sim), storyboard_url="s3://elsewhere/b.yaml"
        )
    with pytest.raises(ParameterError, match="not both"):
        await run_storyboard(
            Storyboard.parse(data), bucket, credentials_for(sim), storyboard_url="b.yaml"
        )
    with pytest.raises(ParameterError, match="not neither"):
        await run_storyboard(None, bucket, credentials_for(sim))
    assert sim.stats.calls["submit"] == 1


@pytest.mark.parametrize("prefix", ["/abs", "a//b", "../up", "a/./b"])
def test_a_storage_prefix_that_is_not_a_plain_folder_is_refused_not_rewritten(prefix: str) -> None:
    with pytest.raises(ValueError, match="unsafe S3 key segment"):
        S3Destination(bucket="media", prefix=prefix)


def test_a_storage_prefix_loses_one_trailing_slash_only() -> None:
    assert S3Destination(bucket="media", prefix="gmicloud/").prefix == "gmicloud"
    assert S3Destination(bucket="media", prefix="a/b").prefix == "a/b"
