"""The feature registry: `--features`/`--input` names -> how to compute and store each feature."""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from ..errors import GenreTfError
from ..params import EmbeddingParams, LogMelParams, MfccParams


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    name: str
    description: str
    # Storage dtype. float16 keeps ~3 significant digits: enough for ReLU embeddings and log-mel
    # values in about [-7, 5]; MFCCs reach the hundreds, where float16 steps are coarse.
    dtype: str
    make_extractor: Callable[[object], Callable[[np.ndarray], np.ndarray]]
    params_class: Callable[..., object]


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


FEATURES: dict[str, FeatureSpec] = {
    "embedding": FeatureSpec("embedding", "YAMNet embeddings", "float16", _embedding_extractor, EmbeddingParams),
    "logmel": FeatureSpec("logmel", "YAMNet log-mel spectrogram", "float16", _logmel_extractor, LogMelParams),
    "mfcc": FeatureSpec("mfcc", "MFCCs", "float32", _mfcc_extractor, MfccParams),
}


def get_feature(name: str) -> FeatureSpec:
    if name not in FEATURES:
        raise GenreTfError(f"unknown feature '{name}'; choose from {', '.join(FEATURES)}")
    return FEATURES[name]


def parse_feature_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise GenreTfError("no feature named; choose from " + ", ".join(FEATURES))
    for n in names:
        get_feature(n)
    return list(dict.fromkeys(names))
