"""Where a run's storyboard comes from (the parameter, or a file or object it names), and the
trust rule its sources are held to."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from prefect import runtime

from prefect_gmicloud.errors import ParameterError, StoryboardError, UntrustedSourceError
from prefect_gmicloud.media.local_files import open_bounded
from prefect_gmicloud.storage.location import StorageLocation
from prefect_gmicloud.storyboard.references import S3Object, source_kind
from prefect_gmicloud.storyboard.schema import Storyboard
from prefect_gmicloud.storyboard.trust import MAX_STORYBOARD_BYTES, TrustRule


async def trusted_board(
    storyboard: Storyboard | None, storyboard_url: str | None, location: StorageLocation
) -> Storyboard:
    """The run's storyboard, every source it names allowed by the worker's trust rule.

    A run started from a deployment reads local files only under the worker's allowed roots;
    a run started in this process (the CLI, a script) also reads those beside a board file
    it loaded (or named by ``storyboard_url``). Nothing is uploaded or paid before this.

    Args:
        storyboard: the board, or ``None`` with ``storyboard_url``.
        storyboard_url: a YAML/JSON file's path or ``s3://bucket/key``, or ``None``.
        location: the run's storage (its bucket is always allowed).

    Raises:
        ParameterError: both or neither of ``storyboard`` and ``storyboard_url``.
        UntrustedSourceError: the board file or a source it names is not allowed.
        StoryboardError: the board file is missing or not a valid storyboard.
    """
    storyboard_url = storyboard_url or None  # the run form's empty input is no URL
    if (storyboard is None) == (storyboard_url is None):
        raise ParameterError(
            "give either storyboard (the board itself) or storyboard_url (a path or "
            f"s3://bucket/key of a YAML or JSON file), not {'both' if storyboard else 'neither'}"
        )
    local = runtime.deployment.id is None
    if storyboard is None:
        assert storyboard_url is not None
        storyboard = await _read_board(storyboard_url, location, local)
    also = [storyboard.folder] if local and storyboard.folder is not None else []
    rule = TrustRule.from_environment(location.bucket, also)
    problems = rule.problems(storyboard.references())
    if problems:
        raise UntrustedSourceError(storyboard.title, problems)
    return storyboard


async def _read_board(url: str, location: StorageLocation, local: bool) -> Storyboard:
    kind = source_kind(url)
    if kind == "url":
        raise ParameterError(f"storyboard_url {url!r}: a file path or an s3://bucket/key")
    if kind == "s3":
        target = S3Object.parse(url)
        problem = TrustRule.from_environment(location.bucket).problem(url)
        if problem:
            raise UntrustedSourceError(url, [f"storyboard_url {problem}"])
        body = await location.store.read(target.bucket, target.key, max_bytes=MAX_STORYBOARD_BYTES)
        if body is None:
            raise StoryboardError(url, ["storyboard_url: no such object"])
        return _parse(body.data, PurePosixPath(target.key).suffix, url)
    return await asyncio.to_thread(_read_file, url, location.bucket, local)


def _read_file(url: str, bucket: str, local: bool) -> Storyboard:
    path = Path(url).expanduser().absolute()
    # A file named in this process is the caller's own; from a deployment, it is checked.
    rule = TrustRule.from_environment(bucket, [path.parent] if local else [])
    problem = rule.problem(str(path), MAX_STORYBOARD_BYTES)
    if problem:
        raise UntrustedSourceError(url, [f"storyboard_url {problem}"])
    try:
        with open_bounded(path.resolve(), MAX_STORYBOARD_BYTES) as file:
            data = file.read(MAX_STORYBOARD_BYTES + 1)
    except FileNotFoundError:
        raise StoryboardError(url, ["storyboard_url: no such file"]) from None
    except OSError as exc:
        raise StoryboardError(url, [f"storyboard_url: cannot be read ({exc})"]) from None
    board = _parse(data, path.suffix, url).files_relative_to(path.parent.resolve())
    if local:
        board._folder = path.parent.resolve()
    return board


def _parse(data: bytes, suffix: str, source: str) -> Storyboard:
    try:
        text = data.decode("utf-8")
        value: Any = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if suffix == ".json" else "YAML"
        raise StoryboardError(source, [f"not valid {kind}: {exc}"]) from None
    return Storyboard.parse(value, source)
