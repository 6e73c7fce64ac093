"""Labelling without TensorFlow: a run's LiteRT model is made once, checked against TensorFlow, kept beside the
run under the fingerprint of what it was made from (a changed run or a damaged file is made again, never
used), and `predict`, `tag` and `serve` then answer without importing TensorFlow. Runs that cannot convert
are labelled by TensorFlow, said in one line. (That LiteRT's probabilities equal TensorFlow's for every model
and input: test_train.py's contract test; a library table from either: test_library.py.)"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import pytest

from genre_tf.config import EmbeddingParams
from genre_tf.core.errors import GenreTfError
from genre_tf.io.runs import load_run
from genre_tf.workflows import litert
from genre_tf.workflows.litert import (
    LITERT_FOLDER,
    LITERT_TOLERANCE,
    LitePredictor,
    cached_model,
    choose_runtime,
    run_fingerprint,
)
from genre_tf.workflows.predict import Predictor

from .conftest import copy_runs

MAKING = "making the run's LiteRT model (once per run, with TensorFlow): "


def fresh_copy(run, folder):
    """A copy of a session's run without the LiteRT model other tests' `predict` may have made beside it."""
    (copy,) = copy_runs([run], folder)
    shutil.rmtree(copy / LITERT_FOLDER, ignore_errors=True)
    return copy


@pytest.fixture(scope="module")
def lite_run(pair_runs, request, tmp_path_factory):
    """A copy of the cnn/logmel pair (tests here change it), its LiteRT model made."""
    run = fresh_copy(pair_runs.get("cnn", "logmel", request).run_dir, tmp_path_factory.mktemp("lite"))
    assert choose_runtime(run) == litert.LITERT
    return run


def _files(run) -> tuple:
    fingerprint = run_fingerprint(load_run(run))
    return run / LITERT_FOLDER / f"{fingerprint}.tflite", run / LITERT_FOLDER / f"{fingerprint}.json"


def test_the_model_is_made_once_and_used_while_it_is_the_runs(lite_run):
    told = []
    with mock.patch.object(litert, "build_model") as build:
        assert choose_runtime(lite_run, info=told.append) == litert.LITERT
    assert not build.called and told == []  # current: used as it is
    model_file, record_file = _files(lite_run)
    record = json.loads(record_file.read_text())
    assert record["unavailable"] is None and model_file.is_file()
    assert sorted(p.name for p in (lite_run / LITERT_FOLDER).iterdir() if not p.name.startswith(".")) == \
        sorted([model_file.name, record_file.name])  # nothing left of other fingerprints


@pytest.mark.parametrize("change", ["model file replaced, same size and time", "config changed",
                                    "model.tflite damaged", "record damaged"])
def test_a_stale_or_damaged_model_is_made_again_never_used(lite_run, change):
    model_file = load_run(lite_run).model_files[0]
    before = run_fingerprint(load_run(lite_run))
    if change.startswith("model file replaced"):  # a retrained model put in its place, its size and time kept
        data, stat = model_file.read_bytes(), model_file.stat()
        model_file.unlink()
        model_file.write_bytes(data)
        os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    elif change == "config changed":  # another genre order: the labels are read from the run, not the model
        config = json.loads((lite_run / "config.json").read_text())
        config["labels"] = list(reversed(config["labels"]))
        (lite_run / "config.json").write_text(json.dumps(config))
    elif change == "model.tflite damaged":
        tflite = _files(lite_run)[0]
        tflite.write_bytes(tflite.read_bytes()[:1000])
    else:
        _files(lite_run)[1].write_text("{not json")
    assert (run_fingerprint(load_run(lite_run)) != before) == change.startswith(("model file", "config"))
    assert cached_model(load_run(lite_run)) is None
    with pytest.raises(GenreTfError, match="no current LiteRT model"):
        LitePredictor(lite_run)
    told = []
    assert choose_runtime(lite_run, info=told.append) == litert.LITERT
    assert told == [MAKING + str(lite_run / LITERT_FOLDER)]
    windows = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 48000)).astype(np.float32)
    np.testing.assert_allclose(LitePredictor(lite_run).classify(windows), Predictor(lite_run).classify(windows),
                               atol=LITERT_TOLERANCE)


def test_a_cross_validation_run_is_its_folds_mean_in_litert_too(synth_runs, synth_dataset):
    run = synth_runs["mfcc-cnn-cv3"]
    assert choose_runtime(run) == litert.LITERT
    song = next(synth_dataset.glob("techno/*.wav"))
    lite, expected = LitePredictor(run).predict(song), Predictor(run).predict(song)
    assert len(load_run(run).model_files) == 3
    np.testing.assert_allclose(lite.window_probabilities, expected.window_probabilities, atol=LITERT_TOLERANCE)


def test_another_yamnet_source_is_another_model(pair_runs, request, yamnet_weights):
    """An embedding run's model is made for the YAMNet it reads: TF-Hub's needs TensorFlow's own ops (the run
    is labelled by TensorFlow), YAMNet's Keras weights convert; a run without embeddings ignores the source."""
    run = pair_runs.get("cnn", "embedding", request).run_dir
    keras_yamnet = EmbeddingParams(None, yamnet_weights)
    hub, weights = run_fingerprint(load_run(run)), run_fingerprint(load_run(run), keras_yamnet)
    assert hub != weights
    told = []
    assert choose_runtime(run, info=told.append) == litert.TENSORFLOW
    assert told[-1].startswith("labelling with TensorFlow: the run has no LiteRT model (builtins: ")
    assert choose_runtime(run, keras_yamnet) == litert.LITERT
    mfcc_run = load_run(pair_runs.get("cnn", "mfcc", request).run_dir)
    assert run_fingerprint(mfcc_run, keras_yamnet) == run_fingerprint(mfcc_run)


