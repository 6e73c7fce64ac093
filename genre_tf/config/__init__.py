"""Every parameter of genre-tf and its default, in one place: frozen dataclasses and constants,
grouped by what they govern. The CLI takes its defaults from here; so do the library's functions.

    audio     how a clip becomes segments
    features  the features' parameters, YAMNet's sources, the default feature set
    training  splits, training schedule, augmentation, model options
    runtime   folders, batch sizes, engines (Ray), the server, the synthetic dataset

A feature store records the feature parameters in its manifest; a run that asks for different
values finds out before it mixes incompatible arrays. No TensorFlow here: `--help` starts fast.
"""
import dataclasses

from .audio import (
    DEFAULT_MAX_WINDOWS,
    DEFAULT_SEGMENT_SECONDS,
    MIN_SEGMENT_SECONDS,
    SegmentParams,
    segment_label,
    segment_params,
)
from .features import (
    DEFAULT_FEATURES,
    YAMNET_DOWNLOAD_DIR,
    YAMNET_HANDLE_ENV,
    YAMNET_HUB_HANDLE,
    YAMNET_WEIGHTS_ENV,
    YAMNET_WEIGHTS_URL,
    EmbeddingParams,
    LogMelParams,
    MfccParams,
    MusicnnParams,
    embedding_params,
    resolve_handle,
)
from .runtime import (
    BEST_RUN,
    DECODE_WORKERS,
    DEFAULT_DATA,
    DEFAULT_REPORTS,
    DEFAULT_RUNS,
    DEFAULT_STORE,
    DEFAULT_TAGGING,
    ENGINES,
    EXPORT_FORMATS,
    EXTRACT_BATCH_SIZE,
    FMA_SUBSETS,
    GENRES_LISTED,
    LABEL_KINDS,
    MAX_FILES_AHEAD,
    MAX_PROBLEMS_SHOWN,
    MIN_CLIPS_PER_GENRE,
    PLAN_ROWS_SHOWN,
    RUNTIMES,
    TAG_CALIBRATION_CLIPS,
    TAG_DISAGREEMENT_CONFIDENCE,
    TAG_MIN_CONFIDENCE,
    TAG_MODES,
    TAG_PRECISION,
    TOP_GENRES,
    WINDOW_BATCH,
    RayParams,
    ServeParams,
    SynthParams,
)
from .training import (
    AUGMENTATIONS,
    DEFAULT_RATIOS,
    FINE_TUNE_LR_FACTOR,
    PRECISE_BN_BATCHES,
    RANDOM_SPLIT,
    REFIT_EPOCH_SCALE,
    AugmentParams,
    ExactFitParams,
    MaskParams,
    ModelOptions,
    TrainConfig,
    parse_augment,
)


def as_dict(params) -> dict:
    return dataclasses.asdict(params)


__all__ = ["as_dict", "AUGMENTATIONS", "AugmentParams", "BEST_RUN", "DECODE_WORKERS", "DEFAULT_DATA",
           "DEFAULT_FEATURES", "DEFAULT_MAX_WINDOWS", "DEFAULT_RATIOS", "DEFAULT_REPORTS", "DEFAULT_RUNS",
           "DEFAULT_SEGMENT_SECONDS", "DEFAULT_STORE", "DEFAULT_TAGGING", "embedding_params", "EmbeddingParams",
           "ENGINES", "ExactFitParams", "EXPORT_FORMATS", "EXTRACT_BATCH_SIZE", "FINE_TUNE_LR_FACTOR", "FMA_SUBSETS",
           "GENRES_LISTED", "LABEL_KINDS", "LogMelParams", "MaskParams", "MAX_FILES_AHEAD", "MAX_PROBLEMS_SHOWN",
           "MfccParams", "MIN_CLIPS_PER_GENRE", "MIN_SEGMENT_SECONDS", "ModelOptions", "MusicnnParams",
           "parse_augment", "PLAN_ROWS_SHOWN", "PRECISE_BN_BATCHES", "RANDOM_SPLIT", "RayParams", "RUNTIMES",
           "REFIT_EPOCH_SCALE", "resolve_handle", "segment_label", "segment_params", "SegmentParams", "ServeParams",
           "SynthParams", "TAG_CALIBRATION_CLIPS", "TAG_DISAGREEMENT_CONFIDENCE", "TAG_MIN_CONFIDENCE", "TAG_MODES",
           "TAG_PRECISION", "TOP_GENRES", "TrainConfig", "WINDOW_BATCH", "YAMNET_DOWNLOAD_DIR", "YAMNET_HANDLE_ENV",
           "YAMNET_HUB_HANDLE", "YAMNET_WEIGHTS_ENV", "YAMNET_WEIGHTS_URL"]
