"""genre-tf: music genre classification with TensorFlow/Keras.

The public API, importable from `genre_tf` (the CLI is a thin layer over it)::

    import genre_tf

    genre_tf.extract(data="music", store="features", features=["mfcc"])
    run = genre_tf.train(genre_tf.TrainConfig(inputs=("mfcc",), model="cnn", store="features"))
    prediction = genre_tf.Predictor(run.run_dir).predict("song.mp3")

Sub-packages, each importing only those above it in this list:
    core       errors, atomic files and locks, provenance, TensorFlow set-up
    config     every parameter and default
    io         audio decoding, datasets, splits, the feature store, runs, prediction tables, tags
    features   the features as TF ops (YAMNet, log-mel, MFCC, musicnn) and their registry
    models     the model registry and networks
    training   tf.data pipelines, augmentation, calibration, fitting, metrics
    engines    local and Ray engines: audio files -> windows -> a model, batched
    workflows  extract, train, predict, label a library, tag it, export, report, synth
    serving    the web page and its JSON API
    cli        the `genre-tf` command line

Names are imported on first use, so that `import genre_tf` (and `genre-tf --help`) does not start
TensorFlow.
"""
import importlib

# Public name -> the module that defines it.
_API = {
    "GenreTfError": "core.errors", "AudioError": "core.errors", "DatasetError": "core.errors",
    "SplitError": "core.errors", "StoreError": "core.errors", "ModelUnavailableError": "core.errors",
    "SegmentParams": "config", "EmbeddingParams": "config", "LogMelParams": "config", "MfccParams": "config",
    "MusicnnParams": "config", "ModelOptions": "config", "TrainConfig": "config", "RayParams": "config",
    "ServeParams": "config", "embedding_params": "config", "segment_params": "config",
    "load_audio": "io.audio", "discover": "io.dataset", "find_songs": "io.dataset", "FeatureStore": "io.store",
    "load_run": "io.runs", "LabelSource": "io.labels", "label_source": "io.labels",
    "read_labelled": "io.labels", "scan_runs": "io.runs", "Prediction": "io.prediction_table",
    "genre_field": "io.tag_writer", "write_genre_field": "io.tag_writer", "TagWriteError": "io.tag_writer",
    "FEATURES": "features", "make_extractor": "features", "MODELS": "models", "build_model": "models",
    "make_engine": "engines",
    "extract": "workflows.extract", "ExtractResult": "workflows.extract", "FileEvents": "workflows.events",
    "train": "workflows.train", "TrainResult": "workflows.train", "TrainEvents": "workflows.train",
    "Predictor": "workflows.predict", "label_songs": "workflows.library", "label_library": "workflows.library",
    "export_run": "workflows.export", "report": "workflows.report", "rank_runs": "workflows.report",
    "synthesize": "workflows.synth", "TagOptions": "workflows.tagging", "plan_tags": "workflows.tagging",
    "write_tags": "workflows.tagging", "undo_tags": "workflows.tagging",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name == "__version__":  # pyproject.toml's, its one home; read on use (metadata is slow to import)
        value = importlib.import_module(".core.provenance", __name__).library_versions()["genre-tf"]
    elif name in _API:
        value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    else:
        raise AttributeError(f"module 'genre_tf' has no attribute '{name}'")
    globals()[name] = value  # the next access does not come here
    return value


def __dir__():
    return sorted(__all__)
