"""The command line: one-line errors, never a traceback; a killed extraction resumes."""
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from genre_tf.cli import app
from genre_tf.io.store import FeatureStore

from .conftest import copy_runs

runner = CliRunner()


def one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0]), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in errors[0]


def test_missing_data_folder(tmp_path):
    result = runner.invoke(app, ["extract", "--data", str(tmp_path / "nowhere"), "--store", str(tmp_path / "fs")])
    one_line_error(result, "nowhere: data folder does not exist")


def test_unknown_feature(tmp_path):
    one_line_error(runner.invoke(app, ["extract", "--features", "chroma"]), "unknown --features 'chroma'")


def test_unreachable_yamnet_names_the_fix(synth_dataset, tmp_path):
    result = runner.invoke(app, ["extract", "--data", str(synth_dataset), "--store", str(tmp_path / "fs"),
                                 "--features", "embedding", "--yamnet-handle", str(tmp_path / "no-yamnet")])
    one_line_error(result, "YAMNet not found", "--yamnet-handle")


def test_extract_then_up_to_date(synth_dataset, tmp_path):
    args = ["extract", "--data", str(synth_dataset), "--store", str(tmp_path / "fs"), "--features", "mfcc"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "(27, 94, 20)" in first.stdout and "9 clips, 27 segments" in first.stdout
    assert "9 clips in 3 genres: ambient 3, rock 3, techno 3" in first.stderr
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "up to date, nothing to do" in second.stdout


def test_synth_writes_the_layout(tmp_path):
    result = runner.invoke(app, ["synth", "--out", str(tmp_path), "--genres", "2", "--clips", "2", "--seconds", "1"])
    assert result.exit_code == 0
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.wav")) == [
        "ambient/ambient.00000.wav", "ambient/ambient.00001.wav", "techno/techno.00000.wav", "techno/techno.00001.wav"]
    one_line_error(runner.invoke(app, ["synth", "--out", str(tmp_path), "--genres", "11"]), "--genres must be")


