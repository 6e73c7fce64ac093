import hashlib

import numpy as np
import pytest

from genre_tf.core.errors import GenreTfError
from genre_tf.workflows.synth import STYLES, render_clip, synthesize


def digest(paths):
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_same_seed_same_audio_other_seed_other_audio(tmp_path):
    a = synthesize(tmp_path / "a", genres=2, clips=2, seconds=2, seed=5)
    b = synthesize(tmp_path / "b", genres=2, clips=2, seconds=2, seed=5)
    c = synthesize(tmp_path / "c", genres=2, clips=2, seconds=2, seed=6)
    assert digest(a) == digest(b)
    assert not set(digest(a)) & set(digest(c))


def test_existing_clips_are_kept(tmp_path):
    first = synthesize(tmp_path, genres=1, clips=2, seconds=1)
    first[0].write_bytes(b"kept")
    synthesize(tmp_path, genres=1, clips=2, seconds=1)
    assert first[0].read_bytes() == b"kept"


def test_clips_are_in_range_and_not_silent():
    for style in STYLES:
        audio = render_clip(style, 3.0, 16000, np.random.default_rng(0))
        assert audio.shape == (48000,) and 0.2 < np.abs(audio).max() <= 1.0


def test_genres_are_learnable_from_mfcc_on_held_out_clips():
    """Mean/std of MFCCs + logistic regression, trained on some clips, scored on others."""
    import librosa
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    genres, clips = 5, 6
    x, y, clip_of = [], [], []
    for g, style in enumerate(STYLES[:genres]):
        for k in range(clips):
            segments = render_clip(style, 9.0, 16000, np.random.default_rng([0, g, k])).reshape(3, 48000)
            for m in librosa.feature.mfcc(y=segments, sr=16000, n_mfcc=20, n_fft=2048, hop_length=512):
                x.append(np.concatenate([m.mean(1), m.std(1)]))
                y.append(g)
                clip_of.append(k)
    x, y, train = np.array(x), np.array(y), np.array(clip_of) < 4
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x[train], y[train])
    assert model.score(x[~train], y[~train]) >= 2 / genres  # at least twice chance


def test_bad_options():
    with pytest.raises(GenreTfError, match="`genres` must be between 1 and 10"):
        synthesize("unused", genres=0)
    with pytest.raises(GenreTfError, match="`clips`"):
        synthesize("unused", clips=0)
