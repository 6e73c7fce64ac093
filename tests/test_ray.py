"""`--engine ray` on a local Ray of 2 CPUs: the same store as the local engine, resumable, bad files
reported and skipped; a library labelled on Ray agrees with `predict`."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from genre_tf.cli import app
from genre_tf.config import EmbeddingParams, RayParams
from genre_tf.core.errors import GenreTfError, StoreError
from genre_tf.io.prediction_table import _read_rows
from genre_tf.io.store import FeatureStore
from genre_tf.io.tag_writer import genre_field
from genre_tf.workflows.extract import extract
from genre_tf.workflows.library import label_library
from genre_tf.workflows.predict import Predictor
from genre_tf.workflows.songs import PROBABILITY_TOLERANCE
from genre_tf.workflows.tagging import TagOptions, plan_tags

from .conftest import GTZAN_FEATURES
from .helpers import assert_same_features, write_audio
from .test_extract import FAST, Recorder

runner = CliRunner()
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # a Ray cluster in every test; one worker starts it


@pytest.fixture
def dataset(synth_dataset, tmp_path):
    return shutil.copytree(synth_dataset, tmp_path / "music")


def assert_same_stores(actual: FeatureStore, expected: FeatureStore, names) -> dict[str, float]:
    """Same clips, segments and genres in the same rows; each feature within its stated tolerance.
    Returns the largest absolute difference of each feature."""
    assert actual.index.clip_ids.tolist() == expected.index.clip_ids.tolist()
    assert actual.index.segments.tolist() == expected.index.segments.tolist()
    assert actual.index.genres.tolist() == expected.index.genres.tolist()
    assert {n: e.params for n, e in actual.manifest.features.items()} == \
        {n: e.params for n, e in expected.manifest.features.items()}
    differences = {}
    for name in names:
        a, b = actual.array(name), expected.array(name)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert_same_features(name, a, b)
        differences[name] = float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).max())
    return differences


def test_ray_store_equals_the_local_store_on_real_clips(ray_local, gtzan_sample, gtzan_store, yamnet_handle, tmp_path):
    result = extract(gtzan_sample, tmp_path / "ray", GTZAN_FEATURES, engine="ray", batch_size=32,
                     feature_params={"embedding": EmbeddingParams(yamnet_handle)})
    assert result.engine == "ray" and result.extracted == 30 and result.segments == 214
    differences = assert_same_stores(FeatureStore(tmp_path / "ray"), FeatureStore(gtzan_store), GTZAN_FEATURES)
    print("max abs difference, ray vs local:", differences)  # docs/ray.md's table; -s shows it


def test_an_interrupted_ray_extraction_resumes(ray_local, dataset, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        extract(dataset, tmp_path / "fs", FAST, engine="ray", batch_size=4, events=Recorder(stop_after=4))
    with pytest.raises(StoreError, match="interrupted"):
        FeatureStore(tmp_path / "fs")
    result = extract(dataset, tmp_path / "fs", FAST, engine="ray")  # resumed on Ray; the actors of the first are gone
    assert result.reused == 4 and result.extracted == 5
    extract(dataset, tmp_path / "clean", FAST)
    assert_same_stores(FeatureStore(tmp_path / "fs"), FeatureStore(tmp_path / "clean"), FAST)
    assert not (tmp_path / "fs" / "3s" / ".partial").exists()
    assert extract(dataset, tmp_path / "fs", FAST).up_to_date  # the local engine sees the ray store as its own


def test_a_store_labelled_by_a_csv_is_the_same_on_ray_and_relabels_there_without_recomputing(ray_local, dataset,
                                                                                            tmp_path):
    rows = [f"{p.relative_to(dataset)},{'loud' if p.parent.name == 'rock' else 'soft'},"
            f"{('train', 'valid', 'test')[k % 3]}" for k, p in enumerate(sorted(dataset.rglob("*.wav")))]
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(["path,genre,split", *rows]) + "\n")
    on_ray = extract(dataset, tmp_path / "ray", ["mfcc"], engine="ray", labels=str(labels))
    extract(dataset, tmp_path / "local", ["mfcc"], labels=str(labels))
    assert on_ray.extracted == 9 and FeatureStore(tmp_path / "ray").genres == ["loud", "soft"]
    assert_same_stores(FeatureStore(tmp_path / "ray"), FeatureStore(tmp_path / "local"), ["mfcc"])
    assert FeatureStore(tmp_path / "ray").label_splits() == FeatureStore(tmp_path / "local").label_splits()
    labels.write_text(labels.read_text().replace(",loud,", ",soft,", 1))
    again = extract(dataset, tmp_path / "ray", engine="ray")
    assert again.extracted == 0 and list(FeatureStore(tmp_path / "ray").index.clip_genres().values()).count("loud") == 2


def test_bad_files_are_reported_and_skipped_on_ray_as_locally(ray_local, dataset, tmp_path):
    (dataset / "rock" / "empty.wav").write_bytes(b"")
    (dataset / "rock" / "notes.wav").write_text("not audio " * 50)
    (dataset / "rock" / "random.mp3").write_bytes(np.random.default_rng(0).bytes(4000))
    write_audio(dataset / "techno" / "quiet.wav", np.zeros(48000, np.float32), 16000)
    on_ray, here = Recorder(), Recorder()
    result = extract(dataset, tmp_path / "ray", ["mfcc"], engine="ray", events=on_ray)
    extract(dataset, tmp_path / "local", ["mfcc"], events=here)
    assert result.clips == 9 and len(result.skipped) == 4
    assert sorted(on_ray.failed) == sorted(here.failed) and len(on_ray.failed) == 4
    assert any("random.mp3: not an MP3 stream" in f for f in on_ray.failed)
    assert_same_stores(FeatureStore(tmp_path / "ray"), FeatureStore(tmp_path / "local"), ["mfcc"])
    assert extract(dataset, tmp_path / "ray", ["mfcc"], engine="ray").up_to_date  # bad files not retried


def test_actors_the_cluster_cannot_hold_are_one_line(ray_local, dataset, tmp_path):
    with pytest.raises(GenreTfError, match="`ray_gpus` 1: the Ray cluster has 0 GPUs"):
        extract(dataset, tmp_path / "fs", ["mfcc"], engine="ray", ray=RayParams(gpus=1))
    with pytest.raises(GenreTfError, match="`ray_actors` 2: each reserves 1 of the Ray cluster's 2 CPUs"):
        extract(dataset, tmp_path / "fs", ["mfcc"], engine="ray", ray=RayParams(actors=2))


def test_extract_cli_on_ray(ray_local, dataset, tmp_path):
    result = runner.invoke(app, ["extract", "--data", str(dataset), "--store", str(tmp_path / "fs"), "--features",
                                 "mfcc", "--engine", "ray", "--ray-actors", "1"])
    assert result.exit_code == 0, result.output
    assert "Ray: 1 model actor (1 CPU each) on a cluster of 2 CPU" in result.stderr
    assert "9 clips, 27 segments; 9 clips extracted now" in result.stdout and "Ray: actors computing" in result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_extract_joins_a_running_cluster_by_its_address(ray_local, dataset, tmp_path):
    """A real cluster (`ray start --head`, on loopback), joined by --ray-address from another process,
    as a user would; token authentication on, as Ray's default for such clusters."""
    port, env = free_port(), {**os.environ, "RAY_AUTH_MODE": "token"}
    head = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
                             "--port", str(port), "--node-ip-address", "127.0.0.1", "--num-cpus", "2",
                             "--include-dashboard", "false", "--disable-usage-stats"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        command = [sys.executable, "-m", "genre_tf", "extract", "--data", str(dataset), "--store", str(tmp_path / "fs"),
                   "--features", "mfcc", "--engine", "ray", "--ray-address", f"127.0.0.1:{port}"]
        joined = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert joined.returncode == 0, joined.stderr
        assert "on a cluster of 2 CPU" in joined.stderr and "9 clips extracted now" in joined.stdout
    finally:
        os.killpg(head.pid, signal.SIGKILL)  # the head and every Ray process it started (not the session's Ray)
        head.wait()
        # Where `ray.init()` looks for "the cluster started on this machine": not this dead one.
        current = Path("/tmp/ray/ray_current_cluster")
        if current.exists() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()
    extract(dataset, tmp_path / "local", ["mfcc"])
    assert_same_stores(FeatureStore(tmp_path / "fs"), FeatureStore(tmp_path / "local"), ["mfcc"])


