"""MiniMax text to speech on GMI's queue: ``minimax-tts-speech-2.8-hd``.

Source: the payload keys published by third-party clients of GMI's queue: ``text``,
``voice_id``, ``speed``, ``vol``, ``pitch``, ``emotion``, ``language_boost``, ``format`` (mp3 or
flac), ``audio_sample_rate``, ``bitrate``, ``channel``. GMI calls TTS "sync": the submit's
answer may already read ``success`` while the speech is still being made (22–144 s were seen),
and the outcome (``audio_url`` with ``format``) appears on a later read.

Left open, because nothing published for this model says: the ranges of the numbers (GMI's
page of its sibling 2.6-hd gives ranges that are not assumed here), the voices and emotions,
the text's limit. GMI's example for 2.6-hd sends the numbers as strings (``"speed": "1"``)
while its table says float, so both are accepted. Speech lasts as long as its text takes: its
seconds are unknown until it is made.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from prefect_gmicloud.models.base import GMIPayload, NumberOrText
from prefect_gmicloud.models.spec import ModelSpec, Seconds


class MiniMaxSpeech28HDPayload(GMIPayload):
    """``minimax-tts-speech-2.8-hd``: speech that says ``text``, as mp3 or flac.

    Example:
        ```python
        MiniMaxSpeech28HDPayload(text="Welcome to the cafe.", format="mp3")
        ```
    """

    model_id: ClassVar[str] = "minimax-tts-speech-2.8-hd"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="audio",
        outcome="audio_url",
        seconds=Seconds(field=None),
        sync=True,
        source="third-party clients of GMI's queue (payload keys, format values)",
    )

    text: str = Field(min_length=1, description="What to say.")
    voice_id: str | None = Field(None, description="The voice.")
    speed: NumberOrText | None = Field(None, description="Speed multiplier.")
    vol: NumberOrText | None = Field(None, description="Volume multiplier.")
    pitch: NumberOrText | None = Field(None, description="Pitch, in semitones.")
    emotion: str | None = Field(None, description="The emotion to speak with.")
    language_boost: str | None = Field(None, description="A language to recognise better.")
    format: Literal["mp3", "flac"] | None = Field(None, description="mp3 or flac.")
    audio_sample_rate: NumberOrText | None = Field(None, description="Samples per second.")
    bitrate: NumberOrText | None = Field(None, description="Bits per second (mp3).")
    channel: NumberOrText | None = Field(None, description="Channels: 1 or 2.")
