"""Storyboards and checks the reliability tests share."""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect_gmicloud.storage import S3Destination, resolve_storage
from prefect_gmicloud.storyboard.manifest import Manifest, ManifestStore

SECRET_KEY = "sk-reliability-secret-0xFEEDFACE-never-leak"


async def read_manifest(bucket: S3Destination, title: str) -> Manifest:
    """The manifest a storyboard run left in ``bucket``."""
    location = resolve_storage(bucket)
    manifest = await ManifestStore(location, location.key(title, "manifest.json")).load()
    assert manifest is not None, f"no manifest for {title}"
    return manifest


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
