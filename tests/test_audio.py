import io
import os

import numpy as np
import pytest

from genre_tf.config import SegmentParams
from genre_tf.core.errors import AudioError, AudioErrorKind
from genre_tf.io.audio import AudioReader, load_audio, split_segments

from .helpers import sine, write_audio


def dominant_freq(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("ext,subtype", [("wav", "PCM_16"), ("wav", "FLOAT"), ("flac", None), ("ogg", None),
                                         ("mp3", None), ("au", None)])
def test_every_format_decodes_to_mono_16k_with_pitch_kept(tmp_path, ext, subtype):
    path = write_audio(tmp_path / f"a.{ext}", sine(440, 2.0, 44100), 44100, subtype)
    audio = load_audio(path)
    assert audio.sample_rate == 16000 and audio.source_rate == 44100
    assert abs(len(audio.samples) - 32000) < 1200  # mp3 adds encoder delay/padding
    assert audio.samples.dtype == np.float32
    assert abs(dominant_freq(audio.samples, 16000) - 440) < 2
    assert audio.notes == []


def test_stereo_is_averaged_to_mono(tmp_path):
    left, right = sine(440, 1.0, 16000), sine(1000, 1.0, 16000)
    audio = load_audio(write_audio(tmp_path / "s.wav", np.stack([left, right], axis=1), 16000, "FLOAT"))
    np.testing.assert_allclose(audio.samples, (left + right) / 2, atol=1e-6)
    assert audio.source_channels == 2


def test_file_objects_are_accepted(tmp_path):
    path = write_audio(tmp_path / "a.flac", sine(440, 1.0, 22050), 22050)
    with open(path, "rb") as f:
        audio = load_audio(io.BytesIO(f.read()))
    assert abs(dominant_freq(audio.samples, 16000) - 440) < 2


def test_max_seconds_reads_only_the_start(tmp_path):
    audio = load_audio(write_audio(tmp_path / "long.wav", sine(440, 40.0, 16000), 16000), max_seconds=30)
    assert len(audio.samples) == 30 * 16000


def test_peaks_above_full_scale_are_scaled_not_clipped(tmp_path):
    loud = sine(440, 1.0, 16000, amplitude=1.5)
    audio = load_audio(write_audio(tmp_path / "loud.wav", loud, 16000, "FLOAT"))
    assert np.abs(audio.samples).max() == pytest.approx(1.0, abs=1e-6)
    # The shape of the wave survives: a scaled copy, not a clipped one.
    np.testing.assert_allclose(audio.samples, loud / 1.5, atol=1e-6)
    assert "exceeds full scale" in audio.notes[0]


@pytest.mark.parametrize("make,cause,kind", [
    (lambda p: p.write_bytes(b""), "empty file", AudioErrorKind.EMPTY),
    (lambda p: p.write_text("this is a text file, not audio " * 20), "not a readable audio file",
     AudioErrorKind.NOT_AUDIO),
    (lambda p: p.write_bytes(write_audio(p.parent / "x.wav", sine(1, 1, 8000), 8000).read_bytes()[:30]),
     "not a readable audio file", AudioErrorKind.NOT_AUDIO),
    (lambda p: write_audio(p, np.zeros(16000, np.float32), 16000), "silent", AudioErrorKind.SILENT),
    (lambda p: write_audio(p, np.zeros(0, np.float32), 16000), "contains no audio samples",
     AudioErrorKind.NO_SAMPLES),
    (lambda p: write_audio(p, np.full(16000, np.nan, np.float32), 16000, "FLOAT"), "contains NaN or infinite samples",
     AudioErrorKind.DAMAGED),
    (lambda p: p.mkdir(), "is a directory", AudioErrorKind.INACCESSIBLE),
])
def test_unusable_files_raise_one_line_naming_file_and_cause(tmp_path, make, cause, kind):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError) as e:
        load_audio(path)
    message = str(e.value)
    assert message.startswith(str(path)) and cause in message and "\n" not in message
    assert e.value.kind == kind  # what the server's status codes are chosen by


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="file not found") as e:
        load_audio(tmp_path / "nope.wav")
    assert e.value.kind == AudioErrorKind.INACCESSIBLE


def test_a_file_named_mp3_that_holds_no_mp3_frames_is_not_audio(tmp_path):
    path = tmp_path / "cover.mp3"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    with pytest.raises(AudioError, match="not an MP3 stream") as e:
        load_audio(path)
    assert e.value.kind == AudioErrorKind.NOT_AUDIO


