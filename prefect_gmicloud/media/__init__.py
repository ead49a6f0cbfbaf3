"""Video helpers on the ffmpeg of the imageio-ffmpeg wheel: final cut and contact sheet."""

from prefect_gmicloud.media.ffmpeg import concatenate, contact_sheet, has_audio

__all__ = ["concatenate", "contact_sheet", "has_audio"]
