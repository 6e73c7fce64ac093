"""How a clip becomes fixed-length segments."""
from __future__ import annotations

import dataclasses
import math

from ..core.errors import require


@dataclasses.dataclass(frozen=True)
class SegmentParams:
    """How a clip becomes fixed-length segments."""

    sample_rate: int = 16000
    segment_samples: int = 48000  # 3 s at 16 kHz
    max_seconds: float = 30.0
    # A trailing remainder at least this fraction of a segment is zero-padded into one more.
    min_remainder: float = 0.5
    # Samples between the starts of a clip's segments (`extract --hop`); None: one segment length, no overlap.
    hop_samples: int | None = None

    def __post_init__(self):
        require(math.isfinite(self.max_seconds) and self.max_seconds > 0,
                f"`max_seconds` must be a positive number of seconds, not {self.max_seconds:g}")
        require(self.hop_samples is None or 0 < self.hop_samples <= self.segment_samples,
                f"`hop_samples` must be between 1 and the segment length ({self.segment_samples}), not {self.hop_samples}")

    @property
    def segment_seconds(self) -> float:
        return self.segment_samples / self.sample_rate

    @property
    def hop(self) -> int:
        """Samples between segment starts."""
        return self.hop_samples or self.segment_samples

    @property
    def hop_seconds(self) -> float:
        return self.hop / self.sample_rate


# The usual segment length (GTZAN's 30 s clips cut in ten); names and labels only mention others.
DEFAULT_SEGMENT_SECONDS = SegmentParams().segment_seconds
# YAMNet frames 0.96 s of audio: shorter segments have no embedding.
MIN_SEGMENT_SECONDS = 1.0
# Longer segments are not what any model here was made for, and cost memory in every batch.
MAX_SEGMENT_SECONDS = 60.0


def segment_label(seconds: float) -> str:
    """'6s' for a segment length other than the usual; '' for the usual one."""
    return "" if seconds == DEFAULT_SEGMENT_SECONDS else f"{seconds:g}s"


def _whole_samples(seconds: float, argument: str, minimum: float) -> int:
    samples = seconds * SegmentParams.sample_rate
    require(minimum <= seconds <= MAX_SEGMENT_SECONDS and abs(samples - round(samples)) <= 1e-6,
            f"`{argument}` must be between {minimum:g} and {MAX_SEGMENT_SECONDS:g} s and a whole number of samples "
            f"at {SegmentParams.sample_rate} Hz, not {seconds:g}")
    return int(round(samples))


def segment_params(seconds: float = DEFAULT_SEGMENT_SECONDS, max_seconds: float = SegmentParams.max_seconds,
                   hop_seconds: float | None = None) -> SegmentParams:
    """Segments of `seconds` (3 s by default; the third seed used 6 s, five per 30 s clip), one every
    `hop_seconds` (default: `seconds`, no overlap; less cuts overlapping segments from the same clips)."""
    samples = _whole_samples(seconds, "segment_seconds", MIN_SEGMENT_SECONDS)
    hop = None if hop_seconds is None else _whole_samples(hop_seconds, "hop_seconds", 1 / SegmentParams.sample_rate)
    require(hop is None or hop <= samples, f"`hop_seconds` must be at most the segment length ({seconds:g} s), "
                                           f"not {hop_seconds}")
    return SegmentParams(segment_samples=samples, max_seconds=max_seconds, hop_samples=None if hop == samples else hop)
