"""The feature registry: `--features`/`--input` names -> how to compute and store each feature."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..config import DEFAULT_FEATURES, EmbeddingParams, LogMelParams, MfccParams, MusicnnParams, embedding_params
from ..core.errors import GenreTfError, parse_names


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """A feature of the registry: how to compute it and how the store keeps it."""

    name: str
    description: str
    # Storage dtype. float16 keeps ~3 significant digits: enough for ReLU embeddings and log-mel
    # values in about [-7, 5]; MFCCs reach the hundreds, where float16 steps are coarse.
    dtype: str
    # params -> the loaded feature: a features.extractor.TensorFeature.
    load: Callable[[object], object]
    params_class: Callable[..., object]
    # The parameters when none are given (the embedding's come from the environment, if set there).
    default_params: Callable[[], object]
    # What genre-tf promises for one segment computed in batches of other sizes or companions (a
    # resumed extraction, a Ray worker, another CPU): equal within (rtol, atol), not bit for bit.
    # Batched float32 matrix products sum in an order that depends on the batch shape and on the
    # CPU's vector width (AVX2, AVX-512); a float16 store adds one rounding step (2**-10 relative).
    tolerance: tuple[float, float] = (2e-3, 1e-3)


def _load_embedding(params):
    if params.weights:
        from .yamnet_keras import YamnetEmbedding

        return YamnetEmbedding(params)
    from .embedding import HubEmbedding

    return HubEmbedding(params)


def _load_logmel(params):
    from .logmel import LogMelFeature

    return LogMelFeature(params)


def _load_mfcc(params):
    from .mfcc import MfccFeature

    return MfccFeature(params)


def _load_musicnn(params):
    from .musicnn import MusicnnFeature

    return MusicnnFeature(params)


# `--features`/`--input` names -> how each feature is computed and stored.
FEATURES: dict[str, FeatureSpec] = {
    "embedding": FeatureSpec("embedding", "YAMNet embeddings", "float16", _load_embedding, EmbeddingParams,
                             embedding_params),
    "logmel": FeatureSpec("logmel", "YAMNet log-mel spectrogram", "float16", _load_logmel, LogMelParams, LogMelParams),
    "mfcc": FeatureSpec("mfcc", "MFCCs", "float32", _load_mfcc, MfccParams, MfccParams, tolerance=(1e-4, 1e-3)),
    "musicnn": FeatureSpec("musicnn", "musicnn pooled features", "float32", _load_musicnn, MusicnnParams,
                           MusicnnParams),
}

# `--input` presets; any comma list of feature names is accepted too.
INPUT_PRESETS = {
    "all": DEFAULT_FEATURES,
    "nospec": ("embedding", "mfcc"),  # the fourth reference project's "Combined (No Spectrograms)"
}


def get_feature(name: str) -> FeatureSpec:
    if name not in FEATURES:
        raise GenreTfError(f"unknown feature '{name}'; choose from {', '.join(FEATURES)}")
    return FEATURES[name]


def parse_feature_names(text: str) -> tuple[str, ...]:
    """--features' text: a comma list of feature names."""
    return parse_names(text, "--features", FEATURES)


def make_extractor(params: dict[str, object], dtype: str | None = None):
    """{feature name: its parameters} -> a features.extractor.FeatureExtractor computing them all,
    (batch, samples) segments -> {name: (batch, ...) array}, in one graph call where it can. Each
    feature comes in its storage dtype, or in `dtype` where one is given (float32: full precision).

    The networks a feature needs (YAMNet, musicnn) are loaded here.

    Args:
        params: {feature name (`FEATURES`): its parameter dataclass (`EmbeddingParams`, `LogMelParams`,
            `MfccParams`, `MusicnnParams`)}.
        dtype: the dtype of every feature's values ("float32"); None: each feature's storage dtype (float16 for
            embedding and logmel, float32 for mfcc and musicnn).

    Returns:
        (FeatureExtractor): called with a (batch, samples) float32 array of segments, it returns {feature
            name: (batch, ...) array}.

    Raises:
        GenreTfError: an unknown feature name.
        ModelUnavailableError: YAMNet or musicnn's weights cannot be loaded.
    """
    from .extractor import FeatureExtractor

    return FeatureExtractor({name: get_feature(name).load(p) for name, p in params.items()},
                            {name: dtype or get_feature(name).dtype for name in params})
