"""`genre-tf export`: a trained run as a model that takes a raw waveform, loadable by TensorFlow alone.

This module writes the export folder and reads its record back:

    <out>/saved_model/      signature `serve`: waveform (samples,) float32, mono, 16 kHz, in [-1, 1] ->
                            window_probabilities (windows, genres), clip_probabilities (genres,),
                            window_starts (windows,) seconds; assets/labels.txt (one genre a line,
                            in output order; `class_map_path()` gives its path, as YAMNet's does)
    <out>/model.tflite      LiteRT, where the run's ops convert (export.json says with which op set,
                            and the names of its outputs output_0, output_1, output_2)
    <out>/export.json       the run, its inputs and model, the formats written, what did not convert

Inside the graph: `predict`'s segment rule (3 s windows, no overlap; a trailing part padded if it
holds at least half a window, or if it is all there is), its level rule (a waveform peaking above
full scale is scaled down as a whole), the run's features as the store held them (float16 rounding
included), the normalization and the model(s) — the very `Predictor.probabilities` that `predict`
calls.

The contract for input `predict` refuses, the same in SavedModel and LiteRT: two more outputs,
`status` (int32: 0 labelled, 1 an empty waveform, 2 NaN or infinite samples, 3 silent, its peak below
-80 dBFS; export.json lists them) and `peak` (the largest absolute finite sample). Whenever status is
not 0 every probability is 0 (not a distribution: nothing was labelled); the windows are still cut
by the segment rule. The waveform is one mono channel: a (samples,) tensor, as the signature says.
"""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import tempfile
from pathlib import Path

from ..config import EXPORT_FORMATS, SegmentParams
from ..core.errors import GenreTfError, first_line, parse_names
from ..core.files import write_atomic
from ..core.native import native_stderr_silenced
from ..core.provenance import library_versions
from ..core.tf import freeze_variables, tf
from ..io.audio import SILENCE_PEAK
from .predict import Predictor
from .songs import PROBABILITY_TOLERANCE

SAVED_MODEL_DIR, TFLITE_FILE, RECORD_FILE, LABELS_FILE = "saved_model", "model.tflite", "export.json", "labels.txt"
SIGNATURE = "serve"
# The `status` output: what `predict` would have refused is flagged, never answered with probabilities.
OK, NO_AUDIO, NOT_FINITE, SILENT = 0, 1, 2, 3
STATUS = {OK: "labelled", NO_AUDIO: "no audio (an empty waveform)", NOT_FINITE: "NaN or infinite samples",
          SILENT: "silent (peak below -80 dBFS)"}


def segment_windows(waveform: tf.Tensor, p: SegmentParams) -> tuple[tf.Tensor, tf.Tensor]:
    """TF ops, audio.iter_windows without overlap: (samples,) -> (windows, segment samples), starts in s."""
    length = p.segment_samples
    samples = tf.shape(waveform)[0]
    full, tail = samples // length, samples % length
    padded_tail = (tail > 0) & ((full == 0) | (tf.cast(tail, tf.float32) >= p.min_remainder * length))
    count = full + tf.cast(padded_tail, tf.int32)
    kept = waveform[:count * length]
    windows = tf.reshape(tf.pad(kept, [[0, count * length - tf.shape(kept)[0]]]), (count, length))
    return windows, tf.cast(tf.range(count), tf.float32) * p.segment_seconds


def level(waveform: tf.Tensor) -> tf.Tensor:
    """TF ops, audio.check_level's gain: a waveform peaking above full scale is scaled down as a whole."""
    return waveform / tf.maximum(tf.reduce_max(tf.abs(waveform)), 1.0)  # an empty waveform's max: -inf


