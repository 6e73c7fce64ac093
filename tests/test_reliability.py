"""What a hostile user does: odd file names, broken links, two extractions at once, impossible
options, interrupted work. Each gets one clear line; nothing finished is lost, nothing half-written used."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from genre_tf.cli import app
from genre_tf.config import SegmentParams
from genre_tf.core.errors import GenreTfError, StoreError
from genre_tf.core.files import Lock
from genre_tf.io.store import FeatureStore
from genre_tf.workflows.extract import extract
from genre_tf.workflows.songs import check_hop

from .helpers import sine, write_audio
from .test_cli import one_line_error
from .test_extract import Recorder

runner = CliRunner()

# Legal file names that broke or could break a reader: CSV delimiters and quotes, a newline,
# unicode, brackets, a leading dash (an option to a careless command line).
NASTY_NAMES = ["a,b", 'say "hi"', "two\nlines", "ünïcødé ♫", "[live] (1)", "-dash", "semi;colon", "'quoted'"]


@pytest.fixture
def nasty_dataset(tmp_path):
    """2 genres: each clip a sine of the genre's pitch, 4 s, named from NASTY_NAMES."""
    for genre, freq in (("low", 220.0), ("high", 1760.0)):
        for k, name in enumerate(NASTY_NAMES):
            write_audio(tmp_path / "music" / genre / f"{name} {genre}.wav", sine(freq * (1 + k / 50), 4.0, 16000),
                        16000)
    return tmp_path / "music"


def test_any_legal_file_name_survives_extract_train_report_predict(nasty_dataset, tmp_path):
    store, runs, reports = tmp_path / "fs", tmp_path / "runs", tmp_path / "reports"
    result = runner.invoke(app, ["extract", "--data", str(nasty_dataset), "--store", str(store), "--features", "mfcc"])
    assert result.exit_code == 0, result.output
    index = FeatureStore(store).index
    assert sorted(set(index.clip_ids.tolist())) == sorted(f"{n} {g}" for n in NASTY_NAMES for g in ("low", "high"))
    result = runner.invoke(app, ["train", "--input", "mfcc", "--model", "linear", "--store", str(store),
                                 "--runs", str(runs), "--epochs", "30", "--batch-size", "4", "--lr", "0.01",
                                 "--split-ratios", "0.5,0.25,0.25"])  # trained enough to tell the genres apart
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["report", "--runs", str(runs), "--reports", str(reports)]).exit_code == 0
    songs = [str(nasty_dataset / "low" / "-dash low.wav"), str(nasty_dataset / "high" / "two\nlines high.wav")]
    result = runner.invoke(app, ["predict", "--reports", str(reports), "--json", "--", *songs])
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)
    assert [p["file"] for p in predictions] == songs and [p["top"][0]["genre"] for p in predictions] == ["low", "high"]


def test_broken_links_and_folders_named_like_audio_are_reported_and_passed_over(synth_dataset, tmp_path):
    music = shutil.copytree(synth_dataset, tmp_path / "music")
    (music / "ambient" / "dangling.wav").symlink_to(tmp_path / "nonexistent.wav")
    (music / "rock" / "folder.wav").mkdir()
    events = Recorder()
    result = extract(music, tmp_path / "fs", ["mfcc"], events=events)
    assert result.clips == 9
    assert any("dangling.wav: skipped, a dangling link" in w for w in events.warnings)
    assert any("folder.wav: skipped, a folder named like an audio file" in w for w in events.warnings)


def test_a_second_extraction_on_a_store_is_refused_while_the_first_runs(synth_dataset, tmp_path):
    held = Lock(tmp_path / "fs" / "3s" / ".lock")
    assert held.acquire()  # another extraction holds the store (flock: per open file, so also in-process)
    result = runner.invoke(app, ["extract", "--data", str(synth_dataset), "--store", str(tmp_path / "fs"),
                                 "--features", "mfcc"])
    one_line_error(result, "another extraction is writing this store", f"pid {os.getpid()}")
    held.release()  # the first one ends (or dies: the OS releases its lock the same way)
    assert extract(synth_dataset, tmp_path / "fs", ["mfcc"]).clips == 9


