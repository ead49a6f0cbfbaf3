"""Every reference of a planned storyboard checked against its model's limits, in one report.

Runs before anything is paid: a missing file, a still where a video is needed, a clip too
long or an image too small would each fail a paid request (or be refused by the service after
queueing), so the whole board is refused at once, naming each shot, field, file and limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from prefect_gmicloud.errors import RefusedFile, StoryboardError
from prefect_gmicloud.media.probe import MediaFacts, probe_media
from prefect_gmicloud.references.limits import check_reference, limits_for
from prefect_gmicloud.storyboard.plan import PlannedShot, plan_shots
from prefect_gmicloud.storyboard.references import PlaceholderURLs, ReferenceURLs, source_kind
from prefect_gmicloud.storyboard.schema import Storyboard


@dataclass(frozen=True)
class ReferenceFacts:
    """What is known of one reference before anything is paid.

    ``facts`` is ``None`` for an https URL (not read here: the service fetches it) and when
    ``problem`` says why the reference could not be read.
    """

    reference: str
    facts: MediaFacts | None = None
    problem: str | None = None


class InspectedReferences(ReferenceURLs, Protocol):
    """References that were read, their stable URLs, and the way back from a URL."""

    @property
    def found(self) -> dict[str, ReferenceFacts]: ...

    def reference_of(self, url: str) -> str | None: ...


def plan_checked(board: Storyboard, references: InspectedReferences) -> list[PlannedShot]:
    """Plan every shot and check every reference: one report of all problems, or the plan.

    Args:
        board: the storyboard.
        references: its references, already inspected.

    Raises:
        StoryboardError: every problem of the board and of its references, at once.
    """
    planned, problems = plan_shots(board, references)
    problems += reference_problems(planned, references)
    if problems:
        raise StoryboardError(board.title, problems)
    return planned


def video_seconds(references: InspectedReferences) -> Callable[[str], float | None]:
    """The length of the video a payload URL names, where the reference was read."""

    def seconds(url: str) -> float | None:
        known = facts_of(references, url)
        return known[1].duration if known is not None and known[1].kind == "video" else None

    return seconds


def facts_of(references: InspectedReferences, url: str) -> tuple[str, MediaFacts] | None:
    """The reference a payload's URL stands for and what it is, when it was read."""
    reference = references.reference_of(url)
    known = references.found.get(reference) if reference is not None else None
    if reference is None or known is None or known.facts is None:
        return None
    return reference, known.facts


def unreadable_file(reference: str, exc: OSError) -> ReferenceFacts:
    """A file reference that could not be read, and why, in the words of the report."""
    if isinstance(exc, FileNotFoundError):
        return ReferenceFacts(reference, problem=f"{reference}: no such file")
    if isinstance(exc, RefusedFile):
        return ReferenceFacts(reference, problem=str(exc))
    return ReferenceFacts(reference, problem=f"{reference}: cannot be read ({exc})")


def reference_problems(planned: list[PlannedShot], references: InspectedReferences) -> list[str]:
    """Every reference that could not be read or breaks a limit of the field it is used in.

    Args:
        planned: the planned shots (their payloads hold the references' stable URLs).
        references: what each reference is.
    """
    problems = [facts.problem for facts in references.found.values() if facts.problem]
    for shot in planned:
        model = shot.payload.model_id
        for where, url in shot.media_urls():
            known = facts_of(references, url)
            limits = limits_for(model, where.split("[")[0])
            if known is not None and limits is not None:
                reference, facts = known
                problems += check_reference(
                    facts, limits, f"shot {shot.shot_id}: {where} {reference}"
                )
    return list(dict.fromkeys(problems))


@dataclass
class LocalReferences(PlaceholderURLs):
    """Placeholder URLs, with the storyboard's *files* read and probed: what can be checked
    without storage (``s3://`` objects are checked when the board runs)."""

    found: dict[str, ReferenceFacts] = field(default_factory=dict)
    _references_by_url: dict[str, str] = field(default_factory=dict)

    def url(self, reference: str) -> str:
        url = super().url(reference)
        self._references_by_url[url] = reference
        return url

    def reference_of(self, url: str) -> str | None:
        return self._references_by_url.get(url)

    def inspect(self, references: Iterable[str]) -> None:
        """Probe every file reference; a missing or unreadable one gets a ``problem``."""
        for reference in references:
            if source_kind(reference) != "file" or reference in self.found:
                continue
            try:
                self.found[reference] = ReferenceFacts(reference, probe_media(Path(reference)))
            except OSError as exc:
                self.found[reference] = unreadable_file(reference, exc)
