"""Every extractor in the registry, at the usual and a longer segment length: the shape of a segment's
feature, and the same values for a segment whatever batch it is computed in (within the feature's
stated tolerance)."""
import numpy as np
import pytest

from genre_tf.config import EmbeddingParams
from genre_tf.features import FEATURES, get_feature, make_extractor

from .conftest import shared_path
from .helpers import assert_same_features, sine

# Per-segment shapes at 3 s and 6 s: YAMNet patches every 0.48 s, log-mel frames every 10 ms,
# MFCC frames every 512 samples; musicnn pools over its patches into one vector.
EXPECTED = {
    ("embedding", 3): (6, 1024), ("embedding", 6): (12, 1024),
    ("logmel", 3): (336, 64), ("logmel", 6): (624, 64),
    ("mfcc", 3): (94, 20), ("mfcc", 6): (188, 20),
    ("musicnn", 3): (1706,), ("musicnn", 6): (1706,),
}


def _params(name: str, path: str, request):
    if name == "musicnn":
        request.getfixturevalue("musicnn_installed")
    if name != "embedding":
        return get_feature(name).params_class()
    yamnet = shared_path("models", "yamnet")
    return EmbeddingParams(handle=str(yamnet / "savedmodel")) if path == "hub" else \
        EmbeddingParams(handle=None, weights=str(yamnet / "yamnet.h5"))


CASES = [(name, path) for name in FEATURES for path in (("hub", "keras") if name == "embedding" else ("",))]


@pytest.mark.parametrize("seconds", [3, 6])
@pytest.mark.parametrize("name,path", CASES)
def test_extractor_shape_and_batch_independence(name, path, seconds, request):
    extractor = make_extractor({name: _params(name, path, request)})

    def compute(segments):
        return extractor(segments)[name]

    rate = 16000
    rng = np.random.default_rng(seconds)
    noise = [rng.uniform(-0.05, 0.05, seconds * rate).astype(np.float32) for _ in range(5)]
    batch = np.stack([sine(220 * (i + 1), seconds, rate, 0.3) + noise[i] for i in range(5)]
                     + [np.zeros(seconds * rate, np.float32)])
    out = compute(batch)
    assert out.shape[1:] == EXPECTED[(name, seconds)]
    assert out.shape[0] == len(batch) and np.isfinite(out).all()
    # The same segment in a batch of one, and in a batch in another order.
    assert_same_features(name, compute(batch[2:3])[0], out[2])
    assert_same_features(name, compute(batch[::-1])[::-1], out)