def test_an_address_where_nothing_listens_is_one_line(dataset, tmp_path):
    command = [sys.executable, "-m", "genre_tf", "extract", "--data", str(dataset), "--store", str(tmp_path / "fs"),
               "--features", "mfcc", "--engine", "ray", "--ray-address", f"127.0.0.1:{free_port()}"]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("error: cannot connect to Ray at 127.0.0.1:")


def library(gtzan_sample, tmp_path, songs):
    """A library folder in another layout than a dataset's: nested folders, a bad file, cover art."""
    root = tmp_path / "library"
    for k, song in enumerate(songs):
        target = root / f"artist{k % 2}" / "album" / song.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(gtzan_sample / song.parent.name / song.name, target)
    (root / "artist0" / "broken.flac").write_bytes(b"fLaC" + bytes(100))
    (root / "artist0" / "cover.jpg").write_bytes(b"\xff\xd8")
    return root


def test_library_labelled_on_ray_agrees_with_predict(ray_local, gtzan_runs, gtzan_sample, tmp_path):
    songs = sorted(gtzan_sample.glob("*/*.00000.wav"))[:3] + sorted(gtzan_sample.glob("*/*.00001.wav"))[:3]
    root = library(gtzan_sample, tmp_path, songs)
    run = gtzan_runs["combined"]  # YAMNet (hub), log-mel and MFCC: every feature path
    result = label_library(run, root, tmp_path / "labels.parquet", windows=True, engine="ray", max_windows=0)
    assert result.labelled == 7 and len(result.failed) == 1 and "broken.flac" in result.failed[0]
    rows = {row["path"]: row for row in _read_rows(tmp_path / "labels.parquet")}
    windows = _read_rows(tmp_path / "labels.windows.parquet")
    assert len(rows) == 7 and rows["artist0/broken.flac"]["error"] and rows["artist0/broken.flac"]["genre_1"] == ""
    predictor = Predictor(run)
    for path, row in rows.items():
        if row["error"]:
            continue
        expected = predictor.predict(root / path)
        np.testing.assert_allclose([row[f"p_{g}"] for g in predictor.genres], expected.probabilities,
                                   atol=PROBABILITY_TOLERANCE, err_msg=path)
        assert row["genre_1"] == expected.top(1)[0][0] and row["windows"] == len(expected.window_starts)
        mine = sorted((w for w in windows if w["path"] == path), key=lambda w: w["window"])
        np.testing.assert_allclose([w["start_seconds"] for w in mine], expected.window_starts)
        np.testing.assert_allclose([[w[f"p_{g}"] for g in predictor.genres] for w in mine],
                                   expected.window_probabilities, atol=PROBABILITY_TOLERANCE, err_msg=path)