def test_a_killed_extraction_process_never_blocks_the_next(synth_dataset, tmp_path):
    """Two processes: one holds the store's lock as a running extraction does, then is SIGKILLed."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from genre_tf.core.files import Lock; "
                               f"Lock({str(tmp_path / 'fs' / '3s' / '.lock')!r}).acquire(); print('held', flush=True); "
                               "time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=f"another extraction is writing this store \\(pid {holder.pid}\\)"):
            extract(synth_dataset, tmp_path / "fs", ["mfcc"])
    finally:
        holder.kill()
        holder.wait()
    assert extract(synth_dataset, tmp_path / "fs", ["mfcc"]).clips == 9  # the OS released the dead process's lock


def test_an_interrupted_extraction_is_finished_by_a_bare_rerun_with_its_own_data(synth_dataset, tmp_path, monkeypatch):
    with pytest.raises(KeyboardInterrupt):
        extract(synth_dataset, tmp_path / "fs", ["logmel", "mfcc"], events=Recorder(stop_after=4))
    with pytest.raises(StoreError, match=f"extraction of {synth_dataset} was interrupted; rerun `genre-tf extract "
                                         f"--store {tmp_path / 'fs'}`"):
        FeatureStore(tmp_path / "fs")
    other = tmp_path / "other"
    shutil.copytree(synth_dataset, other / "data" / "music")
    monkeypatch.chdir(other)  # a data/music here must not be taken instead of the remembered folder
    with pytest.raises(StoreError, match="interrupted extraction of .* asked for something else"):
        extract("data/music", tmp_path / "fs", ["mfcc"])
    result = runner.invoke(app, ["extract", "--store", str(tmp_path / "fs")])
    assert result.exit_code == 0, result.output
    assert "4 resumed" in result.stdout
    store = FeatureStore(tmp_path / "fs")
    assert store.manifest.data == str(synth_dataset) and store.feature_names == ["logmel", "mfcc"]


def test_debris_of_killed_writers_is_removed(synth_dataset, tmp_path):
    extract(synth_dataset, tmp_path / "fs", ["mfcc"])
    stray = tmp_path / "fs" / "3s" / ".manifest.json.abc123.tmp"
    stray.write_text("{half")
    extract(synth_dataset, tmp_path / "fs", ["mfcc"])
    assert not stray.exists()


def test_unfinished_runs_of_killed_trainings_are_removed_live_ones_kept(synth_store, tmp_path):
    runs = tmp_path / "runs"
    dead, live = runs / ".incomplete-mfcc-cnn-1.abc", runs / ".incomplete-mfcc-cnn-2.def"
    dead.mkdir(parents=True)
    live.mkdir()
    trainer = Lock(live / ".lock")
    assert trainer.acquire()
    skipped = runner.invoke(app, ["report", "--runs", str(runs), "--reports", str(tmp_path / "r")]).stderr
    assert "training in progress" in skipped and "the next `genre-tf train` removes it" in skipped
    result = runner.invoke(app, ["train", "--input", "mfcc", "--model", "linear", "--store", str(synth_store),
                                 "--runs", str(runs), "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert f"removed {dead}" in result.stderr
    assert not dead.exists() and live.exists()
    trainer.release()


def test_an_interrupted_train_says_nothing_was_saved(synth_store, tmp_path, monkeypatch):
    import genre_tf.workflows.train

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(genre_tf.workflows.train, "_fit_and_evaluate", interrupt)
    result = runner.invoke(app, ["train", "--input", "mfcc", "--model", "linear", "--store", str(synth_store),
                                 "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 130 and "nothing was saved" in result.stderr
    assert list((tmp_path / "runs").iterdir()) == []  # no debris either


# Every numeric option, at an impossible value: (command line, what the one error line says).
IMPOSSIBLE_OPTIONS = [
    (["extract", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["extract", "--workers", "0"], "--workers must be at least 1"),
    (["extract", "--max-seconds", "0"], "--max-seconds must be a positive number of seconds"),
    (["extract", "--max-seconds", "inf"], "--max-seconds must be a positive number of seconds, not inf"),
    (["extract", "--segment-seconds", "0.5"], "--segment-seconds must be between 1 and 60 s"),
    (["extract", "--segment-seconds", "nan"], "--segment-seconds must be between 1 and 60 s"),
    (["extract", "--segment-seconds", "inf"], "--segment-seconds must be between 1 and 60 s"),
    (["extract", "--segment-seconds", "1e9"], "--segment-seconds must be between 1 and 60 s"),
    (["extract", "--hop", "0"], "--hop must be between"),
    (["extract", "--hop", "4"], "--hop must be at most the segment length (3 s)"),
    (["extract", "--features", ""], "--features: no name given"),
    (["train", "--epochs", "0"], "--epochs must be at least 1"),
    (["train", "--batch-size", "-4"], "--batch-size must be at least 1"),
    (["train", "--patience", "0"], "--patience must be at least 1"),
    (["train", "--lr", "0"], "--lr must be a positive number"),
    (["train", "--lr", "inf"], "--lr must be a positive number, not inf"),
    (["train", "--seed", "-1"], "--seed must be between 0 and 2**32 - 1"),
    (["train", "--cv", "1"], "--cv needs at least 2 folds"),
    (["train", "--frozen-epochs", "0"], "--frozen-epochs must be at least 1"),
    (["train", "--image-size", "8"], "--image-size must be at least 32"),
    (["train", "--split-ratios", "0.5,0.5,0.5"], "summing to 1"),
    (["synth", "--clips", "0"], "--clips must be at least 1"),
    (["synth", "--genres", "11"], "--genres must be between 1 and 10"),
    (["synth", "--seconds", "nan"], "--seconds must be between 1 and 3600, not nan"),
    (["synth", "--seconds", "1e-9"], "--seconds must be between 1 and 3600"),
    (["synth", "--seed", "-1"], "--seed must be between 0 and 2**32 - 1"),
    (["serve", "--port", "-1"], "--port must be between 1 and 65535"),
    (["serve", "--port", "99999"], "--port must be between 1 and 65535"),
    (["serve", "--host", ""], "--host must name an address"),
    (["serve", "--max-upload-mb", "inf"], "--max-upload-mb must be a positive number"),
    (["serve", "--max-audio-seconds", "0"], "--max-audio-seconds must be a positive number"),
]


@pytest.mark.parametrize("args,message", IMPOSSIBLE_OPTIONS, ids=[" ".join(a) for a, _ in IMPOSSIBLE_OPTIONS])
def test_impossible_option_values_get_one_line(synth_dataset, synth_store, tmp_path, args, message):
    command, options = args[0], args[1:]
    context = {"extract": ["--data", str(synth_dataset), "--store", str(tmp_path / "fs"), "--features", "mfcc"],
               "train": ["--input", "mfcc", "--model", "cnn", "--store", str(synth_store), "--runs", str(tmp_path)],
               "synth": ["--out", str(tmp_path / "s")],
               "serve": ["--run", str(tmp_path / "no-run")]}[command]  # options are checked before the run
    one_line_error(runner.invoke(app, [command, *context, *options]), message)


@pytest.mark.parametrize("hop", [-1.0, 0.0, 1 / 16000, 0.09999, 3.5])
def test_a_hop_outside_the_window_cap_to_the_window_is_refused(hop):
    with pytest.raises(GenreTfError, match=r"`hop_seconds` must be between 0.1 s \(the cap of 10 windows per second "
                                           r"of audio\) and the window length \(3 s\)"):
        check_hop(SegmentParams(), hop)


@pytest.mark.parametrize("hop", [None, 0.1, 1.5, 3.0])
def test_a_hop_from_the_window_cap_to_the_window_is_taken(hop):
    check_hop(SegmentParams(), hop)


def test_predict_refuses_an_impossible_hop(pair_runs, synth_dataset, request):
    run, song = str(pair_runs.get("linear", "mfcc", request).run_dir), next(synth_dataset.glob("*/*.wav"))
    for hop in ("-1", "0", "3.5"):
        one_line_error(runner.invoke(app, ["predict", "--run", run, "--hop", hop, str(song)]),
                       "--hop must be between 0.1 s (the cap of 10 windows per second of audio) and the window "
                       "length (3 s)")


def test_a_random_bytes_mp3_gets_its_cause_and_no_decoder_noise(synth_dataset, tmp_path):
    music = shutil.copytree(synth_dataset, tmp_path / "music")
    (music / "rock" / "noise.mp3").write_bytes(os.urandom(20000))
    cli = [sys.executable, "-m", "genre_tf", "extract", "--data", str(music), "--store", str(tmp_path / "fs"),
           "--features", "mfcc"]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "noise.mp3: not an MP3 stream (no MPEG audio frames at its start)" in done.stderr
    assert "libmpg123" not in done.stderr and "MPEG-Header" not in done.stderr and "does not exist" not in done.stderr