class WaveformModel(tf.Module):
    """A run's `Predictor` behind a waveform-in signature; tracks every network it calls, so that
    saving it saves their weights."""

    def __init__(self, predictor: Predictor, labels_file: Path):
        super().__init__(name="genre_tf")
        self._predictor = predictor
        self.features = dict(predictor.extractor.features)
        self.models = list(predictor.models)
        # As keras.export.ExportArchive does: Keras tracks some state (dropout's seed) in no attribute.
        self.model_variables = [v for model in predictor.models for v in model.variables]
        self.labels = tf.saved_model.Asset(str(labels_file))
        self.serve = tf.function(self._serve, input_signature=[tf.TensorSpec((None,), tf.float32, name="waveform")])
        self.class_map_path = tf.function(lambda: self.labels.asset_path, input_signature=[])

    def _serve(self, waveform: tf.Tensor) -> dict[str, tf.Tensor]:
        finite = tf.math.is_finite(waveform)
        clean = tf.where(finite, waveform, tf.zeros_like(waveform))
        peak = tf.reduce_max(tf.concat([tf.abs(clean), tf.zeros((1,))], axis=0))  # 0 for an empty waveform
        status = tf.where(tf.size(waveform) == 0, NO_AUDIO,
                          tf.where(tf.reduce_all(finite), tf.where(peak < SILENCE_PEAK, SILENT, OK), NOT_FINITE))
        windows, starts = segment_windows(level(clean), self._predictor.segment)
        count = tf.shape(windows)[0]
        # The networks need a batch of at least one (batch norm's shapes): an empty waveform runs one
        # silent window, whose answer is dropped.
        batch = tf.concat([windows, tf.zeros((1, self._predictor.segment.segment_samples))], axis=0)
        answered = tf.cast(status == OK, tf.float32)  # a flagged input's probabilities are all 0
        probabilities = self._predictor.probabilities(batch[:tf.maximum(count, 1)])[:count] * answered
        clip = tf.where(count > 0, tf.reduce_mean(probabilities, axis=0), tf.zeros(tf.shape(probabilities)[1:]))
        return {"window_probabilities": probabilities, "clip_probabilities": clip, "window_starts": starts,
                "status": status, "peak": peak}


@dataclasses.dataclass
class ExportResult:
    path: Path
    record: dict  # what export.json holds


def _conversion_error(error: Exception) -> str:
    """The converter's MLIR dump -> which TF ops stood in the way."""
    ops = sorted(set(re.findall(r"'(tf\.\w+)' op", str(error))) | set(re.findall(r"\b(tf\.\w+)\(", str(error))))
    return f"ops outside this op set: {', '.join(ops)}" if ops else first_line(error, 300)


# LiteRT op sets, tried in this order: TFLite's builtins, else with TF ops (Flex, a larger runtime).
OP_SETS = {"builtins": [tf.lite.OpsSet.TFLITE_BUILTINS],
           "builtins+select_tf_ops": [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]}


def _convert(function, op_sets: list[str], trackable=None,
             dynamic_range: bool = False) -> tuple[bytes | None, str | None, dict[str, str]]:
    """A concrete function as LiteRT, its variables frozen into constants (converted as variables, Keras 3
    weights came out uninitialized: NaN probabilities), with the first of `op_sets` (OP_SETS' names) that
    converts: the flatbuffer and that set's name (None, None if none did), and why each set tried before failed."""
    try:
        frozen = freeze_variables(function)
    except ValueError as e:  # Keras' LSTM assigns a variable inside its loop
        return None, None, {"freezing the weights": first_line(e, 300)}
    errors = {}
    for name in op_sets:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], trackable or tf.Module())
        converter.target_spec.supported_ops = OP_SETS[name]
        converter.optimizations = [tf.lite.Optimize.DEFAULT] if dynamic_range else []
        try:
            with native_stderr_silenced():  # the converter's MLIR dumps: summed up in the record instead
                return converter.convert(), name, errors
        except Exception as e:  # the converter's errors have no common type
            errors[name] = _conversion_error(e)
    return None, None, errors


def convert_function(function) -> tuple[bytes | None, str | None]:
    """A concrete function as LiteRT with builtin ops only (what LiteRT's own runtime runs): the flatbuffer,
    or None and why it cannot be converted, in a few words (litert.py caches a run's)."""
    flatbuffer, _, errors = _convert(function, ["builtins"])
    return flatbuffer, None if flatbuffer else "; ".join(f"{step}: {why}" for step, why in errors.items())


