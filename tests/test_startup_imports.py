"""Starting light: the client, the storyboard checks and the CLI's help do not import Prefect.

Prefect, prefect-aws and boto3 take seconds to import; the client is documented as usable
without Prefect, and `prefect-gmicloud --help` or `storyboard validate` should answer at once.
Each check runs in a fresh interpreter, where nothing is imported yet.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CAFE = str(ROOT / "examples" / "cafe.yaml")
HEAVY = ("prefect", "prefect_aws", "boto3", "botocore")

PROBES = {
    "client": "from prefect_gmicloud.client import GMICloudClient",
    "top-level client and models": (
        "from prefect_gmicloud import GMICloudClient, Storyboard, build_payload\n"
        "from prefect_gmicloud.models import Wan27R2VPayload"
    ),
    "cli --help": (
        "import sys; from prefect_gmicloud.cli import app\n"
        "sys.argv = ['prefect-gmicloud', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    ),
    "storyboard validate": (
        "import sys; from prefect_gmicloud.cli import app\n"
        f"sys.argv = ['prefect-gmicloud', 'storyboard', 'validate', {CAFE!r}]\n"
        "try:\n    app()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code"
    ),
}


def imported_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    report = f"\nimport json, sys; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run(
        [sys.executable, "-c", code + report], capture_output=True, text=True, check=True
    )
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("code", PROBES.values(), ids=PROBES.keys())
def test_does_not_import_prefect_or_boto3(code: str) -> None:
    assert imported_after(code) == []


def test_the_probe_sees_prefect_when_it_is_imported() -> None:
    assert set(imported_after("from prefect_gmicloud import run_storyboard")) == set(HEAVY)


def test_every_public_name_still_imports() -> None:
    code = "import prefect_gmicloud as p; print([n for n in p.__all__ if getattr(p, n) is None])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
