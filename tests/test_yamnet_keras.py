"""genre-tf's batched Keras YAMNet against the TF-Hub reference."""
import numpy as np
import pytest

from genre_tf.config import EmbeddingParams, embedding_params
from genre_tf.core.errors import ModelUnavailableError

from .helpers import compute_feature, sine

# Both run the same float32 weights; differences are float rounding of another op order.
MAX_ABS_DIFF = 1e-3
MIN_COSINE = 0.99999


def cosine(a, b):
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


@pytest.mark.slow
def test_batched_embeddings_equal_the_hub_model(yamnet_handle, yamnet_weights, gtzan_sample):
    from genre_tf.config import SegmentParams
    from genre_tf.io.audio import load_audio, split_segments

    segments = np.concatenate([
        split_segments(load_audio(gtzan_sample / g / f"{g}.00000.wav").samples, SegmentParams())[:4]
        for g in ("classical", "metal", "hiphop")] + [
        np.zeros((1, 48000), np.float32), sine(440, 3, 16000)[None],
        np.random.default_rng(0).uniform(-1, 1, (1, 48000)).astype(np.float32)])
    hub = compute_feature("embedding", EmbeddingParams(yamnet_handle), segments)
    batched = compute_feature("embedding", EmbeddingParams(None, yamnet_weights), segments)
    assert batched.shape == hub.shape == (15, 6, 1024)
    assert np.abs(batched - hub).max() < MAX_ABS_DIFF
    assert cosine(batched[:-3], hub[:-3]).min() > MIN_COSINE  # silence has (near) zero vectors: no angle
    # A batch gives the same as its segments one by one: patches are independent.
    single = compute_feature("embedding", EmbeddingParams(None, yamnet_weights), segments[5:6])
    np.testing.assert_allclose(single[0], batched[5], atol=1e-4)


def test_yamnet_table_has_the_published_size():
    from genre_tf.features.yamnet_keras import build_yamnet

    # MobileNet-v1 body of YAMNet without its 521-way classifier: 3.2M weights.
    assert build_yamnet().count_params() == 3_217_344


def test_weights_file_errors(tmp_path):
    from genre_tf.features import make_extractor

    with pytest.raises(ModelUnavailableError, match="weights not found.*`yamnet_weights`"):
        make_extractor({"embedding": EmbeddingParams(None, str(tmp_path / "none.h5"))})
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["something"] = np.zeros(3)
    with pytest.raises(ModelUnavailableError, match="not a YAMNet weights file"):
        make_extractor({"embedding": EmbeddingParams(None, str(tmp_path / "other.h5"))})


def test_embedding_source_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("GENRE_TF_YAMNET_HANDLE", raising=False)
    monkeypatch.delenv("GENRE_TF_YAMNET_WEIGHTS", raising=False)
    assert embedding_params() == EmbeddingParams("https://tfhub.dev/google/yamnet/1", None)
    monkeypatch.setenv("GENRE_TF_YAMNET_WEIGHTS", str(tmp_path / "y.h5"))
    assert embedding_params() == EmbeddingParams(None, str(tmp_path / "y.h5"))
    assert embedding_params(handle="https://x/y").handle == "https://x/y"  # an explicit option beats the env
    assert embedding_params(weights="w.h5").weights.endswith("/w.h5")


def test_extract_with_batched_yamnet(synth_dataset, yamnet_weights, tmp_path):
    from genre_tf.io.store import FeatureStore
    from genre_tf.workflows.extract import extract

    result = extract(synth_dataset, tmp_path / "fs", ["embedding"], batch_size=5,
                     feature_params={"embedding": EmbeddingParams(None, yamnet_weights)})
    store = FeatureStore(tmp_path / "fs")
    assert result.segments == 27 and store.array("embedding").shape == (27, 6, 1024)
    assert store.feature_params("embedding") == {"handle": None, "weights": yamnet_weights}


def test_folded_batch_norm_computes_the_same_network():
    """With batch-norm statistics far from the identity (the stand-in's weights have mean 0 and
    variance 1 - eps, where folding would change nothing), the folded network equals the network
    with its batch norms in inference mode."""
    from genre_tf.features.yamnet_keras import build_yamnet, fold_batch_norm

    network = build_yamnet()
    rng = np.random.default_rng(0)
    for layer in network.layers:
        if layer.name.endswith("-bn"):
            channels = layer.moving_mean.shape[0]
            layer.set_weights([rng.normal(0, 0.5, channels), rng.normal(0, 0.5, channels),
                               rng.uniform(0.2, 3.0, channels)])  # beta, moving mean, moving variance
        elif layer.weights:
            layer.set_weights([w * rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    patches = rng.normal(0, 1, (8, 96, 64)).astype(np.float32)
    expected = network(patches, training=False).numpy()
    folded = fold_batch_norm(network)(patches).numpy()
    assert np.abs(expected).max() > 0.1  # the network is not all dead ReLUs
    np.testing.assert_allclose(folded, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