def convert_tflite(saved_model: Path, dynamic_range: bool = False) -> tuple[bytes | None, dict]:
    """LiteRT from the SavedModel's serve function: TFLite's builtin ops if they suffice, else with TF ops;
    the record says which, or why neither converted. A frozen function's outputs lose their names: LiteRT
    calls them output_0, ... in the order the record lists. `dynamic_range`: weights stored as int8
    (LiteRT's dynamic-range quantization; scripts/bench_library.py measures it)."""
    loaded = tf.saved_model.load(str(saved_model))
    serve = loaded.signatures[SIGNATURE]
    flatbuffer, ops, errors = _convert(serve, list(OP_SETS), loaded, dynamic_range)
    if flatbuffer is None:
        return None, {"file": None, "ops": None, "not_converted": errors}
    outputs = {f"output_{i}": name for i, name in enumerate(sorted(serve.structured_outputs))}  # dict flatten order
    return flatbuffer, {"file": TFLITE_FILE, "ops": ops, "signature": "serving_default", "outputs": outputs,
                        "not_converted": errors}


def _record(predictor: Predictor, formats: tuple[str, ...]) -> dict:
    run = predictor.run
    return {"run": str(run.path), "inputs": run.inputs, "model": run.model, "labels": run.genres,
            "folds": len(predictor.models), "segment_params": dataclasses.asdict(predictor.segment),
            "feature_params": {n: dataclasses.asdict(f.params) for n, f in predictor.extractor.features.items()},
            "signature": SIGNATURE, "saved_model": SAVED_MODEL_DIR, "formats": list(formats), "status": STATUS,
            "probability_tolerance_vs_predict": PROBABILITY_TOLERANCE,
            "genre_tf_version": library_versions()["genre-tf"]}


def export_run(predictor: Predictor, out: str | Path, formats: tuple[str, ...] = EXPORT_FORMATS) -> ExportResult:
    """Write `out` (see the module docstring) for a loaded run. Built in a temporary folder beside it
    and renamed into place, so `out` is either absent, the previous export, or complete.

    The model takes a raw waveform (mono, float32, 16 kHz) and computes the run's windows, their features and
    probabilities and the mean inside the graph, as `Predictor.predict` does. Where the run's ops do not convert
    to LiteRT, export.json says which, and the SavedModel (where asked for) is still written.

    Args:
        predictor: the loaded run.
        out: the export folder; an earlier export there is replaced.
        formats: what to write: "saved_model" and/or "tflite".

    Returns:
        An `ExportResult`: `path` (the folder) and `record` (what export.json holds: the run, its inputs and
            labels, the formats written, what did not convert).

    Raises:
        GenreTfError: an unknown format, or `out` exists and is not a genre-tf export.
    """
    out = Path(out)
    formats = parse_names(",".join(formats), "`formats`", EXPORT_FORMATS)
    if out.exists() and not (out / RECORD_FILE).is_file():
        raise GenreTfError(f"{out} exists and is not a genre-tf export; choose another `out`")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".incomplete-{out.name}."))
    try:
        record = _record(predictor, formats)
        labels = work / LABELS_FILE
        labels.write_text("".join(f"{genre}\n" for genre in predictor.genres))
        model = WaveformModel(predictor, labels)
        tf.saved_model.save(model, str(work / SAVED_MODEL_DIR), signatures={SIGNATURE: model.serve})
        labels.unlink()  # the SavedModel holds its own copy, under assets/
        if "tflite" in formats:
            flatbuffer, record["tflite"] = convert_tflite(work / SAVED_MODEL_DIR)
            if flatbuffer is not None:
                (work / TFLITE_FILE).write_bytes(flatbuffer)
        if "saved_model" not in formats:
            shutil.rmtree(work / SAVED_MODEL_DIR)
            record["saved_model"] = None
        write_atomic(work / RECORD_FILE, json.dumps(record, indent=1))
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportResult(out, record)

