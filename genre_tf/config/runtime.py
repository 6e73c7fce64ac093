"""Where things are and how work is batched: folders, batch sizes, engines, the server."""
from __future__ import annotations

import dataclasses
import math

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
# Lines about files passed over that `extract` prints; past them, a count and the full list in the store's
# problems.txt (a labels CSV of a million missing files is not a million lines on every rerun).
MAX_PROBLEMS_SHOWN = 20
# Genres whose clip counts `extract` prints; a collection of thousands gets a count for the rest.
GENRES_LISTED = 50
# `predict FOLDER --out T --compare-tags`: a song is flagged when its tag disagrees with a prediction
# at least this confident.
TAG_DISAGREEMENT_CONFIDENCE = 0.5

# `tag`: genres written into a library's own tags.
DEFAULT_TAGGING = "tagging"  # its work folder: the prediction table, the plan, the journals
# fill: only songs without a genre; replace: every song's genre becomes the prediction; add: the prediction
# beside the genres a song has.
TAG_MODES = ("fill", "replace", "add")
# The default --min-confidence is the run's own: the lowest confidence above which at least this share of
# its test clips' top genres were right, measured over at least TAG_CALIBRATION_CLIPS of them.
TAG_PRECISION = 0.9
TAG_CALIBRATION_CLIPS = 50
# For a run without test clips (a final run): the highest such confidence of six runs on real music
# (GTZAN, 5-fold CV; linear, logreg and mlp heads on musicnn and embedding+musicnn: 0.60 to 0.94).
TAG_MIN_CONFIDENCE = 0.95
PLAN_ROWS_SHOWN = 50  # `tag` prints the plan's first changes and refusals; plan.csv holds every song

# Where extraction and library labelling run: this process, or a Ray cluster.
ENGINES = ("local", "ray")
EXPORT_FORMATS = ("saved_model", "tflite")
# What runs a run's model when labelling songs: LiteRT where the run converts to it (no TensorFlow to
# start: a song in about a second), else TensorFlow; LiteRT only (refused where it cannot); TensorFlow.
RUNTIMES = ("auto", "litert", "tensorflow")


@dataclasses.dataclass(frozen=True)
class RayParams:
    """`engine="ray"`: which cluster, and how the actors that hold a model are placed.

    Attributes:
        address: a running cluster ("ray://host:10001", "host:6379"); None: $RAY_ADDRESS, else a local Ray
            started on this machine.
        actors: actors holding the model; None: one per GPU where they get GPUs, else one per node.
        gpus: GPUs per actor (0.5: two actors share one); None: 1 where the cluster has GPUs, else 0.
        files_per_task: audio files one decoding task reads.

    Raises:
        GenreTfError: an empty `address`, fewer than 1 actor, or a negative GPU share.
    """

    # a running cluster ("ray://host:10001", "host:6379"); None: $RAY_ADDRESS, else a local Ray
    address: str | None = None
    actors: int | None = None  # model actors; None: one per GPU where they get GPUs, else one per node
    gpus: float | None = None  # GPUs per actor; None: 1 where the cluster has GPUs, else 0
    files_per_task: int = 8  # audio files one decoding task reads

    def __post_init__(self):
        require(self.address is None or bool(self.address.strip()),
                "`ray_address` must name a cluster (host:6379, ray://host:10001), not an empty string; leave it out "
                "for $RAY_ADDRESS or a local Ray")
        require(self.actors is None or self.actors >= 1, f"`ray_actors` must be at least 1, not {self.actors}")
        require(self.gpus is None or self.gpus >= 0, f"`ray_gpus` must be 0 or more, not {self.gpus}")


@dataclasses.dataclass(frozen=True)
class ServeParams:
    """`serve`: where it listens and what it accepts.

    Attributes:
        host: the address it listens on: 127.0.0.1 (this machine only), 0.0.0.0 to share it on a network.
        port: the TCP port.
        max_upload_mb: the largest upload accepted, in MB (50: about 5 min of CD-quality WAV, 50 min of
            128 kbit/s MP3).
        max_audio_seconds: seconds of audio decoded per request, at most: a small upload can declare hours (a 1 Hz
            header, a long constant FLAC); checked from the header before decoding and enforced while decoding.
        spectrogram_seconds: the page draws the log-mel of at most this much of a song, in seconds.
        shutdown_seconds: a stopping server waits this long for requests in progress, then cancels them.

    Raises:
        GenreTfError: an empty `host`, a port outside 1 to 65535, or a size or length limit that is not a
            positive number.
    """

    host: str = "127.0.0.1"  # this machine only; 0.0.0.0 to share it on a network
    port: int = 7860  # Gradio's, the field's habit for such pages
    max_upload_mb: float = 50.0  # about 5 min of CD-quality WAV, 50 min of 128 kbit/s MP3
    # Audio decoded per request, at most: a small upload can declare hours (a 1 Hz header, a long constant
    # FLAC); checked from the header before decoding and enforced while decoding.
    max_audio_seconds: float = 1200.0
    spectrogram_seconds: float = 600.0  # the page draws the log-mel of at most this much of a song
    # A stopping server waits this long for requests in progress, then cancels them.
    shutdown_seconds: float = 3.0

    def __post_init__(self):
        require(bool(self.host.strip()), "`host` must name an address (127.0.0.1 for this machine, 0.0.0.0 for "
                                         "every interface), not an empty string")
        require(1 <= self.port <= 65535, f"`port` must be between 1 and 65535, not {self.port}")
        for argument in ("max_upload_mb", "max_audio_seconds"):
            value = getattr(self, argument)
            require(math.isfinite(value) and value > 0, f"`{argument}` must be a positive number, not {value:g}")


@dataclasses.dataclass(frozen=True)
class SynthParams:
    """`synth`: the synthetic dataset the tests and the demo use."""

    genres: int = 10
    clips: int = 10
    seconds: float = 30.0
    seed: int = 0
    sample_rate: int = 22050

    def __post_init__(self):
        require(self.clips >= 1, f"`clips` must be at least 1, not {self.clips}")
        require(math.isfinite(self.seconds) and 1 <= self.seconds <= 3600,
                f"`seconds` must be between 1 and 3600, not {self.seconds:g}")
        require(0 <= self.seed < 2 ** 32, f"`seed` must be between 0 and 2**32 - 1, not {self.seed}")
