"""Audio I/O: decode any supported file (path or file object) to mono float32 at a target rate,
and cut it into fixed-length segments.

libsndfile decodes WAV, AIFF, AU, FLAC, Ogg (Vorbis, Opus) and MP3, and recognises a file by its content, not
its name, so a mislabelled file still decodes; we note the mismatch. MP4 audio (`.m4a`, `.mp4`: AAC or
ALAC, as iTunes and Apple Music libraries hold it) and raw AAC are decoded by FFmpeg, through PyAV,
whose wheels carry FFmpeg: no system ffmpeg is needed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from ..config import SegmentParams
from ..config.audio import WINDOW_EDGE_FRACTION, WINDOW_EDGE_SECONDS
from ..core.errors import AudioError, AudioErrorKind

# Decoded by FFmpeg (PyAV); the others by libsndfile.
FFMPEG_EXTENSIONS = (".m4a", ".mp4", ".aac")
AUDIO_EXTENSIONS = (".au", ".wav", ".aiff", ".aif", ".mp3", ".flac", ".ogg", ".opus", *FFMPEG_EXTENSIONS)
# libsndfile's format name for each extension, to notice a file whose content is not what its name says.
_FORMAT_OF_EXTENSION = {".au": "AU", ".wav": "WAV", ".mp3": "MP3", ".flac": "FLAC", ".ogg": "OGG", ".opus": "OGG",
                        ".aiff": "AIFF", ".aif": "AIFF"}
SILENCE_PEAK = 1e-4  # -80 dBFS: below this a whole clip carries no music
# A stream that decodes shorter than its header declares by more than this fraction is damaged or cut
# (less may be an estimate's error: an MP3 without a Xing header only estimates its length).
SHORT_DECODE_FRACTION = 0.01
# A window decoded alone (`AudioReader.windows_at`) is read with this much audio on each side, where the
# resampler's filter settles, and then equals the whole-song decode's window within SEEK_TOLERANCE.
SEEK_CONTEXT_SECONDS = 0.05
SEEK_TOLERANCE = 1e-4

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


# MPEG audio frame headers (ISO 11172-3 / 13818-3): Layer III bit rates in kbit/s and sample rates.
_MP3_KBPS = {1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
             2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by version bits


def _mp3_frame_length(head: bytes, pos: int) -> int | None:
    """Length of the Layer III frame whose header starts at `pos`, or None if none starts there."""
    if pos + 4 > len(head) or head[pos] != 0xFF or head[pos + 1] & 0xE0 != 0xE0:
        return None
    version, layer = (head[pos + 1] >> 3) & 3, (head[pos + 1] >> 1) & 3
    bitrate, rate = head[pos + 2] >> 4, (head[pos + 2] >> 2) & 3
    if version == 1 or layer != 1 or bitrate in (0, 15) or rate == 3:
        return None
    kbps = _MP3_KBPS[1 if version == 3 else 2][bitrate]
    return (144 if version == 3 else 72) * kbps * 1000 // _MPEG_RATES[version][rate] + ((head[pos + 2] >> 1) & 1)


def _looks_like_mp3(path: Path) -> bool:
    """An ID3v2 tag followed by, or a file starting with, two consecutive MP3 frames. libmpg123 prints
    raw lines to the terminal when it searches other content for frames, so such files never reach it."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    start = 0
    if head[:3] == b"ID3" and len(head) >= 10:
        start = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))  # syncsafe size
        if start >= len(head):
            return True  # a large tag (cover art): trust the name
    for pos in range(start, min(start + 4096, len(head))):
        length = _mp3_frame_length(head, pos)
        if length and (pos + length + 4 > len(head) or _mp3_frame_length(head, pos + length)):
            return True
    return False


def _check_file(source: AudioSource) -> None:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise AudioError(path, "file not found", AudioErrorKind.INACCESSIBLE)
        if path.is_dir():
            raise AudioError(path, "is a directory, not an audio file", AudioErrorKind.INACCESSIBLE)
        if not os.access(path, os.R_OK):
            raise AudioError(path, "cannot be read (permission denied)", AudioErrorKind.INACCESSIBLE)
        if path.stat().st_size == 0:
            raise AudioError(path, "empty file (0 bytes)", AudioErrorKind.EMPTY)
        if path.suffix.lower() == ".mp3" and not _looks_like_mp3(path):
            raise AudioError(path, "not an MP3 stream (no MPEG audio frames at its start)",
                             AudioErrorKind.NOT_AUDIO)


