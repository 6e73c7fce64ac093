import csv

import numpy as np
import pytest

from genre_tf.config import LogMelParams, MfccParams
from genre_tf.core.errors import ModelUnavailableError
from genre_tf.features import FEATURES, parse_feature_names
from genre_tf.features.logmel import log_mel

from .helpers import assert_same_features, compute_feature, sine


def test_logmel_shape_and_silence():
    out = log_mel(np.zeros((2, 48000), np.float32)).numpy()
    assert out.shape == (2, 336, 64)
    np.testing.assert_allclose(out, np.log(0.001), rtol=1e-6)  # log(0 + log_offset)


def test_logmel_of_a_sine_peaks_in_its_mel_band():
    p = LogMelParams()
    out = log_mel(sine(1000, 3.0, 16000)[None]).numpy()[0]
    def mel(f):  # HTK mel scale: the band whose centre is nearest 1 kHz
        return 1127 * np.log1p(f / 700)

    centres = np.linspace(mel(p.mel_min_hz), mel(p.mel_max_hz), p.mel_bands + 2)[1:-1]
    assert out[10:300].mean(axis=0).argmax() == np.abs(centres - mel(1000)).argmin()


def test_logmel_is_batch_independent():
    rng = np.random.default_rng(0)
    batch = rng.uniform(-0.5, 0.5, (4, 48000)).astype(np.float32)
    np.testing.assert_allclose(compute_feature("logmel", LogMelParams(), batch)[2], log_mel(batch[2:3]).numpy()[0],
                               atol=1e-5)


@pytest.mark.slow
def test_logmel_equals_yamnet_third_output(yamnet_handle, gtzan_sample):
    from genre_tf.config import SegmentParams
    from genre_tf.features.embedding import load_yamnet
    from genre_tf.io.audio import load_audio, split_segments

    model = load_yamnet(yamnet_handle)
    segments = split_segments(load_audio(gtzan_sample / "jazz" / "jazz.00000.wav").samples, SegmentParams())
    signals = np.concatenate([segments, np.zeros((1, 48000), np.float32), sine(440, 3, 16000)[None],
                              np.random.default_rng(1).uniform(-1, 1, (1, 48000)).astype(np.float32)])
    ours = log_mel(signals).numpy()
    theirs = np.stack([model(s)[2].numpy() for s in signals])
    assert ours.shape == theirs.shape == (len(signals), 336, 64)
    assert np.abs(ours - theirs).max() < 1e-4


@pytest.mark.parametrize("rate,n_fft,n_mels", [(16000, 2048, 128), (16000, 512, 96), (22050, 1024, 128)])
def test_the_mel_filters_are_librosas(rate, n_fft, n_mels):
    """genre-tf's own Slaney filters, MFCC's and musicnn's (librosa's would start numba, half a second):
    librosa's, to float32's last bit or so."""
    import librosa

    from genre_tf.features.mfcc import slaney_mel_matrix

    theirs = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels).T
    np.testing.assert_allclose(slaney_mel_matrix(rate, n_fft, n_mels), theirs, rtol=1e-6, atol=1e-8)


def test_mfcc_of_each_segment_is_librosas_whatever_the_batch():
    import librosa

    # Loud noise beside a quiet sine: a batch-wide dB floor would change the quiet one's MFCCs.
    batch = np.stack([np.random.default_rng(0).uniform(-0.9, 0.9, 48000).astype(np.float32),
                      sine(440, 3.0, 16000, amplitude=0.001)])
    out = compute_feature("mfcc", MfccParams(), batch)
    assert out.shape == (2, 94, 20)
    for i in range(2):
        alone = librosa.feature.mfcc(y=batch[i], sr=16000, n_mfcc=20, n_fft=2048, hop_length=512).T
        np.testing.assert_allclose(out[i], alone, rtol=1e-4, atol=1e-2)


@pytest.mark.slow
def test_tf_mfcc_equals_librosa_on_real_clips(gtzan_sample):
    """The TF port against librosa.feature.mfcc, segment by segment, on all 30 real clips (214 segments)
    and on signals whose answer is known: silence (every coefficient but the first is 0) and a sine."""
    import librosa

    from genre_tf.config import SegmentParams
    from genre_tf.io.audio import load_audio, split_segments

    segments = np.concatenate([split_segments(load_audio(path).samples, SegmentParams())
                               for path in sorted(gtzan_sample.glob("*/*.wav"))]
                              + [np.zeros((1, 48000), np.float32), sine(440, 3, 16000)[None]])
    ours = compute_feature("mfcc", MfccParams(), segments)
    theirs = np.stack([librosa.feature.mfcc(y=s, sr=16000, n_mfcc=20, n_fft=2048, hop_length=512).T
                       for s in segments])
    assert ours.shape == theirs.shape == (216, 94, 20)
    # What genre-tf promises for MFCCs (FeatureSpec.tolerance); measured: max 1.3e-4 on values up to 760.
    assert_same_features("mfcc", ours, theirs)
    np.testing.assert_allclose(ours[-2, :, 1:], 0, atol=1e-4)


def test_hub_embedding_shape_and_known_answers(yamnet_handle):
    from genre_tf.config import EmbeddingParams
    from genre_tf.features.embedding import load_yamnet

    out = compute_feature("embedding", EmbeddingParams(yamnet_handle), np.stack([np.zeros(48000, np.float32),
                                                                          sine(440, 3, 16000)]))
    assert out.shape == (2, 6, 1024)
    # The model's own classifier recognises the signals, a check that the loaded model is real. The
    # stand-in is approximate (rebuilt from int8 models): a 440 Hz sine ranks 'Sine wave' 6th, after
    # 'Telephone' and 'Dial tone', so ranks are checked with room.
    model = load_yamnet(yamnet_handle)
    names = [row["display_name"] for row in csv.DictReader(open(model.class_map_path().numpy()))]

    def ranking(signal):
        return [names[i] for i in model(signal)[0].numpy().mean(0).argsort()[::-1]]

    noise = (0.1 * np.random.default_rng(0).standard_normal(48000)).astype(np.float32)
    assert ranking(np.zeros(48000, np.float32))[0] == "Silence"
    assert "White noise" in ranking(noise)[:3]
    assert "Sine wave" in ranking(sine(440, 3, 16000))[:10]


def test_missing_local_yamnet_says_how_to_fix(tmp_path):
    from genre_tf.features.embedding import load_yamnet

    with pytest.raises(ModelUnavailableError, match="`yamnet_handle`"):
        load_yamnet(str(tmp_path / "nowhere"))


def test_unreachable_hub_handle_says_how_to_work_offline():
    from genre_tf.features.embedding import load_yamnet

    with pytest.raises(ModelUnavailableError) as e:
        load_yamnet("https://tfhub.invalid/google/yamnet/1")
    assert "`yamnet_handle`" in str(e.value) and "\n" not in str(e.value)


def test_feature_names():
    assert parse_feature_names("mfcc, logmel,mfcc") == ("mfcc", "logmel")
    with pytest.raises(Exception, match="unknown --features 'chroma'"):
        parse_feature_names("chroma")
    assert set(FEATURES) == {"embedding", "logmel", "mfcc", "musicnn"}
