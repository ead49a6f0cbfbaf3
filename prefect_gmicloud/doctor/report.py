"""The doctor's findings: one row per check, shown as a table or as JSON for scripts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

from rich.markup import escape
from rich.table import Table

#: ``ok``: the check passed. ``warn``: worth knowing, nothing will fail for it. ``fail``: a run
#: would fail or could pay twice. ``skip``: not checked (what would enable it is in the detail).
Status = Literal["ok", "warn", "fail", "skip"]

_STYLE = {"ok": "green", "warn": "yellow", "fail": "red", "skip": "dim"}


@dataclass(frozen=True)
class Finding:
    """One check's result.

    Attributes:
        check: what was checked, e.g. ``store conditional writes``.
        status: the verdict.
        detail: what was seen, in a sentence.
        fix: what to do about a failure or a warning (empty when there is nothing to do).
    """

    check: str
    status: Status
    detail: str
    fix: str = ""


def failed(findings: list[Finding]) -> bool:
    """Whether any check failed (the command then exits non-zero)."""
    return any(finding.status == "fail" for finding in findings)


def table(findings: list[Finding]) -> Table:
    """The findings as a table: check, status, detail, fix."""
    shown = Table(title="prefect-gmicloud doctor", show_lines=True)
    shown.add_column("check", no_wrap=True)
    shown.add_column("status", no_wrap=True)
    # Fold rather than cut: endpoints, keys and commands to copy must stay whole.
    shown.add_column("detail", overflow="fold", ratio=3)
    shown.add_column("fix", overflow="fold", ratio=2)
    for finding in findings:
        style = _STYLE[finding.status]
        shown.add_row(
            escape(finding.check),
            f"[{style}]{finding.status.upper()}[/{style}]",
            escape(finding.detail),
            escape(finding.fix),
        )
    return shown


def as_json(findings: list[Finding]) -> str:
    """The findings as a JSON document: ``{"ok": bool, "checks": [{check, status, detail,
    fix}, ...]}``, ``ok`` false when any check failed."""
    document = {"ok": not failed(findings), "checks": [asdict(f) for f in findings]}
    return json.dumps(document, indent=2)