class FfmpegError(Exception):
    """A file FFmpeg cannot open or decode; the message is FFmpeg's cause."""


class _FfmpegFile:
    """The part of soundfile.SoundFile that AudioReader uses (format, samplerate, channels, frames, read),
    over FFmpeg's decoder of the file's first audio stream."""

    def __init__(self, source: AudioSource):
        import av

        try:
            self._container = av.open(source, "r")
        except (av.FFmpegError, ValueError) as e:
            raise FfmpegError(str(e)) from None
        if not self._container.streams.audio:
            self._container.close()
            raise FfmpegError("no audio stream")
        stream = self._container.streams.audio[0]
        self.format = stream.codec_context.name.upper()
        self.samplerate, self.channels = stream.codec_context.sample_rate, stream.codec_context.channels
        seconds = float(stream.duration * stream.time_base) if stream.duration else \
            (self._container.duration or 0) / av.time_base
        self.frames = int(np.ceil(seconds * self.samplerate))  # the header's length: decoding may stop short
        self._frames = (frame for packet in self._container.demux(stream) for frame in packet.decode())
        self._pending = np.zeros((0, self.channels), np.float32)

    def __enter__(self) -> _FfmpegFile:
        return self

    def __exit__(self, *exc) -> None:
        self._container.close()

    def read(self, frames: int, dtype: str = "float32", always_2d: bool = True) -> np.ndarray:
        """Up to `frames` frames (samples, channels) of float32; fewer only at the end of the stream."""
        import av

        try:
            while len(self._pending) < frames:
                frame = next(self._frames, None)
                if frame is None:
                    break
                samples = frame.to_ndarray().astype(np.float32, copy=False)
                # planar formats give (channels, samples); packed ones (1, samples * channels)
                block = samples.T if frame.format.is_planar else samples.reshape(-1, self.channels)
                self._pending = np.concatenate([self._pending, _as_float(block, frame.format.name)])
        except av.FFmpegError as e:
            raise FfmpegError(str(e)) from None
        block, self._pending = self._pending[:frames], self._pending[frames:]
        return block


def _as_float(block: np.ndarray, sample_format: str) -> np.ndarray:
    """FFmpeg's samples as float in [-1, 1]: float formats as they are, integer ones scaled (ALAC: s16p, s32p)."""
    if sample_format.startswith(("flt", "dbl")):
        return block.astype(np.float32, copy=False)
    bits = {"s16": 16, "s32": 32, "s64": 64, "u8": 8}[sample_format.rstrip("p")]
    scale = float(2 ** (bits - 1))
    return ((block.astype(np.float64) - (scale if sample_format.startswith("u") else 0)) / scale).astype(np.float32)


def _open_decoder(source: AudioSource):
    """The decoder for this file: FFmpeg's for MP4 audio and AAC, by its name; libsndfile's for the rest."""
    if Path(_name(source)).suffix.lower() in FFMPEG_EXTENSIONS:
        return _FfmpegFile(source)
    return sf.SoundFile(source)


