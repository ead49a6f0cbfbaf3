"""What the models accept as reference files, and a check of a probed file against it.

Payload classes check what a request says (how many references, which URLs); this module
checks what the referenced files are (kind, format, bytes, seconds, pixels), so that a
storyboard can refuse a bad reference before anything is paid. The limits are each model's
own (its spec's ``references``). Pure: the facts come from
:func:`prefect_gmicloud.media.probe.probe_media`.
"""

from __future__ import annotations

from prefect_gmicloud.media.probe import MediaFacts, MediaKind
from prefect_gmicloud.models.registry import PAYLOAD_MODELS
from prefect_gmicloud.models.spec import ReferenceLimits

_MB = 1_000_000  # decimal megabytes: the stricter reading of "100 MB"

#: The limits of every reference field known, by ``(model id, field)``: each model's spec
#: (``spec.references``, in its file under ``prefect_gmicloud.models.catalog``) says its own.
REFERENCE_LIMITS: dict[tuple[str, str], ReferenceLimits] = {
    (model_id, field): limits
    for model_id, payload_class in PAYLOAD_MODELS.items()
    for field, limits in payload_class.spec.references.items()
}

_KIND_WITH_ARTICLE = {"video": "a video", "image": "an image", "audio": "an audio file"}


def limits_for(model_id: str, field: str) -> ReferenceLimits | None:
    """The limits of ``model_id``'s reference field ``field``; ``None`` when none are known.

    Args:
        model_id: A model id such as ``"wan2.7-r2v"``.
        field: A payload field that takes a file URL, such as ``"reference_video"``.

    Example:
        >>> limits_for("wan2.7-i2v", "first_frame").min_pixels
        240
        >>> limits_for("some-new-model", "image") is None
        True
    """
    return REFERENCE_LIMITS.get((model_id, field))


def media_kind_of(model_id: str, field: str) -> MediaKind | None:
    """The kind of media ``model_id``'s ``field`` takes (``"video"``, ``"image"``, ``"audio"``).

    Args:
        model_id: A model id such as ``"wan2.7-i2v"``.
        field: A payload field such as ``"first_clip"``.

    Returns:
        The kind, or ``None`` when the field's limits are not known.
    """
    limits = limits_for(model_id, field)
    return None if limits is None else limits.kind


def check_reference(facts: MediaFacts, limits: ReferenceLimits, where: str) -> list[str]:
    """Every limit that the file described by ``facts`` breaks, each as one sentence.

    A file of the wrong kind (or no readable media at all) gets that one sentence: its other
    limits are those of another kind of file.

    Args:
        facts: What :func:`~prefect_gmicloud.media.probe.probe_media` found.
        limits: What the field accepts (from :func:`limits_for`).
        where: Where the reference is used, starting each sentence, e.g.
            ``"shot intro: first_frame ./stills/door.png"``.

    Returns:
        The problems, empty when the file is acceptable. For example
        ``["shot intro: first_frame ./stills/door.png: 180x120 px, the model needs 240–8000 px
        per side"]``.
    """
    needed = f"the model needs {_kind_and_formats(limits)}"
    if facts.size == 0:
        return [f"{where}: an empty file, {needed}"]
    if facts.kind is None:
        if facts.container is None:
            return [f"{where}: not a video, image or audio file, {needed}"]
        return [f"{where}: an unreadable {facts.container} file (damaged?), {needed}"]
    if facts.kind != limits.kind:
        return [f"{where}: {_KIND_WITH_ARTICLE[facts.kind]} ({facts.container}), {needed}"]
    problems: list[str] = []
    if limits.containers is not None and facts.container not in limits.containers:
        problems.append(
            f"{where}: {_KIND_WITH_ARTICLE[facts.kind]} in {facts.container} format, {needed}"
        )
    if limits.max_bytes is not None and facts.size > limits.max_bytes:
        problems.append(
            f"{where}: {_megabytes(facts.size)}, the model takes at most "
            f"{_megabytes(limits.max_bytes)}"
        )
    problems.extend(_length_problems(facts, limits, where))
    problems.extend(_pixel_problems(facts, limits, where))
    return problems


def _length_problems(facts: MediaFacts, limits: ReferenceLimits, where: str) -> list[str]:
    if limits.min_seconds is None and limits.max_seconds is None:
        return []
    needed = f"the model needs {_range(limits.min_seconds, limits.max_seconds, 's')}"
    if facts.duration is None:
        return [f"{where}: its length cannot be read, {needed}"]
    too_short = limits.min_seconds is not None and facts.duration < limits.min_seconds
    too_long = limits.max_seconds is not None and facts.duration > limits.max_seconds
    if too_short or too_long:
        return [f"{where}: {facts.duration:.2f} s long, {needed}"]
    return []


def _pixel_problems(facts: MediaFacts, limits: ReferenceLimits, where: str) -> list[str]:
    if limits.min_pixels is None and limits.max_pixels is None:
        return []
    needed = f"the model needs {_range(limits.min_pixels, limits.max_pixels, 'px')} per side"
    if facts.width is None or facts.height is None:
        return [f"{where}: its size in pixels cannot be read, {needed}"]
    sides = (facts.width, facts.height)
    too_small = limits.min_pixels is not None and min(sides) < limits.min_pixels
    too_large = limits.max_pixels is not None and max(sides) > limits.max_pixels
    if too_small or too_large:
        return [f"{where}: {facts.width}x{facts.height} px, {needed}"]
    return []


def _kind_and_formats(limits: ReferenceLimits) -> str:
    if limits.containers is None:
        return _KIND_WITH_ARTICLE[limits.kind]
    names = sorted(name.upper() if limits.kind == "image" else name for name in limits.containers)
    formats = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f"{_KIND_WITH_ARTICLE[limits.kind]} ({formats})"


def _range(low: float | None, high: float | None, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low:g}–{high:g} {unit}"
    if low is not None:
        return f"at least {low:g} {unit}"
    return f"at most {high:g} {unit}"


def _megabytes(size: int) -> str:
    return f"{size / _MB:.1f} MB" if size % _MB else f"{size // _MB} MB"
