"""report ranks runs and draws them; predict labels audio of any length with a run."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from genre_tf.cli import app
from genre_tf.core.errors import AudioError, GenreTfError
from genre_tf.workflows.predict import Predictor
from genre_tf.workflows.report import as_csv, as_json, as_markdown, rank_runs, resolve_run, write_report

from .conftest import copy_runs
from .helpers import sine, write_audio

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(pair_runs, synth_runs, tmp_path_factory, request):
    """Three finished runs on one split, one CV run, an unfinished and a damaged directory."""
    root = tmp_path_factory.mktemp("runs")
    plain = [pair_runs.get(model, inputs, request).run_dir for model, inputs in
             (("cnn", "mfcc"), ("cnn", "logmel"), ("lstm", "mfcc"))]
    keys = [(("mfcc",), "cnn", False), (("logmel",), "cnn", False), (("mfcc",), "lstm", False),
            (("mfcc",), "cnn", True)]
    made = dict(zip(keys, copy_runs(plain + [synth_runs["mfcc-cnn-cv3"]], root)))
    (root / ".incomplete-mfcc-cnn-x").mkdir()
    damaged = root / "damaged-run"
    shutil.copytree(made[(("mfcc",), "cnn", False)], damaged)
    (damaged / "metrics.json").write_text("{not json")
    return root, made


def test_report_groups_by_split_ranks_and_skips(runs):
    root, made = runs
    report = rank_runs(root)
    assert [len(g.runs) for g in report.groups] == [3, 1]  # the CV run is its own group
    ranked = report.groups[0].runs
    clip_accuracy = [r.metrics.value("clip", "accuracy") for r in ranked]
    assert clip_accuracy == sorted(clip_accuracy, reverse=True)
    assert report.groups[1].runs[0].is_cv and "3-fold CV" in report.groups[1].split
    assert any("left by an interrupted training" in s for s in report.skipped)
    assert any("damaged-run: unreadable metrics.json" in s for s in report.skipped)
    assert report.best == ranked[0]


def test_report_formats_and_files(runs, tmp_path):
    root, made = runs
    report = rank_runs(root, sort="segment_f1")
    markdown = as_markdown(report)
    assert markdown.count("| 1 |") == 2 and "±" in markdown  # a table per group; CV shows mean ± std
    rows = as_csv(report).splitlines()
    assert rows[0].startswith("data,split,rank,input,model") and len(rows) == 5
    assert json.loads(as_json(report))["best"] == str(report.best.path)
    folder = write_report(report, tmp_path / "reports")
    names = {p.name for p in folder.iterdir()}
    assert {"results.md", "results.csv", "ranking.json", "overview.png"} <= names
    assert sum(n.startswith("confusion-") for n in names) == sum(n.startswith("curves-") for n in names) == 4
    assert all((folder / n).stat().st_size > 10_000 for n in names if n.endswith(".png"))  # real figures
    assert resolve_run("best", tmp_path / "reports") == report.best.path


def test_report_cli(runs, tmp_path):
    root, _ = runs
    result = runner.invoke(app, ["report", "--runs", str(root), "--reports", str(tmp_path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("data,split,rank") and "skipped:" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["report", "--runs", str(empty), "--reports", str(tmp_path)])
    assert result.exit_code == 1 and "no finished runs" in result.stderr


def test_predict_matches_the_model_on_stored_features(runs, synth_dataset, synth_store):
    """A training clip streamed through predict gives the same window probabilities as the model on
    the stored features of that clip (same decode, features and normalization)."""
    from genre_tf.io.store import FeatureStore

    import keras

    root, made = runs
    run = made[(("mfcc",), "cnn", False)]
    prediction = Predictor(run).predict(synth_dataset / "rock" / "rock.00001.wav")
    store = FeatureStore(synth_store)
    rows = store.index.rows_of(["rock.00001"])
    expected = keras.models.load_model(run / "model.keras").predict({"mfcc": np.asarray(store.array("mfcc")[rows])},
                                                                    verbose=0)
    np.testing.assert_allclose(prediction.window_probabilities, expected, atol=1e-4)
    assert prediction.window_starts.tolist() == [0.0, 3.0, 6.0]
    assert prediction.genres == ["ambient", "rock", "techno"]
    assert abs(sum(p for _, p in prediction.top(3)) - 1) < 1e-5


def test_predict_any_rate_stereo_and_hop(runs, tmp_path):
    root, made = runs
    predictor = Predictor(made[(("logmel",), "cnn", False)])
    stereo = np.stack([sine(440, 10.0, 44100), sine(660, 10.0, 44100)], axis=1)
    path = write_audio(tmp_path / "song.flac", stereo, 44100)
    assert len(predictor.predict(path).window_starts) == 3  # 10 s: 3 windows, the 1 s tail dropped
    overlapping = predictor.predict(path, hop_seconds=1.5)
    assert overlapping.window_starts.tolist() == [0.0, 1.5, 3.0, 4.5, 6.0]  # 9-10 s: 1 s uncovered, dropped
    with pytest.raises(AudioError, match="silent"):
        predictor.predict(write_audio(tmp_path / "quiet.wav", np.zeros(48000, np.float32), 16000))


def test_a_cv_run_predicts_with_the_mean_of_its_fold_models(runs, synth_store):
    from genre_tf.io.store import FeatureStore

    import keras

    root, made = runs
    predictor = Predictor(made[(("mfcc",), "cnn", True)])
    assert len(predictor.models) == 3
    store = FeatureStore(synth_store)
    batch = {"mfcc": np.asarray(store.array("mfcc")[:6], np.float32)}
    folds = [keras.models.load_model(made[(("mfcc",), "cnn", True)] / f"fold-{k}" / "model.keras")
             .predict(batch, verbose=0) for k in (1, 2, 3)]
    assert not np.allclose(folds[0], folds[1], atol=1e-3)  # three different models
    np.testing.assert_allclose(predictor.models[0].predict(batch, verbose=0), folds[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.mean([m.predict_on_batch(batch) for m in predictor.models], 0), np.mean(folds, 0),
                               rtol=1e-5, atol=1e-6)


def test_a_final_run_without_test_split_is_untested_and_not_ranked(pair_runs, synth_runs, synth_dataset, tmp_path,
                                                                   request):
    root = tmp_path / "runs"
    tested, final_dir = copy_runs([pair_runs.get("cnn", "mfcc", request).run_dir, synth_runs["mfcc-cnn-final"]], root)
    assert json.loads((final_dir / "metrics.json").read_text()) == {}
    split = json.loads((final_dir / "split.json").read_text())
    assert split["test"] == [] and len(split["train"]) + len(split["valid"]) == 9  # every clip is used
    report = rank_runs(root)
    assert [r.path for g in report.groups for r in g.runs] == [tested] and report.best.path == tested
    assert [r.path for r in report.untested] == [final_dir]
    assert "Untested" in as_markdown(report) and str(final_dir) in as_json(report)
    write_report(report, tmp_path / "reports")
    prediction = Predictor(final_dir).predict(synth_dataset / "rock" / "rock.00000.wav")
    assert prediction.probabilities.sum() == pytest.approx(1, abs=1e-4)


def test_predict_refuses_missing_runs(tmp_path):
    with pytest.raises(GenreTfError, match="no such run directory"):
        Predictor(tmp_path / "nothing")


def test_predict_needs_yamnet_for_an_embedding_run(pair_runs, yamnet_handle, tmp_path, request):
    (run,) = copy_runs([pair_runs.get("cnn", "embedding", request).run_dir], tmp_path / "runs")
    config = json.loads((run / "config.json").read_text())
    config["store"]["features"]["embedding"]["params"]["handle"] = str(tmp_path / "moved-yamnet")
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(GenreTfError, match="YAMNet not found.*`yamnet_handle`"):
        Predictor(run)
    from genre_tf.config import EmbeddingParams

    assert Predictor(run, yamnet=EmbeddingParams(yamnet_handle)).predict(
        write_audio(tmp_path / "a.wav", sine(440, 3.0, 16000), 16000)).probabilities.shape == (3,)


# Peak RSS from VmHWM: ru_maxrss survives execve on Linux, so a child would report this test's own peak.
PEAK_RSS = """
import re, sys
import numpy as np
from genre_tf.workflows.predict import Predictor
predictor = Predictor(sys.argv[1])
# What is measured is predict's own streaming (decode, resample, level, windows, batches), so the model
# is a stub: TF's allocator grows over its first calls whatever the song (measured on an AMD EPYC: 70 to
# 120 MB more after six batches than after two, and 40 MB apart between runs of one song).
uniform = np.full(len(predictor.genres), 1 / len(predictor.genres), np.float32)
predictor.classify = lambda windows: np.tile(uniform, (len(windows), 1))
prediction = predictor.predict(sys.argv[2])
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
print(len(prediction.window_starts), peak_kb // 1024)
"""


@pytest.mark.slow
def test_predict_memory_stays_flat_for_long_files(runs, tmp_path):
    """Peak RSS predicting a 10-minute song is within a few MB of predicting a 2-minute one (both
    fill whole batches of windows, so only the length differs)."""
    root, made = runs
    run = str(made[(("mfcc",), "cnn", False)])
    rng = np.random.default_rng(0)
    peaks = {}
    for minutes in (2, 10):
        samples = (0.3 * rng.standard_normal(minutes * 60 * 44100)).astype(np.float32)
        path = write_audio(tmp_path / f"{minutes}.wav", samples, 44100, "PCM_16")
        out = subprocess.run([sys.executable, "-c", PEAK_RSS, run, str(path)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        windows, peaks[minutes] = map(int, out.stdout.split()[-2:])
        assert windows == minutes * 20
    # MB; decoding 10 minutes whole would add 8 x 106 MB of float32 at 44.1 kHz.
    assert abs(peaks[10] - peaks[2]) < 30, peaks


def test_predict_cli_with_the_best_run_of_the_last_report(runs, synth_dataset, tmp_path, monkeypatch):
    root, made = runs
    reports = tmp_path / "reports"
    assert runner.invoke(app, ["report", "--runs", str(root), "--reports", str(reports)]).exit_code == 0
    song = synth_dataset / "techno" / "techno.00000.wav"
    result = runner.invoke(app, ["predict", str(song), str(tmp_path / "missing.wav"), "--reports", str(reports)])
    assert result.exit_code == 0, result.output
    assert f"run {rank_runs(root).best.path}" in result.stderr
    assert "missing.wav: file not found" in result.stderr
    line = result.stdout.strip().splitlines()[0]
    assert line.startswith(f"{song}: ") and line.endswith("(3 windows)") and line.count("%") == 3
    as_json_result = runner.invoke(app, ["predict", str(song), "--run", str(made[(("mfcc",), "cnn", False)]), "--json"])
    data = json.loads(as_json_result.stdout)
    assert len(data) == 1 and len(data[0]["windows"]) == 3 and set(data[0]["genres"]) == {"ambient", "rock", "techno"}
    # No report yet: `--run best` ranks the finished runs (in saved_models/, train's default) and says which.
    monkeypatch.chdir(tmp_path)
    nothing = runner.invoke(app, ["predict", str(song), "--reports", "none"])
    assert nothing.exit_code == 1 and "no report in none and no tested run in saved_models to rank" in nothing.stderr
    copy_runs([made[key] for key in made], tmp_path / "saved_models")
    ranked = runner.invoke(app, ["predict", str(song), "--reports", "none"])
    best = rank_runs(tmp_path / "saved_models").best.path
    assert ranked.exit_code == 0, ranked.output
    assert f"no report in none: ranked the {len(made)} tested runs in saved_models by clip accuracy and picked " \
           f"saved_models/{best.name}" in " ".join(ranked.stderr.split())