def test_a_run_without_a_litert_model_is_labelled_by_tensorflow_said_in_one_line(pair_runs, request, tmp_path):
    run = fresh_copy(pair_runs.get("lstm", "mfcc", request).run_dir, tmp_path)
    told = []
    assert choose_runtime(run, info=told.append) == litert.TENSORFLOW
    assert told[0] == MAKING + str(run / LITERT_FOLDER)
    assert len(told) == 2 and told[1].startswith("labelling with TensorFlow: the run has no LiteRT model "
                                                 "(freezing the weights: ")
    with mock.patch.object(litert, "build_model") as build:  # recorded: not tried again
        told.clear()
        assert choose_runtime(run, info=told.append) == litert.TENSORFLOW and not build.called and len(told) == 1
        with pytest.raises(GenreTfError, match="no LiteRT model"):
            choose_runtime(run, runtime="litert")
    assert choose_runtime(run, runtime="tensorflow") == litert.TENSORFLOW
    with pytest.raises(GenreTfError, match="`runtime` must be one of auto, litert, tensorflow, not 'tf'"):
        choose_runtime(run, runtime="tf")


def test_a_run_folder_that_cannot_be_written_is_labelled_by_tensorflow_without_converting(pair_runs, request,
                                                                                          tmp_path):
    run = fresh_copy(pair_runs.get("cnn", "mfcc", request).run_dir, tmp_path)
    (run / LITERT_FOLDER).write_text("")  # a file where the folder would go: as a read-only folder, to root too
    told = []
    with mock.patch.object(litert, "build_model") as build:
        assert choose_runtime(run, info=told.append) == litert.TENSORFLOW and not build.called
    assert len(told) == 1 and told[0].startswith(f"labelling with TensorFlow: {run / LITERT_FOLDER}: cannot keep "
                                                 "the run's LiteRT model there (")
    with pytest.raises(GenreTfError, match="cannot keep the run's LiteRT model there"):
        choose_runtime(run, runtime="litert")


@pytest.mark.slow
def test_predict_tag_and_serve_answer_without_importing_tensorflow(lite_run, synth_dataset, tmp_path):
    """In a fresh process, the default runtime: `genre-tf predict` of a song and of a folder into a table,
    `tag`'s plan, then the server's first answer (with its spectrogram); neither TensorFlow nor Keras is
    imported."""
    song = next(synth_dataset.glob("rock/*.wav"))
    choose_runtime(lite_run)  # current, after the other tests' changes
    commands = [["predict", str(song)], ["predict", str(synth_dataset), "--out", str(tmp_path / "table.csv")],
                ["tag", str(synth_dataset), "--out", str(tmp_path / "tagging")]]
    code = textwrap.dedent(f"""
        import sys
        from fastapi.testclient import TestClient
        from genre_tf.cli import app
        from genre_tf.serving.server import create_app
        from genre_tf.workflows.litert import LitePredictor

        for command in {commands!r}:
            try:
                app([*command, "--run", {str(lite_run)!r}])
            except SystemExit as e:
                assert not e.code, (command, e.code)
        with TestClient(create_app(LitePredictor({str(lite_run)!r}))) as client:
            with open({str(song)!r}, "rb") as f:
                answer = client.post("/api/predict?spectrogram=true", files={{"file": ("song.wav", f)}})
        assert answer.status_code == 200 and answer.json()["log_mel_png"].startswith("data:image/png"), answer.text
        print("served", answer.json()["top"][0]["genre"])
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
        print("imported:", heavy[:3])
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == "imported: []", lines[-1]
    predicted = next(line for line in lines if line.startswith(str(song)))
    assert predicted.endswith("(3 windows)") and lines[-2].startswith("served ")  # 7.6 s: 3 s, 3 s, 1.6 s padded
    assert (tmp_path / "table.csv").is_file() and (tmp_path / "tagging" / "plan.csv").is_file()
