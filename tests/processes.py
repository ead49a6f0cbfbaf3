"""Subprocesses for tests: each in its own process group, and the whole group stopped after.

Every test that starts a server, a worker or a CLI run in the background goes through here, so
a teardown waits for what it started (up to a grace period generous enough for a busy machine)
and then kills the whole group: nothing is left running when a test ends, pass or fail.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from typing import Any

from prefect_gmicloud.process_group import GRACE_SECONDS, start_in_group, stop_group

__all__ = ["Processes", "running", "start_in_group", "stop_group"]


@contextlib.contextmanager
def running(
    command: Sequence[str], grace: float = GRACE_SECONDS, **popen: Any
) -> Iterator[subprocess.Popen[Any]]:
    """``command`` running in its own process group for the block; the group stopped after.

    Args:
        command: The program and its arguments.
        grace: Seconds the process has to exit after SIGTERM before its group is killed.
        popen: Other keyword arguments for ``subprocess.Popen``.
    """
    process = start_in_group(command, **popen)
    try:
        yield process
    finally:
        stop_group(process, grace)


class Processes:
    """The processes a test started in the background; :meth:`stop_all` stops every group."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[Any]] = []

    def start(self, command: Sequence[str], **popen: Any) -> subprocess.Popen[Any]:
        """Start ``command`` in its own process group, to be stopped by :meth:`stop_all`.

        Args:
            command: The program and its arguments.
            popen: Other keyword arguments for ``subprocess.Popen``.
        """
        process = start_in_group(command, **popen)
        self._started.append(process)
        return process

    def stop_all(self, grace: float = GRACE_SECONDS) -> None:
        """Stop every group started here (those already finished are only reaped).

        Args:
            grace: Seconds each process has to exit after SIGTERM before its group is killed.
        """
        while self._started:
            stop_group(self._started.pop(), grace)
