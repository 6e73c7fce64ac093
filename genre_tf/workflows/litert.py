"""Labelling without TensorFlow: a run's features and model(s) as one LiteRT model, run by LiteRT's
interpreter (ai-edge-litert, XNNPACK), so that `predict`, `tag` and `serve` answer in about a second
where TensorFlow alone takes four to start.

The LiteRT model is `Predictor.probabilities` (windows -> probabilities), converted once per run with
TensorFlow and cached beside the run:

    <run>/.litert/model.tflite   builtin ops only (LiteRT's own runtime has no TensorFlow ops)
    <run>/.litert/record.json    the run's fingerprint it was made for, the model file's SHA-256, its
                                 input and output names; or why the run cannot be converted

Each file is replaced atomically, the record last: a model is used only when the record's fingerprint is
the run's (its config, its model files, the YAMNet source, genre-tf's version) and the file's digest is
the record's; otherwise it is rebuilt. A run that cannot be converted (Keras' LSTM; YAMNet through
TF-Hub, whose ops need TensorFlow) is recorded as such and labelled by TensorFlow, said in one line.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..config import RUNTIMES, EmbeddingParams
from ..core.errors import GenreTfError, first_line, require
from ..core.files import file_digest, write_atomic
from ..core.native import native_stderr_silenced
from ..core.provenance import now_iso
from ..io.prediction_table import Prediction
from ..io.runs import Run, load_run
from .songs import label_song

LITERT_FOLDER = ".litert"
# LiteRT's probabilities against TensorFlow's for the same windows: XNNPACK's kernels, and a feature's
# float16 rounding that may go the other way (the closest ulp).
LITERT_TOLERANCE = 1e-3
MODEL_FILE, RECORD_FILE = "model.tflite", "record.json"
AUTO, LITERT, TENSORFLOW = RUNTIMES


def _version() -> str:
    from importlib import metadata

    return metadata.version("genre-tf")


def run_fingerprint(run: Run, yamnet: EmbeddingParams | None = None) -> str:
    """What the LiteRT model is made from: the run's config and model files (by size and modification
    time), the YAMNet source where it is replaced, and genre-tf's version (its feature code)."""
    stat = [(p.relative_to(run.path).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in run.model_files]
    parts = {"config": hashlib.sha256((run.path / "config.json").read_bytes()).hexdigest(), "models": stat,
             "yamnet": dataclasses.asdict(yamnet) if yamnet else None, "genre_tf": _version()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class LiteRecord:
    """record.json: the model made for a run's fingerprint, or why none could be."""

    fingerprint: str
    digest: str | None = None  # the model file's SHA-256
    input: str | None = None
    output: str | None = None
    unavailable: str | None = None  # why the run has no LiteRT model
    built: str = ""

    @classmethod
    def read(cls, folder: Path) -> LiteRecord | None:
        try:
            return cls(**json.loads((folder / RECORD_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return None  # none yet, or damaged: made again


def cached_model(run: Run, yamnet: EmbeddingParams | None = None) -> LiteRecord | None:
    """The run's cached LiteRT record where it is current (for this fingerprint, its model file whole);
    None where it must be made (first use, or the run changed since)."""
    folder = run.path / LITERT_FOLDER
    record = LiteRecord.read(folder)
    if record is None or record.fingerprint != run_fingerprint(run, yamnet):
        return None
    if record.unavailable or (folder / MODEL_FILE).is_file() and file_digest(folder / MODEL_FILE) == record.digest:
        return record
    return None


def build_model(run_dir: str | Path, yamnet: EmbeddingParams | None = None) -> LiteRecord:
    """Convert the run to LiteRT with TensorFlow and cache it beside the run (or record why it cannot be).

    Raises:
        GenreTfError: the run's folder cannot be written.
    """
    from .export import convert_function
    from .predict import Predictor

    run = load_run(run_dir)
    folder = run.path / LITERT_FOLDER
    fingerprint = run_fingerprint(run, yamnet)
    predictor = Predictor(run.path, yamnet)
    flatbuffer, unavailable = convert_function(predictor.probabilities_function())
    try:
        folder.mkdir(exist_ok=True)
        if flatbuffer is None:
            record = LiteRecord(fingerprint, unavailable=unavailable, built=now_iso())
        else:
            write_atomic(folder / MODEL_FILE, flatbuffer)
            names = _signature(folder / MODEL_FILE)
            record = LiteRecord(fingerprint, hashlib.sha256(flatbuffer).hexdigest(), *names, built=now_iso())
        write_atomic(folder / RECORD_FILE, json.dumps(dataclasses.asdict(record), indent=1))
    except OSError as e:
        raise GenreTfError(f"{folder}: cannot keep the run's LiteRT model ({first_line(e)})") from None
    return record


def _interpreter(model_file: Path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_file), num_threads=len(os.sched_getaffinity(0)))
    with native_stderr_silenced():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        interpreter.allocate_tensors()
    return interpreter


def _signature(model_file: Path) -> tuple[str, str]:
    runner = _interpreter(model_file).get_signature_runner()
    (name_in,), (name_out,) = runner.get_input_details(), runner.get_output_details()
    return name_in, name_out


def choose_runtime(run_dir: str | Path, yamnet: EmbeddingParams | None = None, runtime: str = AUTO,
                   info: Callable[[str], None] = lambda message: None) -> str:
    """LITERT or TENSORFLOW for labelling with a run, making its LiteRT model first where it is missing or
    stale (this imports TensorFlow, once per run). `auto`: LiteRT where the run allows, else TensorFlow,
    said through `info`.

    Raises:
        GenreTfError: an unknown runtime, or `litert` for a run that cannot be converted.
    """
    require(runtime in RUNTIMES, f"`runtime` must be one of {', '.join(RUNTIMES)}, not '{runtime}'")
    if runtime == TENSORFLOW:
        return TENSORFLOW
    run = load_run(run_dir)
    record = cached_model(run, yamnet)
    if record is None:
        info(f"making the run's LiteRT model (once per run, with TensorFlow): {run.path / LITERT_FOLDER}")
        try:
            record = build_model(run.path, yamnet)
        except GenreTfError as e:  # a run folder this user cannot write
            require(runtime == AUTO, str(e))
            info(f"labelling with TensorFlow: {e}")
            return TENSORFLOW
    if record.unavailable:
        require(runtime == AUTO, f"{run.path}: no LiteRT model ({record.unavailable})")
        info(f"labelling with TensorFlow: the run has no LiteRT model ({record.unavailable})")
        return TENSORFLOW
    return LITERT


class LitePredictor:
    """A run's cached LiteRT model, ready to label audio without TensorFlow (`Predictor`'s interface).

    Args:
        run_dir: the run's folder; its LiteRT model must be current (`choose_runtime` makes it).
        yamnet: the YAMNet source the model was made with, where it replaced the run's.

    Attributes:
        run: the run, as `load_run` reads it.
        segment: the run's segment parameters: a window's length and rate.
    """

    def __init__(self, run_dir: str | Path, yamnet: EmbeddingParams | None = None):
        self.run = load_run(run_dir)
        self.segment = self.run.segment
        record = cached_model(self.run, yamnet)
        if record is None or record.unavailable:
            raise GenreTfError(f"{self.run.path}: no current LiteRT model"
                               + (f" ({record.unavailable})" if record else ""))
        self._runner = _interpreter(self.run.path / LITERT_FOLDER / MODEL_FILE).get_signature_runner()
        self._input, self._output = record.input, record.output

    @property
    def genres(self) -> list[str]:
        """The genre names in the order of the probabilities."""
        return self.run.genres

    def classify(self, windows: np.ndarray) -> np.ndarray:
        """(windows, segment samples) -> (windows, genres).

        Args:
            windows: (windows, segment samples) array of mono audio at the run's rate, in [-1, 1].

        Returns:
            (windows, genres) float32 array of probabilities, in `genres` order.
        """
        return self._runner(**{self._input: np.asarray(windows, np.float32)})[self._output]

    def predict(self, source, hop_seconds: float | None = None, progress: Callable[[float], None] | None = None,
                limit_seconds: float | None = None) -> Prediction:
        """A song's prediction, as `Predictor.predict` gives it (the same arguments, within
        PROBABILITY_TOLERANCE).

        Args:
            source (str | os.PathLike | BinaryIO): a path, or a binary file object, of a supported audio format.
            hop_seconds: seconds between window starts; None: the window length.
            progress: called with the fraction of the song done (0 to 1) after each batch of windows.
            limit_seconds: the longest song accepted, in seconds; None: no limit.

        Returns:
            The song's prediction: each window's probabilities and their mean.

        Raises:
            GenreTfError: a hop out of range.
            AudioError: a file that yields no usable music, or one longer than `limit_seconds`.
        """
        return label_song(self.classify, self.segment, self.genres, source, hop_seconds, progress, limit_seconds)


def song_model(run_dir: str | Path, yamnet: EmbeddingParams | None = None, runtime: str = TENSORFLOW):
    """The model that labels songs for a chosen runtime (`choose_runtime`): a LitePredictor or a Predictor."""
    if runtime == LITERT:
        return LitePredictor(run_dir, yamnet)
    from .predict import Predictor

    return Predictor(run_dir, yamnet)
