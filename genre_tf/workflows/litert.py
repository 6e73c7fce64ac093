"""Labelling without TensorFlow: a run's features and model(s) as one LiteRT model, run by LiteRT's
interpreter (ai-edge-litert, XNNPACK), so that `predict`, `tag` and `serve` answer in about a second
where TensorFlow alone takes four to start.

The LiteRT model is `Predictor.probabilities` (windows -> probabilities), converted once per run with
TensorFlow, checked against TensorFlow on a few windows, and kept beside the run, one pair of files per
fingerprint of what it was made from:

    <run>/.litert/<fingerprint>.tflite   builtin ops only (LiteRT's own runtime has no TensorFlow ops)
    <run>/.litert/<fingerprint>.json     the file's SHA-256, its input and output names; or why the run
                                         has no LiteRT model

The fingerprint covers the run's config and model files, the files its features read (YAMNet's weights,
the replacement YAMNet source), the code that builds the graph and the versions of genre-tf and the libraries
it records in a run (TensorFlow, Keras, LiteRT, NumPy...): any change makes a new fingerprint, so a stale
model is never found. Each file is written atomically, the record last, under a lock; a model is loaded from
the bytes whose digest was checked. A run that cannot be converted (Keras' LSTM; YAMNet through TF-Hub, whose
ops need TensorFlow) is recorded as such and labelled by TensorFlow, said in one line.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..config import RUNTIMES, EmbeddingParams
from ..core.errors import GenreTfError, first_line, require
from ..core.files import Lock, fingerprint, write_atomic
from ..core.native import native_stderr_silenced
from ..core.provenance import library_versions, now_iso
from ..io.prediction_table import Prediction
from ..io.runs import Run, load_run
from .songs import label_song

LITERT_FOLDER = ".litert"
AUTO, LITERT, TENSORFLOW = RUNTIMES
# LiteRT's probabilities against TensorFlow's for the same windows, checked on every model made. Not bit for
# bit: XNNPACK's kernels are not TensorFlow's (musicnn's values, up to about 170, differ in their last float32
# bits), and a model standardizes its inputs by its training clips' spread, which magnifies those bits where
# a value hardly varied over them. Measured: 1.0e-6 at most with a real musicnn run on the real clips; up to 0.014
# with the one-epoch heads the tests train on synthetic music, whose musicnn values barely vary.
LITERT_TOLERANCE = 0.02
# What the graph is made by: a change to these files' code makes a new model (an editable install keeps
# its version number across edits).
_GRAPH_CODE = ("features", "models", "workflows/predict.py", "workflows/export.py")
_PACKAGE = Path(__file__).resolve().parents[1]


def _identity(path: Path) -> dict:
    """A file's `fingerprint`, and its inode and change time: a file put back with its old size and
    modification time is still another file."""
    st = path.stat()
    return {**fingerprint(path), "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}


def run_fingerprint(run: Run, yamnet: EmbeddingParams | None = None) -> str:
    """What a run's LiteRT model is made from, as one hex digest (see the module docstring)."""
    yamnet = yamnet if "embedding" in run.inputs else None  # only an embedding run reads YAMNet
    params = [run.feature_params(name) for name in run.inputs] + ([dataclasses.asdict(yamnet)] if yamnet else [])
    weights = {v: _identity(Path(v)) for p in params for v in p.values() if isinstance(v, str) and Path(v).is_file()}
    code = {str(f): _identity(f) for part in map(_PACKAGE.joinpath, _GRAPH_CODE)
            for f in (sorted(part.rglob("*.py")) if part.is_dir() else [part])}
    parts = {"config": run.config.to_json(), "models": [_identity(p) for p in run.model_files],
             "yamnet": params[len(run.inputs):], "weights": weights, "code": code, "versions": library_versions()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class LiteRecord:
    """<fingerprint>.json: the model made for a fingerprint, or why none could be."""

    fingerprint: str
    digest: str | None = None  # the model file's SHA-256
    input: str | None = None
    output: str | None = None
    unavailable: str | None = None  # why the run has no LiteRT model
    built: str = ""


@dataclasses.dataclass(frozen=True)
class LiteModel:
    """A run's current LiteRT model: its record, and the bytes whose digest was checked (None: unavailable)."""

    record: LiteRecord
    content: bytes | None


def _files(run: Run, fingerprint: str) -> tuple[Path, Path]:
    folder = run.path / LITERT_FOLDER
    return folder / f"{fingerprint}.tflite", folder / f"{fingerprint}.json"


def cached_model(run: Run, yamnet: EmbeddingParams | None = None) -> LiteModel | None:
    """The run's LiteRT model for what the run is now, its file whole; None where it must be made (first
    use, a changed run, a damaged or unreadable file)."""
    fingerprint = run_fingerprint(run, yamnet)
    model_file, record_file = _files(run, fingerprint)
    try:
        record = LiteRecord(**json.loads(record_file.read_text()))
        if record.fingerprint != fingerprint:
            return None
        if record.unavailable:
            return LiteModel(record, None)
        content = model_file.read_bytes()
    except (OSError, ValueError, TypeError):
        return None
    return LiteModel(record, content) if hashlib.sha256(content).hexdigest() == record.digest else None


def _interpreter(content: bytes):
    """LiteRT's interpreter for a model, its tensors allocated; GenreTfError where it cannot load it."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        interpreter = Interpreter(model_content=content, num_threads=threads)
        with native_stderr_silenced():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            interpreter.allocate_tensors()
        return interpreter
    except Exception as e:  # ImportError, or LiteRT's own ValueError/RuntimeError for a model it cannot run
        raise GenreTfError(f"LiteRT cannot load the model ({type(e).__name__}: {first_line(e)})") from None


def _check_writable(folder: Path) -> None:
    """Raises GenreTfError where the model could not be kept (a read-only run folder, another user's)."""
    try:
        folder.mkdir(exist_ok=True)
        write_atomic(folder / ".writable", b"")
        (folder / ".writable").unlink()
    except OSError as e:
        raise GenreTfError(f"{folder}: cannot keep the run's LiteRT model there ({first_line(e)})") from None


def _made(predictor, fingerprint: str) -> tuple[LiteRecord, bytes | None]:
    """Convert the predictor's graph and check the result against TensorFlow on a few windows (noise, a tone,
    silence): a model that disagrees by more than LITERT_TOLERANCE, or gives a non-number, is not kept."""
    from .export import convert_function

    try:
        content, unavailable = convert_function(predictor.probabilities_function())
    except Exception as e:  # tracing or converting: the converter's errors have no common type
        content, unavailable = None, f"{type(e).__name__}: {first_line(e)}"
    if content is None:
        return LiteRecord(fingerprint, unavailable=unavailable, built=now_iso()), None
    try:
        runner = _interpreter(content).get_signature_runner()
        (name_in,), (name_out,) = runner.get_input_details(), runner.get_output_details()
        samples = predictor.segment.segment_samples
        t = np.arange(samples) / predictor.segment.sample_rate
        windows = np.stack([np.random.default_rng(0).uniform(-0.5, 0.5, samples), 0.3 * np.sin(2 * np.pi * 440 * t),
                            np.zeros(samples)]).astype(np.float32)
        lite = runner(**{name_in: windows})[name_out]
        difference = float(np.max(np.abs(lite - predictor.classify(windows))))
    except (GenreTfError, ValueError, RuntimeError) as e:
        return LiteRecord(fingerprint, unavailable=first_line(e), built=now_iso()), None
    if not np.isfinite(lite).all() or not difference <= LITERT_TOLERANCE:
        return LiteRecord(fingerprint, unavailable=f"its probabilities differ from TensorFlow's by {difference:.2g}",
                          built=now_iso()), None
    return LiteRecord(fingerprint, hashlib.sha256(content).hexdigest(), name_in, name_out, built=now_iso()), content


def build_model(run_dir: str | Path, yamnet: EmbeddingParams | None = None) -> LiteModel:
    """Convert the run to LiteRT with TensorFlow and keep it beside the run (or record why it cannot be), under
    the folder's lock: a second process waits, then finds it made.

    Raises:
        GenreTfError: the run's folder cannot be written, or the run cannot be loaded.
        ModelUnavailableError: YAMNet or musicnn's weights cannot be loaded.
    """
    from .predict import Predictor

    run = load_run(run_dir)
    folder = run.path / LITERT_FOLDER
    _check_writable(folder)
    lock = Lock(folder / ".lock")
    while not lock.acquire():  # another process is making it: wait, then use what it made
        time.sleep(0.1)
    try:
        made = cached_model(run, yamnet)
        if made is not None:
            return made
        fingerprint = run_fingerprint(run, yamnet)
        record, content = _made(Predictor(run.path, yamnet), fingerprint)
        model_file, record_file = _files(run, fingerprint)
        for stale in folder.glob("*.tflite"):  # made for what the run was before
            stale.unlink(missing_ok=True)
        if content is not None:
            write_atomic(model_file, content)
        write_atomic(record_file, json.dumps(dataclasses.asdict(record), indent=1))
        for stale in folder.glob("*.json"):
            if stale != record_file:
                stale.unlink(missing_ok=True)
    except OSError as e:
        raise GenreTfError(f"{folder}: cannot keep the run's LiteRT model there ({first_line(e)})") from None
    finally:
        lock.release()
    return LiteModel(record, content)


def choose_runtime(run_dir: str | Path, yamnet: EmbeddingParams | None = None, runtime: str = AUTO,
                   info: Callable[[str], None] = lambda message: None) -> str:
    """LITERT or TENSORFLOW for labelling with a run, making its LiteRT model first where it is missing or
    stale (this imports TensorFlow, once per run). `auto`: LiteRT where the run allows, else TensorFlow,
    said through `info`.

    Raises:
        GenreTfError: an unknown runtime, or `litert` for a run that has no LiteRT model.
        ModelUnavailableError: the model must be made, and YAMNet or musicnn's weights cannot be loaded.
    """
    check_runtime(runtime)
    if runtime == TENSORFLOW:
        return TENSORFLOW
    run = load_run(run_dir)
    made = cached_model(run, yamnet)
    if made is None:
        try:
            _check_writable(run.path / LITERT_FOLDER)
        except GenreTfError as e:
            require(runtime == AUTO, str(e))
            info(f"labelling with TensorFlow: {e}")
            return TENSORFLOW
        info(f"making the run's LiteRT model (once per run, with TensorFlow): {run.path / LITERT_FOLDER}")
        made = build_model(run.path, yamnet)
    if made.record.unavailable:
        require(runtime == AUTO, f"{run.path}: no LiteRT model ({made.record.unavailable})")
        info(f"labelling with TensorFlow: the run has no LiteRT model ({made.record.unavailable})")
        return TENSORFLOW
    return LITERT


def gpu_visible() -> bool:
    """Whether an NVIDIA GPU is there for TensorFlow (its driver lists one, and CUDA_VISIBLE_DEVICES does not
    hide it), asked without starting TensorFlow."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "0").strip() in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


def check_runtime(runtime: str) -> None:
    """Raises GenreTfError for a runtime that is not one of RUNTIMES."""
    require(runtime in RUNTIMES, f"`runtime` must be one of {', '.join(RUNTIMES)}, not '{runtime}'")


class LitePredictor:
    """A run's LiteRT model, ready to label audio without TensorFlow: the same `run`, `segment`, `genres`,
    `classify` and `predict` as `Predictor`, its probabilities within LITERT_TOLERANCE of it.

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
        made = cached_model(self.run, yamnet)
        if made is None or made.content is None:
            raise GenreTfError(f"{self.run.path}: no current LiteRT model"
                               + (f" ({made.record.unavailable})" if made else ""))
        self._runner = _interpreter(made.content).get_signature_runner()
        self._input, self._output = made.record.input, made.record.output

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
        """A song's prediction, as `Predictor.predict` gives it: the same arguments, errors and result (its
        probabilities within LITERT_TOLERANCE)."""
        return label_song(self.classify, self.segment, self.genres, source, hop_seconds, progress, limit_seconds)


def song_model(run_dir: str | Path, yamnet: EmbeddingParams | None = None, runtime: str = TENSORFLOW):
    """The model that labels songs for a chosen runtime (`choose_runtime`): a LitePredictor, or a Predictor
    (also where the LiteRT model this process was told of is not current here: a Ray worker's copy of the
    run, or its genre-tf, may differ)."""
    if runtime == LITERT:
        try:
            return LitePredictor(run_dir, yamnet)
        except GenreTfError:
            pass
    from .predict import Predictor

    return Predictor(run_dir, yamnet)
