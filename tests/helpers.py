"""Test audio made on the fly."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_audio(path: Path, samples: np.ndarray, rate: int, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, rate, subtype=subtype)
    return path


def assert_same_features(name: str, actual, expected) -> None:
    """Equal within what genre-tf promises for a feature computed in another batch (FeatureSpec.tolerance)."""
    import numpy as np

    from genre_tf.features import get_feature

    rtol, atol = get_feature(name).tolerance
    np.testing.assert_allclose(np.asarray(actual, np.float32), np.asarray(expected, np.float32), rtol=rtol, atol=atol,
                               err_msg=f"{name} differs beyond its stated tolerance")


def compute_feature(name: str, params, segments):
    """One feature of a batch of segments in full precision, through the extractor the product uses."""
    from genre_tf.features import make_extractor

    return make_extractor({name: params}, dtype="float32")(segments)[name]