class AudioReader:
    """An open audio source, decoded in blocks of mono float32 at a target rate, so that memory stays
    bounded whatever the file's length. Blocks are resampled by a streaming resampler: the
    concatenated blocks equal a one-shot resampling of the whole signal."""

    def __init__(self, source: AudioSource, limit_seconds: float | None = None):
        """`limit_seconds`: the most audio this reader will decode (a server's cap per request): a longer
        source is refused from its header, and decoding stops with an error past it (a header can lie).
        Unlike `blocks`' `max_seconds`, which trims, it refuses."""
        _check_file(source)
        self.source, self.name, self.notes, self.limit_seconds = source, _name(source), [], limit_seconds
        if hasattr(source, "seek"):
            source.seek(0)
        try:
            with _open_decoder(source) as f:
                self.format, self.source_rate, self.channels, self.frames = f.format, f.samplerate, f.channels, f.frames
        except (sf.LibsndfileError, FfmpegError) as e:
            cause = str(getattr(e, "error_string", e)).rstrip(".")
            if "does not exist" in cause:  # libsndfile's words for content no decoder accepted
                cause = "format not recognised"
            raise AudioError(self.name, f"not a readable audio file ({cause})", AudioErrorKind.NOT_AUDIO) from None
        if isinstance(source, (str, os.PathLike)):
            self._check_name_and_header(Path(source))
        if limit_seconds is not None and self.frames > limit_seconds * self.source_rate:
            raise AudioError(self.name, self._too_long(f"its header says {self.frames / self.source_rate:,.0f} s"),
                             AudioErrorKind.TOO_LONG)

    def _too_long(self, what: str) -> str:
        return f"longer than the limit of {self.limit_seconds:g} s of audio ({what})"

    def _check_name_and_header(self, path: Path) -> None:
        expected = _FORMAT_OF_EXTENSION.get(path.suffix.lower())
        if expected and self.format != expected and not (expected == "WAV" and self.format in ("WAVEX", "RF64")):
            self.notes.append(f"content is {self.format} but the extension is {path.suffix.lower()}; "
                              f"decoded as {self.format}")
        declared = _declared_wav_frames(path) if self.format == "WAV" else None
        if declared is not None and declared > self.frames:
            self.notes.append(f"truncated: header declares {declared / self.source_rate:.1f} s, "
                              f"file holds {self.frames / self.source_rate:.1f} s; using what is there")

    def blocks(self, sample_rate: int, max_seconds: float | None = None,
               block_seconds: float = 10.0) -> Iterator[np.ndarray]:
        if hasattr(self.source, "seek"):
            self.source.seek(0)
        frames = -1 if max_seconds is None else int(np.ceil(max_seconds * self.source_rate))
        resampler = None if self.source_rate == sample_rate else soxr.ResampleStream(
            self.source_rate, sample_rate, 1, dtype="float32", quality="HQ")  # = librosa's soxr_hq
        cap, decoded = None if self.limit_seconds is None else self.limit_seconds * self.source_rate, 0
        try:
            with _open_decoder(self.source) as f:
                wanted = f.frames if frames < 0 else min(frames, f.frames)
                # Not SoundFile.blocks: where the decoder stops short, it hands on a whole block anyway,
                # the rest of it uninitialized memory.
                while decoded < wanted:
                    block = f.read(min(int(block_seconds * self.source_rate), wanted - decoded), dtype="float32",
                                   always_2d=True)
                    if not len(block):
                        self._decoded_short(wanted, decoded)
                        break
                    decoded += len(block)
                    if cap is not None and decoded > cap:
                        raise AudioError(self.name, self._too_long("found while decoding"), AudioErrorKind.TOO_LONG)
                    if not np.isfinite(block).all():
                        raise AudioError(self.name, "contains NaN or infinite samples", AudioErrorKind.DAMAGED)
                    mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
                    yield resampler.resample_chunk(mono, last=False) if resampler else mono
        except (sf.LibsndfileError, FfmpegError, RuntimeError, ValueError, EOFError) as e:  # damaged compressed streams
            cause = str(getattr(e, "error_string", e)).rstrip(".")
            raise AudioError(self.name, f"cannot be decoded (a damaged {self.format} stream: {cause})",
                             AudioErrorKind.DAMAGED) from None
        if resampler:
            yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)

    def windows_at(self, starts: np.ndarray, params: SegmentParams) -> np.ndarray | None:
        """The windows of params.segment_samples starting at `starts` (samples at params.sample_rate), each
        decoded alone by seeking to it, with enough audio around it that the resampler's edges fall outside:
        equal to the same windows of a whole-song decode within SEEK_TOLERANCE. Mono, no gain applied. None
        where the source cannot seek (FFmpeg's formats, a file object) or a window would reach past its end."""
        if not isinstance(self.source, (str, os.PathLike)) or Path(self.source).suffix.lower() in FFMPEG_EXTENSIONS:
            return None
        rate, length = params.sample_rate, params.segment_samples
        # Reads start on a source sample that falls on an output sample, so every window is cut on the grid.
        unit = self.source_rate // math.gcd(self.source_rate, rate)
        context = unit * math.ceil(SEEK_CONTEXT_SECONDS * self.source_rate / unit)
        needed = int(math.ceil(length * self.source_rate / rate))
        windows = np.zeros((len(starts), length), np.float32)
        try:
            with sf.SoundFile(self.source) as f:
                for k, start in enumerate(starts):
                    first = int(round(start * self.source_rate / rate))
                    begin = max(0, first - context)
                    if first + needed > self.frames:
                        return None
                    f.seek(begin)
                    block = f.read(first - begin + needed + context, dtype="float32", always_2d=True)
                    if len(block) < first - begin + needed:
                        return None  # the header promised more than decodes
                    mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
                    resampled = mono if self.source_rate == rate else soxr.resample(mono, self.source_rate, rate,
                                                                                    quality="HQ")
                    offset = int(round((first - begin) * rate / self.source_rate))
                    if len(resampled) < offset + length:
                        return None
                    windows[k] = resampled[offset:offset + length]
        except (sf.LibsndfileError, RuntimeError, ValueError, EOFError) as e:  # damaged compressed streams
            cause = str(getattr(e, "error_string", e)).rstrip(".")
            raise AudioError(self.name, f"cannot be decoded (a damaged {self.format} stream: {cause})",
                             AudioErrorKind.DAMAGED) from None
        if not np.isfinite(windows).all():
            raise AudioError(self.name, "contains NaN or infinite samples", AudioErrorKind.DAMAGED)
        return windows

    def _decoded_short(self, wanted: int, decoded: int) -> None:
        """The decoder stopped before the length the header declares (a damaged or cut compressed stream;
        libmpg123's own lines say why, on stderr, where the CLI drops them): noted once per reader."""
        note = (f"damaged or cut: header declares {self.frames / self.source_rate:.1f} s, "
                f"{decoded / self.source_rate:.1f} s decodes; using what is there")
        if wanted - decoded > SHORT_DECODE_FRACTION * wanted and note not in self.notes:  # peak, then windows
            self.notes.append(note)

    def peak(self, sample_rate: int, max_seconds: float | None = None) -> float:
        """The largest absolute sample; a source that decodes to nothing (a header-only WAV, a cut stream)
        says so, rather than passing for silence."""
        peak, decoded = 0.0, 0
        for block in self.blocks(sample_rate, max_seconds):  # streamed: a long song is never held whole
            if len(block):
                peak, decoded = max(peak, float(np.abs(block).max())), decoded + len(block)
        if not decoded:
            raise AudioError(self.name, "contains no audio samples", AudioErrorKind.NO_SAMPLES)
        return peak


