"""Child processes started in a process group of their own, and stopped with all they started.

A ``prefect server start`` or ``prefect worker start`` runs children of its own (uvicorn, flow
runs); stopping only the parent can leave them running. Each command here starts as the leader
of a new session, so ``stop_group`` reaches every process of it: SIGTERM first, a grace period
for the leader to finish cleanly, then SIGKILL for whatever is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

#: How long a group's leader has to exit after SIGTERM before the group is killed. Generous:
#: a Prefect worker took over 30 s to stop on a 2-core machine with both cores busy.
GRACE_SECONDS = 60.0


def start_in_group(command: Sequence[str], **popen: Any) -> subprocess.Popen[Any]:
    """Start ``command`` as the leader of a new process group.

    Args:
        command: The program and its arguments.
        popen: Other keyword arguments for ``subprocess.Popen`` (env, cwd, stdout...).
    """
    return subprocess.Popen(list(command), start_new_session=True, **popen)


def _signal_group(process: subprocess.Popen[Any], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def stop_group(process: subprocess.Popen[Any], grace: float = GRACE_SECONDS) -> int:
    """Stop a process started by :func:`start_in_group` and everything in its group.

    Sends SIGTERM to the group, waits up to ``grace`` seconds for the leader, then sends
    SIGKILL to the group (also when the leader exited, for children it left) and reaps the
    leader. Returns the leader's exit code.

    Args:
        process: The group's leader.
        grace: Seconds the leader has to exit after SIGTERM.
    """
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    _signal_group(process, signal.SIGKILL)
    return process.wait()
