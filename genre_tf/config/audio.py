"""How a clip becomes fixed-length segments."""
from __future__ import annotations

import dataclasses
import math

from ..core.errors import require


@dataclasses.dataclass(frozen=True)
class SegmentParams:
    """How a clip becomes fixed-length segments.

    `segment_params` makes one from seconds, with the checks a length and a hop need.

    Attributes:
        sample_rate: Hz the audio is resampled to before it is cut (16 kHz, what YAMNet and musicnn take).
        segment_samples: samples in one segment (48,000: 3 s at 16 kHz).
        max_seconds: the most of a clip that is read, from its start; the rest is not used.
        min_remainder: a trailing remainder at least this fraction of a segment is zero-padded into one more
            (a clip shorter than one segment always gives one).
        hop_samples: samples between the starts of a clip's segments (`extract --hop`); None: one segment
            length, no overlap.

    Raises:
        GenreTfError: `max_seconds` is not a positive number, or `hop_samples` is not between 1 and
            `segment_samples`.
    """

    sample_rate: int = 16000
    segment_samples: int = 48000  # 3 s at 16 kHz
    max_seconds: float = 30.0
    # A trailing remainder at least this fraction of a segment is zero-padded into one more.
    min_remainder: float = 0.5
    # Samples between the starts of a clip's segments (`extract --hop`); None: one segment length, no overlap.
    hop_samples: int | None = None

    def __post_init__(self):
        require(math.isfinite(self.max_seconds) and self.max_seconds > 0,
                f"`max_seconds` must be a positive number of seconds, not {self.max_seconds}")
        require(self.hop_samples is None or 0 < self.hop_samples <= self.segment_samples,
                f"`hop_samples` must be between 1 and the segment length ({self.segment_samples}), "
                f"not {self.hop_samples}")

    @property
    def segment_seconds(self) -> float:
        """A segment's length in seconds."""
        return self.segment_samples / self.sample_rate

    @property
    def hop(self) -> int:
        """Samples between segment starts."""
        return self.hop_samples or self.segment_samples

    @property
    def hop_seconds(self) -> float:
        """Seconds between segment starts."""
        return self.hop / self.sample_rate


# The usual segment length (GTZAN's 30 s clips cut in ten); names and labels only mention others.
DEFAULT_SEGMENT_SECONDS = SegmentParams().segment_seconds
# YAMNet frames 0.96 s of audio: shorter segments have no embedding.
MIN_SEGMENT_SECONDS = 1.0
# Longer segments are not what any model here was made for, and cost memory in every batch.
MAX_SEGMENT_SECONDS = 60.0
# Segments `extract --hop` may cut from one clip (of `max_seconds`): a clip's segments are held in memory
# together, a few clips ahead (1,000 of 3 s: 192 MB; a one-sample hop on a 30 s clip would take 77 GiB),
# and each is featurized and stored, while closer overlap adds near-copies, not music to learn from.
MAX_SEGMENTS_PER_CLIP = 1000
# Windows per second of audio `predict --hop` may ask for (a hop of 0.1 s at least). Songs have any
# length, so the cap is a rate: each window costs a whole window's features (30 times the work of no
# overlap for 3 s windows) and a row of --windows, and genres do not change within a tenth of a second.
MAX_WINDOWS_PER_SECOND = 10
# `predict` and `tag` label a song from at most this many windows, spread evenly over it (0: every window);
# chosen on real music by scripts/bench_library.py (docs/library.md, "Labelling a library fast").
DEFAULT_MAX_WINDOWS = 8
# Those windows skip a song's start and end, where intros and fades sit: this share of its length at each
# end, at most WINDOW_EDGE_SECONDS.
WINDOW_EDGE_FRACTION = 0.1
WINDOW_EDGE_SECONDS = 10.0


def segment_label(seconds: float) -> str:
    """'6s' for a segment length other than the usual; '' for the usual one."""
    return "" if seconds == DEFAULT_SEGMENT_SECONDS else f"{seconds:g}s"


def _whole_samples(seconds: float, argument: str, minimum: float) -> int:
    samples = seconds * SegmentParams.sample_rate
    require(minimum <= seconds <= MAX_SEGMENT_SECONDS and abs(samples - round(samples)) <= 1e-6,
            f"`{argument}` must be between {minimum:g} and {MAX_SEGMENT_SECONDS:g} s and a whole number of samples "
            f"at {SegmentParams.sample_rate} Hz, not {seconds}")
    return int(round(samples))


def segment_params(seconds: float = DEFAULT_SEGMENT_SECONDS, max_seconds: float = SegmentParams.max_seconds,
                   hop_seconds: float | None = None) -> SegmentParams:
    """Segments of `seconds` (3 s by default; the third reference project used 6 s, five per 30 s clip), one every
    `hop_seconds` (default: `seconds`, no overlap; less cuts overlapping segments from the same clips).

    Args:
        seconds: the segment length in seconds, between 1 and 60 and a whole number of samples at 16 kHz.
        max_seconds: the most of each clip that is read, in seconds.
        hop_seconds: seconds between segment starts, at most `seconds`; None: `seconds`.

    Returns:
        The segment parameters at 16 kHz.

    Raises:
        GenreTfError: a length or hop out of range or not a whole number of samples, or a hop that would cut
            more than 1,000 segments from a clip of `max_seconds`.
    """
    samples = _whole_samples(seconds, "segment_seconds", MIN_SEGMENT_SECONDS)
    hop = None if hop_seconds is None else _whole_samples(hop_seconds, "hop_seconds", 1 / SegmentParams.sample_rate)
    require(hop is None or hop <= samples, f"`hop_seconds` must be at most the segment length ({seconds:g} s), "
                                           f"not {hop_seconds}")
    params = SegmentParams(segment_samples=samples, max_seconds=max_seconds,
                           hop_samples=None if hop == samples else hop)
    if params.hop_samples is not None:  # refused before any clip is decoded: the segments that cover a whole clip
        clip = math.ceil(params.max_seconds * params.sample_rate)
        segments = 1 + math.ceil(max(0, clip - samples) / params.hop)
        require(segments <= MAX_SEGMENTS_PER_CLIP,
                f"`hop_seconds` {hop_seconds} cuts up to {segments:,} segments of {seconds:g} s from a clip of "
                f"`max_seconds` {max_seconds:g}, over the cap of {MAX_SEGMENTS_PER_CLIP:,} segments per clip: "
                "give a longer hop or a shorter `max_seconds`")
    return params