def decoded_digest(path: str | Path, block_frames: int = 1 << 18) -> str:
    """The SHA-256 of every sample the file decodes to, at its own rate, in every channel: two files
    with equal digests hold the same audio, whatever their tags. Raises AudioError."""
    digest = hashlib.sha256()
    try:
        with _open_decoder(path) as f:
            while len(block := f.read(block_frames, dtype="float32", always_2d=True)):
                digest.update(np.ascontiguousarray(block).tobytes())
    except (sf.LibsndfileError, FfmpegError, RuntimeError, ValueError, EOFError) as e:
        cause = str(getattr(e, "error_string", e)).rstrip(".")
        raise AudioError(path, f"cannot be decoded ({cause})", AudioErrorKind.DAMAGED) from None
    return digest.hexdigest()


def peak_of(blocks) -> float:
    """The largest absolute sample of a signal given in blocks (0 for none)."""
    return max((float(np.abs(b).max()) for b in blocks if len(b)), default=0.0)


def check_level(name: str, peak: float, notes: list[str]) -> float:
    """The gain to apply to a clip of this peak; raises AudioError for a silent clip."""
    if peak < SILENCE_PEAK:
        raise AudioError(name, "silent (peak below -80 dBFS)", AudioErrorKind.SILENT)
    if peak > 1.0:
        # Real files (lossy re-encodes) overshoot full scale; clipping would add distortion,
        # so the clip is scaled down as a whole, keeping its waveform.
        notes.append(f"peak {peak:.3f} exceeds full scale; clip scaled by {1 / peak:.3f}")
        return 1.0 / peak
    return 1.0


