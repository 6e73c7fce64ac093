"""Labelling without TensorFlow: a run's LiteRT model is made once, kept beside the run, used only while it
is the run's (rebuilt when the run changed or the file is damaged), and `predict` and `serve` then answer
without importing TensorFlow. Runs that cannot convert are labelled by TensorFlow, said in one line.
(That LiteRT's probabilities equal TensorFlow's for every model and input: test_train.py's contract test.)"""
import json
import os
import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import pytest

from genre_tf.core.errors import GenreTfError
from genre_tf.io.runs import load_run
from genre_tf.workflows import litert
from genre_tf.workflows.litert import LITERT_FOLDER, LitePredictor, cached_model, choose_runtime

from .conftest import copy_runs


@pytest.fixture(scope="module")
def lite_run(pair_runs, request, tmp_path_factory):
    """A copy of the cnn/logmel pair (tests here change it), its LiteRT model made."""
    (run,) = copy_runs([pair_runs.get("cnn", "logmel", request).run_dir], tmp_path_factory.mktemp("lite"))
    assert choose_runtime(run) == litert.LITERT
    return run


def test_the_model_is_made_once_and_used_while_it_is_the_runs(lite_run):
    told = []
    with mock.patch.object(litert, "build_model") as build:
        assert choose_runtime(lite_run, info=told.append) == litert.LITERT
    assert not build.called and told == []  # current: used as it is
    record = json.loads((lite_run / LITERT_FOLDER / "record.json").read_text())
    assert record["fingerprint"] == litert.run_fingerprint(load_run(lite_run)) and record["unavailable"] is None


@pytest.mark.parametrize("change", ["model file rewritten", "config changed", "model.tflite damaged",
                                    "record damaged"])
def test_a_stale_or_damaged_model_is_rebuilt_never_used(lite_run, change):
    model_file = load_run(lite_run).model_files[0]
    if change == "model file rewritten":  # a retrained or replaced model: same name, a new file
        data = model_file.read_bytes()
        model_file.unlink()
        model_file.write_bytes(data)
        os.utime(model_file, ns=(model_file.stat().st_atime_ns, model_file.stat().st_mtime_ns + 10**9))
    elif change == "config changed":
        config = json.loads((lite_run / "config.json").read_text())
        config["labels"] = list(reversed(config["labels"]))  # another output order: the old model would mislabel
        (lite_run / "config.json").write_text(json.dumps(config))
    elif change == "model.tflite damaged":
        tflite = lite_run / LITERT_FOLDER / "model.tflite"
        tflite.write_bytes(tflite.read_bytes()[:1000])
    else:
        (lite_run / LITERT_FOLDER / "record.json").write_text("{not json")
    assert cached_model(load_run(lite_run)) is None
    with pytest.raises(GenreTfError, match="no current LiteRT model"):
        LitePredictor(lite_run)
    told = []
    assert choose_runtime(lite_run, info=told.append) == litert.LITERT
    assert told == [f"making the run's LiteRT model (once per run, with TensorFlow): {lite_run / LITERT_FOLDER}"]
    assert cached_model(load_run(lite_run)) is not None
    windows = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 48000)).astype(np.float32)
    assert np.isfinite(LitePredictor(lite_run).classify(windows)).all()


def test_a_run_without_a_litert_model_is_labelled_by_tensorflow_said_once(pair_runs, request):
    run = pair_runs.get("lstm", "mfcc", request).run_dir
    told = []
    assert choose_runtime(run, info=told.append) == litert.TENSORFLOW
    assert told[-1].startswith("labelling with TensorFlow: the run has no LiteRT model (freezing the weights:")
    with mock.patch.object(litert, "build_model") as build:  # recorded: not tried again
        assert choose_runtime(run) == litert.TENSORFLOW and not build.called
        with pytest.raises(GenreTfError, match="no LiteRT model"):
            choose_runtime(run, runtime="litert")
    assert choose_runtime(run, runtime="tensorflow") == litert.TENSORFLOW
    with pytest.raises(GenreTfError, match="`runtime` must be one of auto, litert, tensorflow, not 'tf'"):
        choose_runtime(run, runtime="tf")


@pytest.mark.slow
def test_predict_and_serve_answer_without_importing_tensorflow(lite_run, synth_dataset):
    """In a fresh process: `genre-tf predict` on the command line, then the server's first answer (with
    its spectrogram), and neither TensorFlow nor Keras is imported."""
    song = next(synth_dataset.glob("rock/*.wav"))
    choose_runtime(lite_run)  # current, after the other tests' changes
    code = textwrap.dedent(f"""
        import sys
        from fastapi.testclient import TestClient
        from genre_tf.cli import app
        from genre_tf.serving.server import create_app
        from genre_tf.workflows.litert import LitePredictor

        try:
            app(["predict", {str(song)!r}, "--run", {str(lite_run)!r}, "--runtime", "litert"])
        except SystemExit as e:
            assert not e.code, e.code
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
