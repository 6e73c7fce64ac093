"""Where things are and how work is batched: folders, batch sizes, engines, the server."""
from __future__ import annotations

import dataclasses

from ..core.errors import require

# Folders, relative to where genre-tf runs.
DEFAULT_DATA = "data/music"  # <genre>/<clip> audio, when a new store is given no data folder
DEFAULT_STORE = "features"
DEFAULT_RUNS = "saved_models"
DEFAULT_REPORTS = "reports"
# `--run best`: the top run of the last report.
BEST_RUN = "best"

EXTRACT_BATCH_SIZE = 64  # segments per feature batch
DECODE_WORKERS = 2  # the local engine's decoding threads
MAX_FILES_AHEAD = 64  # decoded files waiting at most in the local engine, however short they are
WINDOW_BATCH = 32  # windows of songs featurized and classified at a time
TOP_GENRES = 3  # genres shown per song, and columns of a prediction table

# Where a dataset's labels come from (`labels`): genre folders (the default), a CSV of path,genre[,split],
# FMA's tracks.csv, or each file's own genre tag.
LABEL_KINDS = ("folders", "csv", "fma", "tags")
FMA_SUBSETS = ("small", "medium", "large")  # each holds the one before it
MIN_CLIPS_PER_GENRE = 5  # `labels="tags"`: smaller genres are dropped (too few to split, or to learn)
# `predict FOLDER --out T --compare-tags`: a song is flagged when its tag disagrees with a prediction
# at least this confident.
TAG_DISAGREEMENT_CONFIDENCE = 0.5

# Where extraction and library labelling run: this process, or a Ray cluster.
ENGINES = ("local", "ray")
EXPORT_FORMATS = ("saved_model", "tflite")


@dataclasses.dataclass(frozen=True)
class RayParams:
    """`engine="ray"`: which cluster, and how the actors that hold a model are placed."""

    address: str | None = None  # a running cluster ("ray://host:10001", "host:6379"); None: $RAY_ADDRESS, else a local Ray
    actors: int | None = None  # model actors; None: one per GPU where they get GPUs, else one per node
    gpus: float | None = None  # GPUs per actor; None: 1 where the cluster has GPUs, else 0
    files_per_task: int = 8  # audio files one decoding task reads

    def __post_init__(self):
        require(self.actors is None or self.actors >= 1, f"`ray_actors` must be at least 1, not {self.actors}")
        require(self.gpus is None or self.gpus >= 0, f"`ray_gpus` must be 0 or more, not {self.gpus}")


@dataclasses.dataclass(frozen=True)
class ServeParams:
    """`serve`: where it listens and what it accepts."""

    host: str = "127.0.0.1"  # this machine only; 0.0.0.0 to share it on a network
    port: int = 7860  # Gradio's, the field's habit for such pages
    max_upload_mb: float = 50.0  # about 5 min of CD-quality WAV, 50 min of 128 kbit/s MP3
    spectrogram_seconds: float = 600.0  # the page draws the log-mel of at most this much of a song

    def __post_init__(self):
        require(self.max_upload_mb > 0, f"`max_upload_mb` must be positive, not {self.max_upload_mb:g}")


@dataclasses.dataclass(frozen=True)
class SynthParams:
    """`synth`: the synthetic dataset the tests and the demo use."""

    genres: int = 10
    clips: int = 10
    seconds: float = 30.0
    seed: int = 0
    sample_rate: int = 22050