def load_audio(source: AudioSource, sample_rate: int = 16000, max_seconds: float | None = None) -> Audio:
    """Decode `source` to mono float32 at `sample_rate`, reading at most `max_seconds`.

    Channels are averaged and the audio resampled (soxr, high quality); a clip peaking above full scale is
    scaled down as a whole. What did not stop decoding (a truncated file, a content that is not what its
    extension says) is noted in the result's `notes`.

    Args:
        source: a path, or a binary file object (read from its start) of a supported format.
        sample_rate: the rate to decode to, in Hz.
        max_seconds: the most audio read, from the start, in seconds; None: all of it.

    Returns:
        An `Audio`: `samples` (a (samples,) float32 array in [-1, 1]), `sample_rate`, the source's rate and
            channels, and `notes`.

    Raises:
        AudioError: anything that yields no usable music (one line: file and cause): a missing, empty or
            unreadable file, a damaged stream, no samples, NaN or infinite samples, silence.
    """
    reader = AudioReader(source)
    blocks = list(reader.blocks(sample_rate, max_seconds))
    samples = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise AudioError(reader.name, "contains no audio samples", AudioErrorKind.NO_SAMPLES)
    samples *= check_level(reader.name, float(np.abs(samples).max()), reader.notes)
    return Audio(samples, sample_rate, reader.source_rate, reader.channels, reader.notes)


def iter_windows(blocks, params: SegmentParams, hop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(start sample, window) for consecutive windows of params.segment_samples over a stream of
    blocks, every `hop` samples (default: no overlap). The tail follows the segment rule: padded if
    it holds at least `min_remainder` of a window, or if it is all there is."""
    length = params.segment_samples
    hop = hop or length
    buffer, start, emitted = np.zeros(0, np.float32), 0, 0
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while len(buffer) >= length:
            yield start, buffer[:length]
            buffer, start, emitted = buffer[hop:], start + hop, emitted + 1
    tail = len(buffer) - (length - hop)  # samples no window has covered yet
    if len(buffer) and (emitted == 0 or tail >= params.min_remainder * length):
        yield start, np.pad(buffer, (0, length - len(buffer)))


def window_starts(samples: int, params: SegmentParams, hop: int | None = None) -> np.ndarray:
    """The start of each window iter_windows cuts from a song of `samples` samples (the tail's included)."""
    length = params.segment_samples
    hop = hop or length
    full = 0 if samples < length else (samples - length) // hop + 1
    rest = samples - full * hop  # samples after the last whole window's start
    tail = rest > 0 and (full == 0 or rest - (length - hop) >= params.min_remainder * length)
    return np.arange(full + tail) * hop


def window_view(samples: np.ndarray, params: SegmentParams, hop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(start samples, windows) of a whole song: iter_windows' windows, as a read-only view of the song
    (padded once for the tail), so that overlapping windows take no more memory than the song."""
    length = params.segment_samples
    starts = window_starts(len(samples), params, hop)
    padded = np.concatenate([samples, np.zeros(length, samples.dtype)]) if len(starts) and \
        starts[-1] + length > len(samples) else samples
    windows = np.lib.stride_tricks.sliding_window_view(padded, length)[::hop or length][:len(starts)]
    return starts, windows


def spread_windows(starts: np.ndarray, samples: int, params: SegmentParams, max_windows: int) -> np.ndarray:
    """Which of a song's windows (`starts`, of a song of `samples` samples) to label it from: at most
    `max_windows`, spread evenly over the song, skipping its first and last WINDOW_EDGE_FRACTION (at most
    WINDOW_EDGE_SECONDS) where intros and fades sit; every window where it has no more (or max_windows is 0)."""
    if not max_windows or len(starts) <= max_windows:
        return np.arange(len(starts))
    edge = min(WINDOW_EDGE_FRACTION * samples, WINDOW_EDGE_SECONDS * params.sample_rate)
    inner = np.flatnonzero((starts >= edge) & (starts + params.segment_samples <= samples - edge))
    if len(inner) < max_windows:  # a short song: its edges too
        inner = np.arange(len(starts))
    return inner[np.round(np.linspace(0, len(inner) - 1, max_windows)).astype(int)]


def split_segments(samples: np.ndarray, params: SegmentParams) -> np.ndarray:
    """(num_samples,) -> (n, segment_samples): windows every `params.hop` samples, trimmed to max_seconds,
    the last zero-padded if it holds at least `min_remainder` of a segment (always, for a short clip)."""
    trimmed = samples[: int(round(params.max_seconds * params.sample_rate))]
    return np.stack([w for _, w in iter_windows([trimmed], params, params.hop)]).astype(np.float32)