def test_audio_over_a_readers_limit_is_too_long(tmp_path):
    path = write_audio(tmp_path / "long.flac", sine(440, 3.0, 16000), 16000)
    with pytest.raises(AudioError, match="longer than the limit of 2 s of audio") as e:
        AudioReader(path, limit_seconds=2)
    assert e.value.kind == AudioErrorKind.TOO_LONG


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path):
    path = write_audio(tmp_path / "locked.wav", sine(440, 1, 16000), 16000)
    path.chmod(0)
    with pytest.raises(AudioError, match="permission denied") as e:
        load_audio(path)
    assert e.value.kind == AudioErrorKind.INACCESSIBLE


def test_truncated_wav_is_used_with_a_note(tmp_path):
    path = write_audio(tmp_path / "t.wav", sine(440, 4.0, 16000), 16000, "PCM_16")
    data = path.read_bytes()
    kept = len(data) // 2
    path.write_bytes(data[:kept])
    audio = load_audio(path)
    assert len(audio.samples) == (kept - 44) // 2  # 44-byte header, 2 bytes a sample
    assert audio.notes and "truncated: header declares 4.0 s, file holds 2.0 s" in audio.notes[0]


def test_wrong_extension_is_decoded_by_content_with_a_note(tmp_path):
    flac = write_audio(tmp_path / "real.flac", sine(440, 1.0, 16000), 16000)
    misnamed = tmp_path / "misnamed.wav"
    misnamed.write_bytes(flac.read_bytes())
    audio = load_audio(misnamed)
    assert abs(dominant_freq(audio.samples, 16000) - 440) < 2
    assert "content is FLAC but the extension is .wav" in audio.notes[0]


@pytest.mark.parametrize("seconds,expected", [
    (30.0, 10), (30.1, 10),  # GTZAN clips: trimmed to 30 s
    (17.09, 6),  # 5 full + 2.09 s remainder >= 1.5 s: padded
    (16.3, 5),  # 1.3 s remainder < 1.5 s: dropped
    (1.0, 1), (0.01, 1),  # shorter than a segment: one padded segment
    (45.0, 10),
])
def test_segment_rule(seconds, expected):
    assert len(split_segments(np.ones(int(seconds * 16000), np.float32), SegmentParams())) == expected


def test_split_segments_keeps_order_and_zero_pads_the_last():
    p = SegmentParams()
    samples = np.arange(int(7.6 * 16000), dtype=np.float32)
    segments = split_segments(samples, p)
    assert segments.shape == (3, 48000)
    np.testing.assert_array_equal(segments.reshape(-1)[: len(samples)], samples)
    assert not segments.reshape(-1)[len(samples):].any()


# --- MP4 audio (AAC, ALAC) and Opus: real files made by FFmpeg's own encoders (PyAV) ---------------------

@pytest.mark.parametrize("name,codec,rate", [("a.m4a", "aac", 44100), ("b.m4a", "alac", 44100),
                                             ("c.opus", "libopus", 48000), ("d.mp4", "aac", 22050)])
def test_itunes_and_opus_files_decode_to_mono_16k_with_pitch_kept(tmp_path, name, codec, rate):
    from .helpers import encode_ffmpeg

    source = sine(440, 2.0, rate, amplitude=0.4)
    audio = load_audio(encode_ffmpeg(tmp_path / name, source, rate, codec))
    assert audio.sample_rate == 16000 and audio.source_channels == 2 and audio.notes == []
    assert abs(len(audio.samples) - 32000) < 1200  # AAC adds encoder delay and padding
    assert abs(dominant_freq(audio.samples, 16000) - 440) < 2
    expected = load_audio(write_audio(tmp_path / "ref.wav", np.stack([source, 0.5 * source], 1), rate, "FLOAT"))
    if codec == "alac":  # lossless (16-bit): the same samples as the WAV of the same signal
        np.testing.assert_allclose(audio.samples, expected.samples, atol=1e-4)
    else:  # lossy, and delayed by the encoder: the same level, within a decibel
        rms = [float(np.sqrt(np.mean(x[4000:28000] ** 2))) for x in (audio.samples, expected.samples)]
        assert abs(20 * np.log10(rms[0] / rms[1])) < 1, rms


def test_a_damaged_m4a_is_one_line_naming_it(tmp_path):
    from .helpers import encode_ffmpeg

    path = encode_ffmpeg(tmp_path / "a.m4a", sine(440, 2.0, 44100), 44100, "aac")
    path.write_bytes(path.read_bytes()[:200])  # cut inside its header
    with pytest.raises(AudioError, match=r"a\.m4a: not a readable audio file \(") as error:
        load_audio(path)
    assert "\n" not in str(error.value) and error.value.kind == AudioErrorKind.NOT_AUDIO
    (tmp_path / "b.m4a").write_bytes(os.urandom(4096))
    with pytest.raises(AudioError, match=r"b\.m4a: not a readable audio file"):
        load_audio(tmp_path / "b.m4a")