@pytest.mark.slow
def test_killed_extraction_resumes_to_the_same_store(gtzan_sample, gtzan_store, yamnet_handle, tmp_path):
    """kill -9 half-way through the real clips, then rerun: same arrays as an uninterrupted run (the
    session's real store, extracted in one go with the same YAMNet)."""
    store = tmp_path / "fs"
    cmd = [sys.executable, "-m", "genre_tf", "extract", "--data", str(gtzan_sample), "--yamnet-handle",
           yamnet_handle, "--store", str(store)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list((store / "3s" / ".partial").glob("*.npz"))) < 10 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (store / "3s" / "manifest.json").exists(), "the run finished before it could be killed"
    done_before = len(list((store / "3s" / ".partial").glob("*.npz")))
    assert 10 <= done_before < 30

    resumed = subprocess.run(cmd, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {done_before} clips already extracted" in resumed.stderr
    a, b = FeatureStore(store), FeatureStore(gtzan_store)
    assert len(a) == len(b) == 214
    assert a.index.clip_ids.tolist() == b.index.clip_ids.tolist()
    for name in ("embedding", "logmel", "mfcc"):
        np.testing.assert_allclose(np.asarray(a.array(name), np.float32), np.asarray(b.array(name), np.float32),
                                   atol=1e-5)


def test_train_cli_and_its_errors(pair_runs, synth_store, tmp_path, monkeypatch, request):
    base = ["train", "--store", str(synth_store), "--runs", str(tmp_path), "--batch-size", "8"]
    trained = pair_runs.get("cnn", "mfcc", request)  # `genre-tf train --input mfcc --model cnn --epochs 1`
    assert "clip" in trained.stdout and "saved in" in trained.stdout and "epoch 1/1" in trained.stderr
    one_line_error(runner.invoke(app, base + ["--input", "mfcc", "--model", "transformer"]), "unknown --model")
    one_line_error(runner.invoke(app, base + ["--input", "chroma", "--model", "cnn"]), "unknown --input 'chroma'")
    one_line_error(runner.invoke(app, base + ["--input", "mfcc", "--model", "cnn", "--split-ratios", "0.5,0.5"]),
                   "--split-ratios")
    one_line_error(runner.invoke(app, base + ["--input", "logmel", "--model", "cnn5", "--augment", "warp"]),
                   "unknown --augment 'warp'")
    one_line_error(runner.invoke(app, base + ["--input", "logmel", "--model", "cnn", "--segment-seconds", "4"]),
                   "no feature store here (it holds 3s, 6s segments)", "--segment-seconds 4")
    one_line_error(runner.invoke(app, base + ["--input", "musicnn", "--model", "cnn"]),
                   "--model cnn does not take musicnn")
    monkeypatch.delenv("GENRE_TF_YAMNET_WEIGHTS", raising=False)
    one_line_error(runner.invoke(app, base + ["--input", "logmel", "--model", "yamnet"]), "--yamnet-weights yamnet.h5")


def test_small_collection_workflow_cv_then_final_model(synth_store, synth_dataset, tmp_path):
    """Score a set-up with --cv, predict with its fold models; train a final model on every clip."""
    base = ["train", "--store", str(synth_store), "--runs", str(tmp_path / "runs"), "--batch-size", "8",
            "--epochs", "1", "--input", "mfcc", "--model", "linear"]
    cv = runner.invoke(app, base + ["--cv", "3"])
    assert cv.exit_code == 0, cv.output
    final = runner.invoke(app, base + ["--split-ratios", "0.8,0.2,0"])
    assert final.exit_code == 0, final.output
    assert "untested" in final.stderr and "saved in" in final.stdout
    report = runner.invoke(app, ["report", "--runs", str(tmp_path / "runs"), "--reports", str(tmp_path / "reports")])
    assert report.exit_code == 0, report.output
    assert "untested (no test split, not ranked):" in report.stderr and "cv3" in report.stdout
    song = str(synth_dataset / "rock" / "rock.00001.wav")
    by_cv = runner.invoke(app, ["predict", song, "--reports", str(tmp_path / "reports")])  # best: the CV run
    assert by_cv.exit_code == 0, by_cv.output
    assert "an ensemble of its 3 fold models" in by_cv.stderr and by_cv.stdout.startswith(song)


@pytest.mark.slow
@pytest.mark.xdist_group("reference-models")
def test_reference_model_cli_offline_and_from_scratch(pair_runs, synth_dataset, synth_store, tmp_path, monkeypatch,
                                                  request):
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    base = ["train", "--store", str(synth_store), "--runs", str(tmp_path), "--batch-size", "8", "--input", "logmel",
            "--model", "resnet50", "--image-size", "32", "--epochs", "1"]
    one_line_error(runner.invoke(app, base), "ImageNet weights for resnet50 could not be downloaded",
                   "--backbone-weights none")
    # `genre-tf train --input logmel --model resnet50 --image-size 32 --backbone-weights none --epochs 1` and
    # `genre-tf train --input logmel --model unet --segment-seconds 6 --epochs 1`, trained for the model
    # contract (which checks their runs), are this test's runs.
    resnet50, unet = (pair_runs.get(model, "logmel", request) for model in ("resnet50", "unet"))
    assert "logmel-unet-6s-" in unet.stdout
    copy_runs([resnet50.run_dir, unet.run_dir], tmp_path)
    report = runner.invoke(app, ["report", "--runs", str(tmp_path), "--reports", str(tmp_path / "reports"),
                                 "--format", "md"])
    assert "| logmel 6s | unet +specaugment |" in report.stdout and "| logmel | resnet50 |" in report.stdout
    (unet_run,) = tmp_path.glob("logmel-unet-6s-*")
    song = str(synth_dataset / "rock" / "rock.00000.wav")  # 7.6 s: one 6 s window, the rest under half of one
    result = runner.invoke(app, ["predict", song, "--run", str(unet_run)])
    assert result.exit_code == 0 and "(1 windows)" in result.stdout, result.output


def test_segment_length_must_be_usable(tmp_path):
    one_line_error(runner.invoke(app, ["extract", "--segment-seconds", "0.5"]),
                   "--segment-seconds must be between 1 and 60 s")


def test_file_names_with_brackets_are_printed_as_they_are(tmp_path):
    genre = tmp_path / "music" / "rock"
    genre.mkdir(parents=True)
    (genre / "song [live].wav").write_text("not audio")
    result = runner.invoke(app, ["extract", "--data", str(tmp_path / "music"), "--store", str(tmp_path / "fs"),
                                 "--features", "mfcc"])
    assert "song [live].wav: not a readable audio file" in result.stderr
