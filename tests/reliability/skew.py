"""Real processes whose wall clock is off: Debian's ``faketime`` (libfaketime) around a command.

Only the wall clock moves (``time.time``, ``datetime.now``, what signs S3 requests and dates
claims); monotonic clocks stay real (``FAKETIME_DONT_FAKE_MONOTONIC=1``), so timeouts, sleeps
and asyncio behave. Python processes get a ``sitecustomize`` that keeps ``time.sleep`` working
under libfaketime (``faketime_site/``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: The ``sitecustomize`` that skewed Python processes load.
FAKETIME_SITE = Path(__file__).with_name("faketime_site")


def faketime_or_skip() -> str:
    """The ``faketime`` command; without it the test is skipped (``apt-get install faketime``),
    and under CI (``CI=true``) it fails instead: a clock test must not pass by not running."""
    found = shutil.which("faketime")
    if found:
        return found
    why = "needs Debian's faketime (apt-get install faketime) to skew a process's clock"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(why)
    pytest.skip(why)


def skewed(
    command: list[str], env: dict[str, str], seconds: float
) -> tuple[list[str], dict[str, str]]:
    """``command`` and ``env`` to run it with its wall clock ``seconds`` ahead (behind if < 0).

    Args:
        command: the command as it would run unskewed.
        env: its environment.
        seconds: how far its wall clock is off the machine's.
    """
    faketime = faketime_or_skip()
    path = os.pathsep.join(p for p in (str(FAKETIME_SITE), env.get("PYTHONPATH", "")) if p)
    skew_env = {**env, "FAKETIME_DONT_FAKE_MONOTONIC": "1", "PYTHONPATH": path}
    return [faketime, "-f", f"{seconds:+.0f}", *command], skew_env


def skewed_time(seconds: float) -> float:
    """What a process skewed by ``seconds`` reads as the time now (checks the skew works)."""
    command, env = skewed(
        [sys.executable, "-c", "import time; time.sleep(0.01); print(time.time())"],
        dict(os.environ),
        seconds,
    )
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return float(done.stdout)
