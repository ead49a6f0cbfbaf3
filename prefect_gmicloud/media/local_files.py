"""Local files read only when they are regular files of bounded size.

A path a storyboard names may be a device (``/dev/zero`` reads for ever), a FIFO (opening it
waits for a writer for ever), a folder or a huge file. Everything that reads such a path (the
run's trust rule and staging, the CLI's ``storyboard validate``) goes through here, so each is
refused from its ``stat`` before a byte is read, with one sentence saying what it is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from prefect_gmicloud.errors import RefusedFile

#: The largest local file a board may name: the models' own limits are 100 MB and under.
MAX_FILE_BYTES = 200 * 1_000_000

_KINDS = {
    stat.S_ISDIR: "a folder",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISSOCK: "a socket",
}


def file_problem(path: Path, info: os.stat_result, max_bytes: int) -> str | None:
    """Why the file ``info`` describes may not be read, or ``None`` when it may.

    Args:
        path: the path, as the message names it.
        info: its ``stat`` (or ``fstat``).
        max_bytes: the largest file accepted.
    """
    for test, name in _KINDS.items():
        if test(info.st_mode):
            return f"{path}: {name}, not a regular file"
    if not stat.S_ISREG(info.st_mode):
        return f"{path}: not a regular file"
    if info.st_size > max_bytes:
        return f"{path}: {info.st_size} bytes, more than the {max_bytes} a source may have"
    return None


def open_bounded(path: Path, max_bytes: int = MAX_FILE_BYTES) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file of at most ``max_bytes``.

    Opened without blocking (opening a FIFO for reading would wait for a writer for ever) and
    checked on the open file, so what is read is what was checked, even if the path was
    swapped since another check.

    Args:
        path: the file.
        max_bytes: the largest file accepted.

    Raises:
        RefusedFile: it is not a regular file, or it is too large.
        OSError: it cannot be opened (``FileNotFoundError`` when absent).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        problem = file_problem(path, os.fstat(fd), max_bytes)
        if problem is not None:
            raise RefusedFile(problem)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
