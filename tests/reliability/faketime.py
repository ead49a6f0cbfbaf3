"""Processes whose wall clock is skewed, with libfaketime (Debian's ``faketime``).

Only the wall clock moves (``time.time()``, dates): monotonic clocks stay real
(``FAKETIME_DONT_FAKE_MONOTONIC=1``), as on a machine whose NTP is wrong. Under libfaketime
Python's ``time.sleep`` fails (``clock_nanosleep`` answers EINVAL), so the skewed process gets
a ``sitecustomize`` that sleeps with ``select()`` instead; asyncio and thread waits already
use monotonic timeouts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

_SHIM = '''"""Installed by tests/reliability/faketime.py: time.sleep without clock_nanosleep."""
import select
import time


def _sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


time.sleep = _sleep
'''


def require_faketime() -> None:
    """Skip without ``faketime``, naming how to get it; under CI (``CI=true``), fail instead."""
    if shutil.which("faketime"):
        return
    why = "libfaketime's `faketime` is not installed (Debian/Ubuntu: apt-get install faketime)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(why)
    pytest.skip(why)


def faketime_command(offset: str, *command: str) -> list[str]:
    """``command`` run with its wall clock ``offset`` off, e.g. ``"+10m"`` or ``"-90s"``.

    Run it with :func:`faketime_env`.
    """
    require_faketime()
    executable = shutil.which("faketime")
    assert executable is not None
    return [executable, "-f", offset, *command]


def faketime_env(env: dict[str, str], folder: Path) -> dict[str, str]:
    """``env`` for a skewed Python process: monotonic clocks real, ``time.sleep`` shimmed.

    Args:
        env: the process's environment otherwise.
        folder: where the ``sitecustomize`` shim is written (put first on ``PYTHONPATH``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(_SHIM)
    path = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