def test_predict_cli_labels_a_library_on_ray_resumably(ray_local, gtzan_runs, gtzan_sample, tmp_path):
    root = library(gtzan_sample, tmp_path, sorted(gtzan_sample.glob("*/*.00002.wav"))[:4])
    args = ["predict", str(root), "--run", str(gtzan_runs["logmel-cnn"]), "--out", str(tmp_path / "labels.csv"),
            "--engine", "ray"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "5 songs in" in first.stdout and "4 labelled now, 1 failed" in first.stdout
    assert "passed over 1 files that are not audio (.jpg 1)" in first.stderr
    shutil.copy(gtzan_sample / "jazz" / "jazz.00000.wav", root / "artist1" / "new.wav")
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "6 songs under" in second.stderr and "1 to label, 5 already in" in second.stderr
    assert "6 songs in" in second.stdout and "1 labelled now" in second.stdout


def test_tag_predicts_on_ray_and_writes_here_as_the_local_engine_plans(ray_local, gtzan_runs, gtzan_sample, tmp_path):
    root = library(gtzan_sample, tmp_path, sorted(gtzan_sample.glob("*/*.00001.wav"))[4:7])
    for song in root.rglob("*.wav"):
        song.chmod(0o644)  # copies of read-only shared files: a person's own are writable
    run, options = gtzan_runs["logmel-cnn"], TagOptions(min_confidence=0.0)
    local = plan_tags(run, root, tmp_path / "local", options)
    result = runner.invoke(app, ["tag", str(root), "--run", str(run), "--out", str(tmp_path / "ray"), "--engine", "ray",
                                 "--min-confidence", "0", "--write"])
    assert result.exit_code == 0, result.output
    assert "written 3, kept 0 (had a genre), below the confidence 0, refused 0, not labelled 1" in result.stdout
    for song in local.songs:
        if song.action == "write":  # the local plan's genres, written by ray's
            assert genre_field(root / song.path) == song.new, song.path
