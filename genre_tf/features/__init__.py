"""The feature registry: `--features`/`--input` names -> how to compute and store each feature."""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from ..errors import GenreTfError, parse_names
from ..params import EmbeddingParams, LogMelParams, MfccParams, MusicnnParams, embedding_params


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    name: str
    description: str
    # Storage dtype. float16 keeps ~3 significant digits: enough for ReLU embeddings and log-mel
    # values in about [-7, 5]; MFCCs reach the hundreds, where float16 steps are coarse.
    dtype: str
    make_extractor: Callable[[object], Callable[[np.ndarray], np.ndarray]]
    params_class: Callable[..., object]
    # The parameters when none are given (the embedding's come from the environment, if set there).
    default_params: Callable[[], object]
    # What genre-tf promises for one segment computed in batches of other sizes or companions (a
    # resumed extraction, a Ray worker, another CPU): equal within (rtol, atol), not bit for bit.
    # Batched float32 matrix products sum in an order that depends on the batch shape and on the
    # CPU's vector width (AVX2, AVX-512); a float16 store adds one rounding step (2**-10 relative).
    tolerance: tuple[float, float] = (2e-3, 1e-3)


def _embedding_extractor(params):
    if params.weights:
        from .yamnet_keras import BatchedEmbeddingExtractor

        return BatchedEmbeddingExtractor(params)
    from .embedding import HubEmbeddingExtractor

    return HubEmbeddingExtractor(params)


def _logmel_extractor(params):
    from .logmel import LogMelExtractor

    return LogMelExtractor(params)


def _mfcc_extractor(params):
    from .mfcc import MfccExtractor

    return MfccExtractor(params)


def _musicnn_extractor(params):
    from .musicnn import MusicnnExtractor

    return MusicnnExtractor(params)


FEATURES: dict[str, FeatureSpec] = {
    "embedding": FeatureSpec("embedding", "YAMNet embeddings", "float16", _embedding_extractor, EmbeddingParams,
                             embedding_params),
    "logmel": FeatureSpec("logmel", "YAMNet log-mel spectrogram", "float16", _logmel_extractor, LogMelParams, LogMelParams),
    "mfcc": FeatureSpec("mfcc", "MFCCs", "float32", _mfcc_extractor, MfccParams, MfccParams, tolerance=(1e-4, 1e-3)),
    "musicnn": FeatureSpec("musicnn", "musicnn pooled features", "float32", _musicnn_extractor, MusicnnParams,
                           MusicnnParams),
}

# What `extract` computes when no --features are given: YAMNet's two and MFCCs (musicnn needs its
# own wheel, so it is asked for by name).
DEFAULT_FEATURES = ("embedding", "logmel", "mfcc")

# `--input` presets; any comma list of feature names is accepted too.
INPUT_PRESETS = {
    "all": DEFAULT_FEATURES,
    "nospec": ("embedding", "mfcc"),  # the fourth seed's "Combined (No Spectrograms)"
}


def get_feature(name: str) -> FeatureSpec:
    if name not in FEATURES:
        raise GenreTfError(f"unknown feature '{name}'; choose from {', '.join(FEATURES)}")
    return FEATURES[name]


def parse_feature_names(text: str) -> tuple[str, ...]:
    return parse_names(text, "--features", FEATURES)
