"""What a storyboard run may read: local files under allowed roots, objects in allowed buckets.

A storyboard given as a flow parameter comes from whoever may start a run in the Prefect UI,
and the worker reads what it names with its own disk and its own S3 role. So every source a
board names (its characters' and shots' references, and ``storyboard_url``) is checked against
a :class:`TrustRule` before anything is read, uploaded or paid for:

- a **file** only under an allowed root, after resolving symlinks, and only a regular file of
  at most ``max_file_bytes`` (a device such as ``/dev/zero``, a FIFO or a folder is refused
  from its ``stat``, never opened);
- an **s3:// object** only in an allowed bucket (the run's own, and those the worker allows);
- an **https URL** is fetched by GMI, not by the worker: always allowed.

The roots and buckets come from the worker's environment (``PREFECT_GMICLOUD_ALLOWED_ROOTS``,
paths separated by ``:``; ``PREFECT_GMICLOUD_ALLOWED_BUCKETS``, names separated by ``,``), not
from a parameter a UI user could change. A board loaded in the same process from a file (the
CLI, a script: :meth:`Storyboard.load`) also may read the files of its own folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from prefect_gmicloud.media.local_files import MAX_FILE_BYTES, file_problem
from prefect_gmicloud.storyboard.references import S3Object, source_kind

ROOTS_ENV = "PREFECT_GMICLOUD_ALLOWED_ROOTS"
BUCKETS_ENV = "PREFECT_GMICLOUD_ALLOWED_BUCKETS"
#: The largest storyboard file read from ``storyboard_url``.
MAX_STORYBOARD_BYTES = 1_000_000


@dataclass(frozen=True)
class TrustRule:
    """The local roots and buckets a run may read sources from.

    Attributes:
        roots: folders (resolved) whose files may be read; none: no local file at all.
        buckets: the buckets whose objects may be read.
        max_file_bytes: the largest local file read.
    """

    roots: tuple[Path, ...] = ()
    buckets: frozenset[str] = frozenset()
    max_file_bytes: int = MAX_FILE_BYTES

    @classmethod
    def from_environment(
        cls,
        own_bucket: str,
        also_roots: Iterable[Path] = (),
        environ: Mapping[str, str] | None = None,
    ) -> TrustRule:
        """The rule of this worker: its environment's roots and buckets, and the run's bucket.

        Args:
            own_bucket: the run's own bucket (always allowed).
            also_roots: folders the caller trusts besides (a board file's own folder).
            environ: the environment (``os.environ`` when ``None``).
        """
        env = os.environ if environ is None else environ
        named = [p for p in env.get(ROOTS_ENV, "").split(os.pathsep) if p.strip()]
        roots = [Path(p).expanduser().resolve() for p in [*named, *map(str, also_roots)]]
        buckets = {b.strip() for b in env.get(BUCKETS_ENV, "").split(",") if b.strip()}
        return cls(tuple(dict.fromkeys(roots)), frozenset({own_bucket, *buckets}))

    def problem(self, source: str, max_bytes: int | None = None) -> str | None:
        """Why ``source`` (a file path, an ``s3://`` URL or an https URL) may not be read, or
        ``None`` when it may. A file is looked at with ``stat`` only.

        Args:
            source: the reference or storyboard URL.
            max_bytes: the largest file accepted (``max_file_bytes`` when ``None``).
        """
        kind = source_kind(source)
        if kind == "url":
            return None
        if kind == "s3":
            bucket = S3Object.parse(source).bucket
            if bucket in self.buckets:
                return None
            allowed = ", ".join(sorted(self.buckets))
            return (
                f"{source}: bucket {bucket!r} is not allowed (allowed: {allowed}; the worker's "
                f"{BUCKETS_ENV} adds others)"
            )
        return self._file_problem(Path(source), max_bytes or self.max_file_bytes)

    def _file_problem(self, path: Path, max_bytes: int) -> str | None:
        try:
            real = path.expanduser().resolve(strict=True)
        except FileNotFoundError:
            return None if self._under_root(path.expanduser().absolute()) else self._outside(path)
        except (OSError, RuntimeError) as exc:  # a symlink loop, a permission refused
            return f"{path}: cannot be resolved ({exc})"
        if not self._under_root(real):
            return self._outside(path, real)
        return file_problem(path, real.stat(), max_bytes)

    def _under_root(self, path: Path) -> bool:
        return any(path.is_relative_to(root) for root in self.roots)

    def _outside(self, path: Path, real: Path | None = None) -> str:
        seen = f" (it is {real})" if real is not None and real != path else ""
        allowed = ", ".join(str(root) for root in self.roots) or "none"
        return (
            f"{path}{seen}: not under an allowed local root (allowed: {allowed}; the worker's "
            f"{ROOTS_ENV} names them)"
        )

    def problems(self, sources: Iterable[str]) -> list[str]:
        """Every source of ``sources`` that may not be read, one sentence each."""
        return [found for source in sources if (found := self.problem(source)) is not None]
