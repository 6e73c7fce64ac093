"""Audio I/O: decode any supported file (path or file object) to mono float32 at a target rate,
and cut it into fixed-length segments.

libsndfile decodes every format we accept (WAV, AU, FLAC, OGG, MP3) and recognises a file by its
content, not its name, so a mislabelled file still decodes; we note the mismatch.
"""
from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from .errors import AudioError
from .params import SegmentParams

AUDIO_EXTENSIONS = (".au", ".wav", ".mp3", ".flac", ".ogg")
# libsndfile's format name for each extension, to notice a file whose content is not what its name says.
_FORMAT_OF_EXTENSION = {".au": "AU", ".wav": "WAV", ".mp3": "MP3", ".flac": "FLAC", ".ogg": "OGG"}
SILENCE_PEAK = 1e-4  # -80 dBFS: below this a whole clip carries no music

AudioSource = str | os.PathLike | BinaryIO


@dataclasses.dataclass
class Audio:
    samples: np.ndarray  # float32, mono, at sample_rate
    sample_rate: int
    source_rate: int
    source_channels: int
    notes: list[str]  # things the user should know that did not stop decoding


def _name(source: AudioSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", "<file object>"))


def _declared_wav_frames(path: Path) -> int | None:
    """Frames the RIFF header declares (None if not a plain RIFF WAV), to detect truncation."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, block_align = 12, None
    while pos + 8 <= len(head):
        chunk, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if chunk == b"fmt " and pos + 22 <= len(head):
            block_align = struct.unpack("<H", head[pos + 20:pos + 22])[0]
        elif chunk == b"data":
            return size // block_align if block_align else None
        pos += 8 + size + (size & 1)
    return None


def _check_file(source: AudioSource) -> None:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise AudioError(path, "file not found")
        if path.is_dir():
            raise AudioError(path, "is a directory, not an audio file")
        if not os.access(path, os.R_OK):
            raise AudioError(path, "cannot be read (permission denied)")
        if path.stat().st_size == 0:
            raise AudioError(path, "empty file (0 bytes)")


def load_audio(source: AudioSource, sample_rate: int = 16000, max_seconds: float | None = None) -> Audio:
    """Decode `source` to mono float32 at `sample_rate`, reading at most `max_seconds`.

    Raises AudioError (one line: file and cause) for anything that yields no usable music.
    """
    _check_file(source)
    name = _name(source)
    notes: list[str] = []
    try:
        with sf.SoundFile(source) as f:
            info_format, source_rate, channels = f.format, f.samplerate, f.channels
            frames = -1 if max_seconds is None else int(np.ceil(max_seconds * source_rate))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
            total_frames = f.frames
    except sf.LibsndfileError as e:
        cause = str(e.error_string) if hasattr(e, "error_string") else str(e)
        raise AudioError(name, f"not a readable audio file ({cause.rstrip('.')})") from None
    except (RuntimeError, ValueError, EOFError) as e:  # decoders of damaged compressed streams
        raise AudioError(name, f"cannot be decoded ({e})") from None

    if isinstance(source, (str, os.PathLike)):
        ext = Path(source).suffix.lower()
        expected = _FORMAT_OF_EXTENSION.get(ext)
        if expected and info_format != expected and not (expected == "WAV" and info_format in ("WAVEX", "RF64")):
            notes.append(f"content is {info_format} but the extension is {ext}; decoded as {info_format}")
        declared = _declared_wav_frames(Path(source)) if info_format == "WAV" else None
        if declared is not None and declared > total_frames:
            notes.append(f"truncated: header declares {declared / source_rate:.1f} s, "
                         f"file holds {total_frames / source_rate:.1f} s; using what is there")
    if data.size == 0:
        raise AudioError(name, "contains no audio samples")
    if not np.isfinite(data).all():
        raise AudioError(name, "contains NaN or infinite samples")

    samples = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if source_rate != sample_rate:
        import librosa  # imported here: librosa's import costs a second and most callers resample

        samples = librosa.resample(samples, orig_sr=source_rate, target_sr=sample_rate, res_type="soxr_hq")
    samples = np.ascontiguousarray(samples, dtype=np.float32)

    peak = float(np.abs(samples).max())
    if peak < SILENCE_PEAK:
        raise AudioError(name, "silent (peak below -80 dBFS)")
    if peak > 1.0:
        # Real files (lossy re-encodes) overshoot full scale; clipping would add distortion,
        # so the clip is scaled down as a whole, keeping its waveform.
        samples /= peak
        notes.append(f"peak {peak:.3f} exceeds full scale; clip scaled by {1 / peak:.3f}")
    return Audio(samples, sample_rate, source_rate, channels, notes)


def count_segments(num_samples: int, params: SegmentParams) -> int:
    """Segments a clip of `num_samples` (at params.sample_rate) yields under the segment rule."""
    num_samples = min(num_samples, int(round(params.max_seconds * params.sample_rate)))
    full, remainder = divmod(num_samples, params.segment_samples)
    if full == 0 or remainder >= params.min_remainder * params.segment_samples:
        return full + 1
    return full


def split_segments(samples: np.ndarray, params: SegmentParams) -> np.ndarray:
    """(num_samples,) -> (n, segment_samples): consecutive windows, trimmed to max_seconds, the
    last zero-padded if it holds at least `min_remainder` of a segment (always, for a short clip)."""
    n = count_segments(len(samples), params)
    out = np.zeros((n, params.segment_samples), dtype=np.float32)
    usable = samples[: n * params.segment_samples]
    out.reshape(-1)[: len(usable)] = usable
    return out
