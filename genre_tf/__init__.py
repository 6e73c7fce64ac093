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
from typing import TYPE_CHECKING

# Public name -> the module that defines it.
_API = {
    "GenreTfError": "core.errors", "AudioError": "core.errors", "DatasetError": "core.errors",
    "SplitError": "core.errors", "StoreError": "core.errors", "ModelUnavailableError": "core.errors",
    "SegmentParams": "config", "EmbeddingParams": "config", "LogMelParams": "config", "MfccParams": "config",
    "MusicnnParams": "config", "ModelOptions": "config", "TrainConfig": "config", "RayParams": "config",
    "ServeParams": "config", "embedding_params": "config", "segment_params": "config",
    "load_audio": "io.audio", "discover": "io.dataset", "find_songs": "io.dataset", "FeatureStore": "io.store",
    "load_run": "io.runs", "LabelSource": "io.labels", "label_source": "io.labels",
    "read_labelled": "io.labels", "scan_runs": "io.runs", "Run": "io.runs", "RunConfig": "io.runs",
    "History": "io.runs", "Metrics": "io.runs", "Prediction": "io.prediction_table",
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

# The same names for type checkers and IDEs, which do not run __getattr__; never imported at run time.
# `X as X` marks each as re-exported (PEP 484): the computed __all__ does not say so to them.
if TYPE_CHECKING:
    from .config import EmbeddingParams as EmbeddingParams
    from .config import LogMelParams as LogMelParams
    from .config import MfccParams as MfccParams
    from .config import ModelOptions as ModelOptions
    from .config import MusicnnParams as MusicnnParams
    from .config import RayParams as RayParams
    from .config import SegmentParams as SegmentParams
    from .config import ServeParams as ServeParams
    from .config import TrainConfig as TrainConfig
    from .config import embedding_params as embedding_params
    from .config import segment_params as segment_params
    from .core.errors import AudioError as AudioError
    from .core.errors import DatasetError as DatasetError
    from .core.errors import GenreTfError as GenreTfError
    from .core.errors import ModelUnavailableError as ModelUnavailableError
    from .core.errors import SplitError as SplitError
    from .core.errors import StoreError as StoreError
    from .engines import make_engine as make_engine
    from .features import FEATURES as FEATURES
    from .features import make_extractor as make_extractor
    from .io.audio import load_audio as load_audio
    from .io.dataset import discover as discover
    from .io.dataset import find_songs as find_songs
    from .io.labels import LabelSource as LabelSource
    from .io.labels import label_source as label_source
    from .io.labels import read_labelled as read_labelled
    from .io.prediction_table import Prediction as Prediction
    from .io.runs import History as History
    from .io.runs import Metrics as Metrics
    from .io.runs import Run as Run
    from .io.runs import RunConfig as RunConfig
    from .io.runs import load_run as load_run
    from .io.runs import scan_runs as scan_runs
    from .io.store import FeatureStore as FeatureStore
    from .io.tag_writer import TagWriteError as TagWriteError
    from .io.tag_writer import genre_field as genre_field
    from .io.tag_writer import write_genre_field as write_genre_field
    from .models import MODELS as MODELS
    from .models import build_model as build_model
    from .workflows.events import FileEvents as FileEvents
    from .workflows.export import export_run as export_run
    from .workflows.extract import ExtractResult as ExtractResult
    from .workflows.extract import extract as extract
    from .workflows.library import label_library as label_library
    from .workflows.library import label_songs as label_songs
    from .workflows.predict import Predictor as Predictor
    from .workflows.report import rank_runs as rank_runs
    from .workflows.report import report as report
    from .workflows.synth import synthesize as synthesize
    from .workflows.tagging import TagOptions as TagOptions
    from .workflows.tagging import plan_tags as plan_tags
    from .workflows.tagging import undo_tags as undo_tags
    from .workflows.tagging import write_tags as write_tags
    from .workflows.train import TrainEvents as TrainEvents
    from .workflows.train import TrainResult as TrainResult
    from .workflows.train import train as train

    __version__: str


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
