"""The local journal: paid request ids the ledger could not take yet.

When the storage is unreachable right after a submit, the request id is appended here (and
logged at ERROR) so that it survives this process; the next run of the same storyboard on this
machine writes it into the ledger before deciding anything.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from pydantic import BaseModel

#: Overrides where the journal lives (default: ``~/.local/state/prefect-gmicloud/``).
JOURNAL_ENV = "PREFECT_GMICLOUD_JOURNAL"

_lock = threading.Lock()


class JournalLine(BaseModel):
    """One paid request id waiting to reach a ledger."""

    ledger: str
    inputs_hash: str
    shot_id: str
    model: str
    request_id: str
    submitted_at: float
    written_at: float = 0.0


def journal_path() -> Path:
    """Where the journal is kept on this machine."""
    if os.environ.get(JOURNAL_ENV):
        return Path(os.environ[JOURNAL_ENV])
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "prefect-gmicloud" / "journal.jsonl"


def append(line: JournalLine) -> Path:
    """Add ``line`` durably (fsynced) and return the journal's path."""
    path = journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = line.model_copy(update={"written_at": time.time()}).model_dump_json() + "\n"
    with _lock, path.open("a", encoding="utf-8") as journal:
        journal.write(text)
        journal.flush()
        os.fsync(journal.fileno())
    return path


def pending(ledger: str) -> list[JournalLine]:
    """The lines waiting for ``ledger`` (unreadable lines are kept in the file, not returned)."""
    return [line for line in _read() if line is not None and line.ledger == ledger]


def remove(done: list[JournalLine]) -> None:
    """Drop ``done`` from the journal once the ledger holds them."""
    if not done:
        return
    path = journal_path()
    keys = {(line.ledger, line.request_id) for line in done}
    with _lock:
        if not path.exists():
            return
        kept = []
        for text in path.read_text(encoding="utf-8").splitlines():
            line = _parse(text)
            if line is None or (line.ledger, line.request_id) not in keys:
                kept.append(text)
        temporary = path.with_suffix(".tmp")
        temporary.write_text("".join(t + "\n" for t in kept), encoding="utf-8")
        temporary.replace(path)


def _read() -> list[JournalLine | None]:
    path = journal_path()
    with _lock:
        if not path.exists():
            return []
        return [_parse(text) for text in path.read_text(encoding="utf-8").splitlines()]


def _parse(text: str) -> JournalLine | None:
    try:
        return JournalLine.model_validate(json.loads(text))
    except ValueError:
        return None
