"""Storyboards and checks the reliability tests share."""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect_gmicloud.storage import S3Destination, resolve_storage
from prefect_gmicloud.storyboard import Storyboard
from prefect_gmicloud.storyboard.manifest import Manifest, ManifestStore

SECRET_KEY = "sk-reliability-secret-0xFEEDFACE-never-leak"


def board_of(shots: int, title: str) -> Storyboard:
    """``shots`` distinct 2 s shots of one character, titled ``title``."""
    return Storyboard.parse(
        {
            "title": title,
            "characters": {"hero": {"image": "https://refs.example/hero.png"}},
            "defaults": {"model": "wan2.7-r2v", "resolution": "720P", "duration": 2},
            "shots": [
                {
                    "id": f"shot-{number:03d}",
                    "prompt": f"{{hero}} crosses the street, take {number}",
                }
                for number in range(shots)
            ],
        }
    )


async def read_manifest(bucket: S3Destination, title: str) -> Manifest:
    """The manifest a storyboard run left in ``bucket``."""
    location = resolve_storage(bucket)
    manifest = await ManifestStore(location, location.key(title, "manifest.json")).load()
    assert manifest is not None, f"no manifest for {title}"
    return manifest


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
