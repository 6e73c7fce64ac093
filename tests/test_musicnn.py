"""The Keras 3 musicnn against musicnn's own TF1 graph, and its failure modes."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre_tf.config import MusicnnParams, SegmentParams
from genre_tf.core.errors import ModelUnavailableError
from genre_tf.features import make_extractor
from genre_tf.features.musicnn import FEATURE_PARTS, FEATURE_SIZE, checkpoint_prefix
from genre_tf.io.audio import load_audio, split_segments

from .helpers import compute_feature

REFERENCE = Path(__file__).with_name("musicnn_reference.py")


def reference_features(model: str, segments: np.ndarray, folder: Path, float32: bool) -> np.ndarray:
    """musicnn's extractor on each segment (saved as a 16 kHz WAV, so it resamples nothing)."""
    files = []
    for i, segment in enumerate(segments):
        files.append(str(folder / f"segment{i}.wav"))
        sf.write(files[-1], segment, 16000, subtype="FLOAT")
    out = folder / "reference.npz"
    command = [sys.executable, str(REFERENCE), model, str(out)] + ["--float32"] * float32 + files
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
    with np.load(out) as z:
        return np.stack([np.concatenate([z[f"{i}_{n}"].reshape(-1) for n, _ in FEATURE_PARTS])
                         for i in range(len(segments))])


def assert_equivalent(ours: np.ndarray, theirs: np.ndarray, rtol: float) -> None:
    assert ours.shape == theirs.shape
    for a, b in zip(ours, theirs):
        assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) > 0.99999
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


@pytest.mark.slow
@pytest.mark.parametrize("model", ["MSD_musicnn", "MTT_musicnn"])
def test_keras_musicnn_equals_the_original_on_real_music(model, musicnn_installed, gtzan_sample, tmp_path):
    # Loud real music: musicnn's float16 cast would give inf here; the reference runs in float32.
    segments = np.concatenate([split_segments(load_audio(gtzan_sample / g / f"{g}.00000.wav").samples,
                                              SegmentParams())[:1] for g in ("rock", "classical", "hiphop")])
    ours = compute_feature("musicnn", MusicnnParams(model), segments)
    assert ours.shape == (3, FEATURE_SIZE)
    assert_equivalent(ours, reference_features(model, segments, tmp_path, float32=True), rtol=1e-4)


@pytest.mark.slow
def test_keras_musicnn_equals_the_unmodified_original_on_a_quiet_signal(musicnn_installed, tmp_path):
    # Quiet enough for float16 not to overflow: the original as it ships. Its float16 rounding of the
    # mel spectrogram is the only difference left.
    noise = (0.05 * np.random.default_rng(0).standard_normal((1, 48000))).astype(np.float32)
    ours = compute_feature("musicnn", MusicnnParams(), noise)
    assert_equivalent(ours, reference_features("MSD_musicnn", noise, tmp_path, float32=False), rtol=3e-3)


def test_a_short_segment_is_padded_to_one_patch(musicnn_installed):
    extractor = make_extractor({"musicnn": MusicnnParams()})
    short = (0.1 * np.random.default_rng(1).standard_normal((2, 16000))).astype(np.float32)
    padded = np.pad(short, ((0, 0), (0, MusicnnParams().min_samples - 16000)))
    np.testing.assert_allclose(extractor(short)["musicnn"], extractor(padded)["musicnn"], rtol=1e-4, atol=1e-4)


def test_missing_or_damaged_checkpoint_says_how_to_install(musicnn_installed, tmp_path, monkeypatch):
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps musicnn==0.1.0"):
        checkpoint_prefix(str(tmp_path / "nowhere"))
    damaged = tmp_path / "damaged"
    shutil.copytree(Path(checkpoint_prefix("MSD_musicnn")), damaged)
    (damaged / ".data-00000-of-00001").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelUnavailableError, match="damaged.*pip install") as e:
        make_extractor({"musicnn": MusicnnParams(str(damaged))})
    assert "\n" not in str(e.value)
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError, match="not installed.*pip install --no-deps musicnn"):
        checkpoint_prefix("MSD_musicnn")
