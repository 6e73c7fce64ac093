"""How a clip becomes fixed-length segments."""
from __future__ import annotations

import dataclasses

from ..core.errors import require


@dataclasses.dataclass(frozen=True)
class SegmentParams:
    """How a clip becomes fixed-length segments."""

    sample_rate: int = 16000
    segment_samples: int = 48000  # 3 s at 16 kHz
    max_seconds: float = 30.0
    # A trailing remainder at least this fraction of a segment is zero-padded into one more.
    min_remainder: float = 0.5

    def __post_init__(self):
        require(self.max_seconds > 0, f"`max_seconds` must be positive, not {self.max_seconds:g}")

    @property
    def segment_seconds(self) -> float:
        return self.segment_samples / self.sample_rate


# The usual segment length (GTZAN's 30 s clips cut in ten); names and labels only mention others.
DEFAULT_SEGMENT_SECONDS = SegmentParams().segment_seconds
# YAMNet frames 0.96 s of audio: shorter segments have no embedding.
MIN_SEGMENT_SECONDS = 1.0


def segment_label(seconds: float) -> str:
    """'6s' for a segment length other than the usual; '' for the usual one."""
    return "" if seconds == DEFAULT_SEGMENT_SECONDS else f"{seconds:g}s"


def segment_params(seconds: float = DEFAULT_SEGMENT_SECONDS,
                   max_seconds: float = SegmentParams.max_seconds) -> SegmentParams:
    """Segments of `seconds` (3 s by default; the third seed used 6 s, five per 30 s clip)."""
    samples = seconds * SegmentParams.sample_rate
    require(seconds >= MIN_SEGMENT_SECONDS and abs(samples - round(samples)) <= 1e-6,
            f"`segment_seconds` must be at least {MIN_SEGMENT_SECONDS:g} and a whole number of samples at "
            f"{SegmentParams.sample_rate} Hz, not {seconds:g}")
    return SegmentParams(segment_samples=int(round(samples)), max_seconds=max_seconds)
