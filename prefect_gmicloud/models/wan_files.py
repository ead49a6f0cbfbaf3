"""What Wan accepts as reference files: the limits its Wan 2.6 and 2.7 models share.

Source: Wan's own documentation of its models (GMI passes the files through to Wan; GMI's pages
do not restate these limits). wan2.6-i2v's ``img_url`` takes wan2.7's image limits, the closest
documented ones. Megabytes are decimal (10**6 bytes), the stricter reading of "100 MB".
"""

from __future__ import annotations

from prefect_gmicloud.models.spec import ReferenceLimits

_MB = 1_000_000

WAN27_VIDEO = ReferenceLimits(
    "video", frozenset({"mp4", "mov"}), max_bytes=100 * _MB, min_seconds=1, max_seconds=30
)
WAN26_VIDEO = ReferenceLimits(
    "video", frozenset({"mp4", "mov"}), max_bytes=100 * _MB, min_seconds=2, max_seconds=30
)
WAN_IMAGE = ReferenceLimits(
    "image",
    frozenset({"jpeg", "png", "bmp", "webp"}),
    max_bytes=20 * _MB,
    min_pixels=240,
    max_pixels=8000,
)
# A 1–10 s limit is reported for wan2.7's reference *voice* (a timbre sample). Driving audio
# is another thing: it is the soundtrack a 2–15 s video is generated to, so that limit would
# refuse valid 11–15 s tracks. Integrators of wan2.7-i2v (Freepik, ComfyUI) state 2–30 s and
# 15 MB for it; Wan's own pages do not, so only the formats are enforced on audio.
WAN_AUDIO = ReferenceLimits("audio", frozenset({"wav", "mp3"}))
