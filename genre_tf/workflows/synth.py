"""A synthetic labelled dataset of procedurally generated music, deterministic per seed.

Genres differ the way real ones do (tempo, rhythm pattern, timbre, harmony, distortion), but every
clip draws its tempo, key, mix, brightness, noise and pattern mutations at random within ranges
that overlap between genres, so a classifier has to learn, not read off one number.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

from ..config import SynthParams
from ..core.errors import GenreTfError
from ..core.files import atomic_path

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10), "phrygian": (0, 1, 3, 5, 7, 8, 10),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class GenreStyle:
    """A synthetic genre: the ranges and patterns its clips are drawn from. Keyword fields only, so that each
    row of STYLES says what it sets."""

    name: str
    tempo: tuple[float, float]  # bpm range
    scale: str
    progression: tuple[int, ...]  # scale degrees, one chord per bar
    swing: float  # delay of off-beat 16ths, fraction of a step
    kick: str  # 16 steps per bar, 'x' = hit
    snare: str
    hat: str
    chord_notes: int  # 2 = power chord, 3 = triad, 4 = seventh
    chord_rhythm: str  # 16 steps: when the chord sounds
    chord_length: float  # in steps
    bass_rhythm: str
    brightness: float  # harmonic roll-off exponent: low = bright
    odd_harmonics: bool  # square-like timbre
    decay: float  # note decay time constant in seconds
    distortion: float  # tanh drive; 0 = clean
    arpeggio: bool  # a lead arpeggiates the chord in 16ths


# The table of genres, one row each (mirrors how YAMNet writes its network as a table).
STYLES = (
    GenreStyle(name="ambient", tempo=(60, 85), scale="major", progression=(1, 6, 4, 5), swing=0.0,
               kick="x...............", snare="................", hat="................",
               chord_notes=4, chord_rhythm="x...............", chord_length=16, bass_rhythm="x.......x.......",
               brightness=2.5, odd_harmonics=False, decay=1.5, distortion=0.0, arpeggio=False),
    GenreStyle(name="techno", tempo=(118, 135), scale="minor", progression=(1, 1, 6, 7), swing=0.0,
               kick="x...x...x...x...", snare="....x.......x...", hat="..x...x...x...x.",
               chord_notes=2, chord_rhythm="..x...x...x...x.", chord_length=1, bass_rhythm="x.xxx.xxx.xxx.xx",
               brightness=1.0, odd_harmonics=False, decay=0.15, distortion=1.5, arpeggio=False),
    GenreStyle(name="rock", tempo=(100, 140), scale="mixolydian", progression=(1, 4, 5, 4), swing=0.0,
               kick="x.......x.x.....", snare="....x.......x...", hat="x.x.x.x.x.x.x.x.",
               chord_notes=2, chord_rhythm="x.x.x.x.x.x.x.x.", chord_length=2, bass_rhythm="x.x.x.x.x.x.x.x.",
               brightness=1.2, odd_harmonics=False, decay=0.5, distortion=3.0, arpeggio=False),
    GenreStyle(name="metal", tempo=(140, 190), scale="phrygian", progression=(1, 2, 1, 7), swing=0.0,
               kick="xxxxxxxxxxxxxxxx", snare="....x.......x...", hat="x...x...x...x...",
               chord_notes=2, chord_rhythm="xxxxxxxxxxxxxxxx", chord_length=1, bass_rhythm="xxxxxxxxxxxxxxxx",
               brightness=1.0, odd_harmonics=False, decay=0.3, distortion=8.0, arpeggio=False),
    GenreStyle(name="swing", tempo=(110, 180), scale="dorian", progression=(2, 5, 1, 6), swing=0.33,
               kick="x.......x.......", snare="......x.......x.", hat="x...x.xxx...x.xx",
               chord_notes=4, chord_rhythm="x.....x...x.....", chord_length=3, bass_rhythm="x...x...x...x...",
               brightness=2.2, odd_harmonics=False, decay=0.6, distortion=0.0, arpeggio=False),
    GenreStyle(name="ballad", tempo=(60, 82), scale="major", progression=(1, 5, 6, 4), swing=0.0,
               kick="x.........x.....", snare="....x.......x...", hat="x...x...x...x...",
               chord_notes=3, chord_rhythm="x.......x.......", chord_length=8, bass_rhythm="x.......x.......",
               brightness=1.8, odd_harmonics=False, decay=0.9, distortion=0.0, arpeggio=True),
    GenreStyle(name="reggae", tempo=(70, 95), scale="minor", progression=(1, 4, 1, 5), swing=0.1,
               kick="........x.......", snare="........x.......", hat="x.x.x.x.x.x.x.x.",
               chord_notes=3, chord_rhythm="..x...x...x...x.", chord_length=1, bass_rhythm="x..x..x.x...x...",
               brightness=2.0, odd_harmonics=False, decay=0.3, distortion=0.3, arpeggio=False),
    GenreStyle(name="chiptune", tempo=(120, 165), scale="major", progression=(1, 6, 4, 5), swing=0.0,
               kick="x...x.....x.x...", snare="....x.......x...", hat="xxxxxxxxxxxxxxxx",
               chord_notes=3, chord_rhythm="x...............", chord_length=4, bass_rhythm="x.x.x.x.x.x.x.x.",
               brightness=0.8, odd_harmonics=True, decay=0.2, distortion=0.0, arpeggio=True),
    GenreStyle(name="folk", tempo=(85, 120), scale="major", progression=(1, 4, 1, 5), swing=0.05,
               kick="x.......x.......", snare="................", hat="....x.......x...",
               chord_notes=3, chord_rhythm="x.x.x.x.x.x.x.x.", chord_length=2, bass_rhythm="x.......x.......",
               brightness=1.4, odd_harmonics=False, decay=0.4, distortion=0.0, arpeggio=True),
    GenreStyle(name="funk", tempo=(92, 115), scale="mixolydian", progression=(1, 1, 4, 1), swing=0.12,
               kick="x..x..x...x..x..", snare="....x..x....x...", hat="xxxxxxxxxxxxxxxx",
               chord_notes=4, chord_rhythm=".x..x.x..x..x.x.", chord_length=1, bass_rhythm="x..xx.x.x..x.xx.",
               brightness=1.1, odd_harmonics=False, decay=0.25, distortion=0.8, arpeggio=False),
)


def _tone(freqs, seconds, rate, brightness, odd, decay, rng, harmonics=10):
    """Additive synthesis: a chord of `freqs`, harmonics rolling off as k^-brightness."""
    t = np.arange(int(seconds * rate)) / rate
    out = np.zeros_like(t)
    for f in freqs:
        for k in range(1, harmonics + 1, 2 if odd else 1):
            if k * f >= rate / 2:
                break
            out += np.sin(2 * np.pi * k * f * t + rng.uniform(0, 2 * np.pi)) * k ** -brightness
    attack = np.minimum(1.0, t / 0.005)
    return out * attack * np.exp(-t / decay) / max(1, len(freqs))


def _drum(kind, rate, rng):
    t = np.arange(int(0.25 * rate)) / rate
    if kind == "kick":
        return np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / rate) * np.exp(-t / 0.12)
    noise = rng.standard_normal(len(t))
    if kind == "snare":
        return (0.7 * noise + np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.07) * 0.6
    return np.diff(noise, prepend=0) * np.exp(-t / 0.02) * 0.25  # hat: high-passed noise


def _mutate(pattern: str, rng, p: float) -> str:
    return "".join(("." if c == "x" else "x") if rng.random() < p else c for c in pattern)


def render_clip(style: GenreStyle, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    bpm = rng.uniform(*style.tempo)
    step = 60 / bpm / 4
    steps = int(seconds / step) + 1
    out = np.zeros(int(seconds * rate) + rate)
    scale = SCALES[style.scale]
    root = 40 + rng.integers(0, 12)  # MIDI note of the key's bass root
    brightness = style.brightness * rng.uniform(0.7, 1.3)
    decay = style.decay * rng.uniform(0.7, 1.4)
    gains = {part: rng.uniform(0.5, 1.0) for part in ("kick", "snare", "hat", "chord", "bass", "lead")}
    patterns = {name: _mutate(getattr(style, name), rng, 0.06) for name in
                ("kick", "snare", "hat", "chord_rhythm", "bass_rhythm")}
    drums = {kind: _drum(kind, rate, rng) for kind in ("kick", "snare", "hat")}

    def add(signal, at_step, gain):
        swing = style.swing * step if at_step % 2 else 0.0
        start = int((at_step * step + swing + rng.normal(0, 0.004)) * rate)
        start = max(0, start)
        end = min(len(out), start + len(signal))
        out[start:end] += gain * signal[: end - start]

    def pitch(degree, octave=0):
        d = degree - 1
        return 440 * 2 ** ((root + 12 * (octave + d // 7) + scale[d % 7] - 69) / 12)

    for s in range(steps):
        bar, pos = divmod(s, 16)
        degree = style.progression[bar % len(style.progression)]
        for kind in ("kick", "snare", "hat"):
            if patterns[kind][pos] == "x":
                add(drums[kind], s, gains[kind] * rng.uniform(0.7, 1.0))
        if patterns["chord_rhythm"][pos] == "x":
            chord = [pitch(degree + 2 * i, 1) for i in range(style.chord_notes)] if style.chord_notes != 2 \
                else [pitch(degree, 1), pitch(degree + 4, 1)]
            add(_tone(chord, style.chord_length * step + decay, rate, brightness, style.odd_harmonics, decay, rng),
                s, gains["chord"])
        if patterns["bass_rhythm"][pos] == "x":
            add(_tone([pitch(degree)], 2 * step + 0.1, rate, brightness + 0.5, style.odd_harmonics, decay, rng, 6),
                s, gains["bass"])
        if style.arpeggio:
            add(_tone([pitch(degree + 2 * (pos % 4), 2)], step * 1.5, rate, brightness, style.odd_harmonics,
                      min(decay, 0.3), rng, 6), s, gains["lead"] * 0.5)

    out = out[: int(seconds * rate)]
    if style.distortion > 0:
        drive = style.distortion * rng.uniform(0.6, 1.4)
        out = np.tanh(drive * out / (np.abs(out).max() + 1e-9)) / np.tanh(drive)
    cutoff = rng.uniform(2500, 7500)  # a recording's bandwidth: one-pole low-pass
    a = np.exp(-2 * np.pi * cutoff / rate)
    out = lfilter([1 - a], [1, -a], out)
    out /= np.abs(out).max() + 1e-9
    snr_db = rng.uniform(12, 40)
    out += rng.standard_normal(len(out)) * 10 ** (-snr_db / 20) * np.sqrt(np.mean(out ** 2))
    return (out / (np.abs(out).max() + 1e-9) * rng.uniform(0.3, 0.95)).astype(np.float32)


def synthesize(out_dir: str | Path, genres: int = SynthParams.genres, clips: int = SynthParams.clips,
               seconds: float = SynthParams.seconds, seed: int = SynthParams.seed,
               sample_rate: int = SynthParams.sample_rate, on_clip=None) -> list[Path]:
    """Write `genres` x `clips` WAV files (16-bit PCM) under out_dir/<genre>/<genre>.<nnnnn>.wav.
    Existing files are kept, so an interrupted run resumes; every file is written atomically.

    Each clip is rendered from a genre style (tempo, drum patterns, harmony, timbre) with its own random
    stream, so a clip is the same whatever else is made. The data for tests and demos, not real music.

    Args:
        out_dir: the data folder to write into, as `<genre>/<clip>` folders.
        genres: how many of the 10 synthetic styles (ambient, techno, rock, ...), in their order.
        clips: clips per genre.
        seconds: each clip's length, from 1 to 3600.
        seed: the random seed; between 0 and 2**32 - 1.
        sample_rate: the files' rate, in Hz.
        on_clip (Callable[[Path], None] | None): called with each clip's path as it is written or found; None:
            nothing is called.

    Returns:
        Every clip's path, written now or kept, genre by genre.

    Raises:
        GenreTfError: `genres`, `clips`, `seconds` or `seed` out of range.
    """
    if not 1 <= genres <= len(STYLES):
        raise GenreTfError(f"`genres` must be between 1 and {len(STYLES)} (the synthetic styles: "
                           f"{', '.join(s.name for s in STYLES)})")
    SynthParams(genres, clips, seconds, seed, sample_rate)  # checks the numbers
    written = []
    for g, style in enumerate(STYLES[:genres]):
        folder = Path(out_dir) / style.name
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(clips):
            path = folder / f"{style.name}.{k:05d}.wav"
            if not path.exists():
                audio = render_clip(style, seconds, sample_rate, np.random.default_rng([seed, g, k]))
                with atomic_path(path) as tmp:
                    sf.write(tmp, audio, sample_rate, subtype="PCM_16", format="WAV")
            written.append(path)
            if on_clip:
                on_clip(path)
    return written
