"""`genre-tf predict FOLDER --out TABLE` on the local engine: every song under a folder into a table
that agrees with `predict`, resumable, and refusing to mix runs; the walk over a library's folders."""
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genre_tf.cli import app
from genre_tf.core.errors import GenreTfError
from genre_tf.io.dataset import find_songs
from genre_tf.io.prediction_table import PredictionTable, _read_rows
from genre_tf.workflows.events import FileEvents
from genre_tf.workflows.library import label_library
from genre_tf.workflows.litert import LITERT_TOLERANCE
from genre_tf.workflows.predict import Predictor
from genre_tf.workflows.songs import PROBABILITY_TOLERANCE

from .helpers import sine, write_audio
from .test_cli import one_line_error

runner = CliRunner()


@pytest.fixture(scope="module")
def run(pair_runs, request):
    return pair_runs.get("cnn", "mfcc", request).run_dir


@pytest.fixture
def songs(synth_dataset, tmp_path):
    """A library: the synthetic clips two folders deep, a long song at 44.1 kHz in stereo, a bad file."""
    root = tmp_path / "library"
    shutil.copytree(synth_dataset, root / "various" / "artists")
    t = np.arange(int(13.3 * 44100)) / 44100
    write_audio(root / "mine" / "long song.flac", np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)],
                                                           axis=1).astype(np.float32) * 0.3, 44100)
    (root / "mine" / "notes.wav").write_text("not audio " * 50)
    return root


class Stopper(FileEvents):
    def __init__(self, stop_after):
        self.done, self.stop_after = 0, stop_after

    def clip_done(self, song, windows):
        self.done += 1
        if self.done == self.stop_after:
            raise KeyboardInterrupt


def test_find_songs_walks_every_folder_and_names_what_it_passes_over(tmp_path):
    write_audio(tmp_path / "a" / "b" / "c" / "deep.wav", sine(220, 1, 16000), 16000)
    write_audio(tmp_path / "top.ogg", sine(220, 1, 16000), 16000)
    write_audio(tmp_path / ".hidden" / "no.wav", sine(220, 1, 16000), 16000)
    (tmp_path / "a" / "cover.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "a" / "list.m3u").write_text("deep.wav")
    (tmp_path / "a" / "folder.mp3").mkdir()
    (tmp_path / "a" / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    (tmp_path / "a" / "b" / "loop").symlink_to(tmp_path / "a")
    songs, problems = find_songs(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in songs] == ["a/b/c/deep.wav", "top.ogg"]
    assert any("gone.wav: skipped, a dangling link" in p for p in problems)
    assert any("folder.mp3: skipped, a folder named like an audio file" in p for p in problems)
    assert any("passed over 2 files that are not audio (.jpg 1, .m3u 1)" in p for p in problems)
    with pytest.raises(GenreTfError, match="folder does not exist"):
        find_songs(tmp_path / "nowhere")


@pytest.mark.parametrize("suffix,runtime,tolerance", [(".csv", "tensorflow", PROBABILITY_TOLERANCE),
                                                       (".parquet", "litert", LITERT_TOLERANCE)])
def test_a_library_table_agrees_with_predict(run, songs, tmp_path, suffix, runtime, tolerance):
    """Each song's row is what `Predictor.predict` says of it (TensorFlow's graph in either case), within the
    runtime's tolerance."""
    out = tmp_path / f"labels{suffix}"
    result = label_library(run, songs, out, windows=True, top=2, runtime=runtime)
    assert result.songs == result.labelled == 11 and len(result.failed) == 1 and "notes.wav" in result.failed[0]
    rows = _read_rows(out)
    assert [r["path"] for r in rows] == sorted(r["path"] for r in rows) and rows[0]["path"] == "mine/long song.flac"
    failed = next(r for r in rows if r["path"] == "mine/notes.wav")
    assert "not a readable audio file" in failed["error"] and failed["genre_1"] == "" and failed["p_rock"] is None
    predictor = Predictor(run)
    windows = _read_rows(result.windows_out)
    for row in rows:
        if row["error"]:
            continue
        expected = predictor.predict(songs / row["path"])
        np.testing.assert_allclose([row[f"p_{g}"] for g in predictor.genres], expected.probabilities, atol=tolerance)
        (first, p1), (second, p2) = expected.top(2)
        assert (row["genre_1"], row["genre_2"]) == (first, second)
        assert (row["probability_1"], row["probability_2"]) == pytest.approx((p1, p2), abs=tolerance)
        assert "genre_3" not in row and row["windows"] == len(expected.window_starts)
        assert [w["start_seconds"] for w in windows if w["path"] == row["path"]] == expected.window_starts.tolist()
    # 13.3 s: 4 windows, 1.3 s dropped
    assert next(r for r in rows if r["path"] == "mine/long song.flac")["windows"] == 4


def test_an_interrupted_labelling_resumes_where_it_stopped(run, songs, tmp_path):
    out = tmp_path / "labels.csv"
    with pytest.raises(KeyboardInterrupt):
        label_library(run, songs, out, events=Stopper(stop_after=4))
    assert not out.exists() and len(list((tmp_path / ".labels.csv.parts").glob("part-*.json"))) == 1
    result = label_library(run, songs, out)
    assert result.kept == 5 and result.labelled == 6 and result.songs == 11  # 4 labelled and the bad file
    assert not (tmp_path / ".labels.csv.parts").exists()
    clean = label_library(run, songs, tmp_path / "clean.csv")
    resumed, expected = _read_rows(out), _read_rows(clean.out)
    assert [(r["path"], r["genre_1"], r["windows"], r["error"]) for r in resumed] == \
        [(r["path"], r["genre_1"], r["windows"], r["error"]) for r in expected]
    np.testing.assert_allclose([r["p_rock"] or 0 for r in resumed], [r["p_rock"] or 0 for r in expected],
                               atol=PROBABILITY_TOLERANCE)
    again = label_library(run, songs, out)
    assert again.labelled == 0 and again.kept == 11


def test_changed_added_and_removed_songs_update_the_table(run, songs, tmp_path):
    out = tmp_path / "labels.parquet"
    label_library(run, songs, out)
    write_audio(songs / "mine" / "long song.flac", sine(440, 7.0, 22050), 22050)  # changed: now 2 windows
    os.utime(songs / "mine" / "long song.flac", ns=(1, 1))
    (songs / "mine" / "notes.wav").unlink()
    write_audio(songs / "mine" / "new.wav", sine(330, 3.0, 16000), 16000)
    result = label_library(run, songs, out)
    assert result.labelled == 2 and result.kept == 9 and result.songs == 11
    rows = {r["path"]: r for r in _read_rows(out)}
    assert "mine/notes.wav" not in rows and rows["mine/new.wav"]["windows"] == 1
    assert rows["mine/long song.flac"]["windows"] == 2


def test_a_table_is_never_mixed_with_other_settings(run, songs, pair_runs, tmp_path, request):
    out = tmp_path / "labels.csv"
    label_library(run, songs, out)
    with pytest.raises(GenreTfError, match="labelled with a hop of 3 s, not with a hop of 1.5 s"):
        label_library(run, songs, out, hop_seconds=1.5)
    with pytest.raises(GenreTfError, match="labelled without --windows, not with --windows"):
        label_library(run, songs, out, windows=True)
    other = pair_runs.get("linear", "mfcc", request).run_dir
    with pytest.raises(GenreTfError, match="labelled by run .*, not by run .*linear"):
        label_library(other, songs, out)
    with pytest.raises(GenreTfError, match="must end in .parquet or .csv"):
        label_library(run, songs, tmp_path / "labels.xlsx")


def test_one_writer_at_a_time(run, songs, tmp_path):
    out = tmp_path / "labels.csv"
    with PredictionTable(out, str(run), 3.0, ["a"], False):
        with pytest.raises(GenreTfError, match="another run is writing this table"):
            label_library(run, songs, out)


def test_predict_cli_labels_a_folder_and_refuses_misuse(run, songs, tmp_path):
    out = tmp_path / "labels.csv"
    result = runner.invoke(app, ["predict", str(songs), "--run", str(run), "--out", str(out), "--windows"])
    assert result.exit_code == 0, result.output
    assert f"11 songs in {out} and {tmp_path / 'labels.windows.csv'}; 10 labelled now, 1 failed" in result.stdout
    assert "notes.wav: not a readable audio file" in result.stderr
    one_line_error(runner.invoke(app, ["predict", str(songs), "--run", str(run)]),
                   "a folder; label every song under it with --out")
    one_line_error(runner.invoke(app, ["predict", str(songs / "mine" / "long song.flac"), "--run", str(run),
                                       "--engine", "ray"]), "--engine ray labels a folder into a table")
    one_line_error(runner.invoke(app, ["predict", str(songs), str(songs), "--run", str(run), "--out", str(out)]),
                   "give one folder")
    one_line_error(runner.invoke(app, ["predict", str(songs), "--run", str(run), "--out", str(out), "--json"]),
                   "choose one")


def test_each_song_is_decoded_once(run, songs, tmp_path, monkeypatch):
    """The engine decodes a song once (the earlier local loop read each file twice: peak, then windows)."""
    from genre_tf.io.audio import AudioReader

    decoded = []
    blocks = AudioReader.blocks

    def counting(self, *args, **kwargs):
        decoded.append(self.name)
        return blocks(self, *args, **kwargs)

    monkeypatch.setattr(AudioReader, "blocks", counting)
    result = label_library(run, songs, tmp_path / "labels.csv")
    assert result.labelled == 11 and len(result.failed) == 1  # nine clips, the long song, and notes.wav (no audio)
    assert len(decoded) == len(set(decoded)) == 10


# --- at most K windows per song (--max-windows) ----------------------------------------------------------------

@pytest.mark.parametrize("seconds, expected", [
    (240, [12, 42, 72, 102, 135, 165, 195, 225]),  # 80 windows: 8 spread, 10 s skipped at each end
    (30, [3, 6, 9, 12, 15, 18, 21, 24]),  # 10 windows: the edges are 10% of it, 3 s
    (27, [0, 3, 6, 9, 15, 18, 21, 24]),  # 9 windows: 7 inside its edges, fewer than 8: 8 spread over all 9
    (20, [0, 3, 6, 9, 12, 15, 18]),  # fewer windows than 8: all of them, the padded tail too
])
def test_the_windows_chosen_are_spread_over_the_song_inside_its_edges(seconds, expected):
    from genre_tf.config import SegmentParams
    from genre_tf.io.audio import spread_windows, window_starts

    params = SegmentParams()
    samples = seconds * params.sample_rate
    starts = window_starts(samples, params)
    chosen = starts[spread_windows(starts, samples, params, 8)] / params.sample_rate
    assert chosen.tolist() == expected
    assert spread_windows(starts, samples, params, 0).tolist() == list(range(len(starts)))  # 0: every window


def _song(path, seconds: float, rate: int):
    """A stereo song of tones and noise that changes over time, in path's format (Ogg written in blocks)."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * rate)) / rate
    left = 0.3 * np.sin(2 * np.pi * (220 + 20 * t) * t) + 0.05 * rng.standard_normal(len(t))
    audio = np.stack([left, 0.5 * left], axis=1).astype(np.float32)
    kind = {"format": "OGG", "subtype": "VORBIS"} if path.suffix == ".ogg" else {}
    with sf.SoundFile(path, "w", rate, 2, **kind) as f:
        for k in range(0, len(audio), 1 << 16):
            f.write(audio[k:k + (1 << 16)])
    return path


@pytest.mark.parametrize("name, rate", [("song.wav", 44100), ("song.flac", 22050), ("song.ogg", 44100),
                                        ("song.mp3", 44100), ("song.mp3", 22050), ("song.aiff", 48000)])
def test_a_window_decoded_by_seeking_equals_the_same_window_of_a_whole_decode(tmp_path, name, rate):
    from genre_tf.config import SegmentParams
    from genre_tf.io.audio import SEEK_TOLERANCE, AudioReader, spread_windows, window_view

    params = SegmentParams()
    reader = AudioReader(_song(tmp_path / name, 64, rate))
    starts, windows = window_view(np.concatenate(list(reader.blocks(params.sample_rate))), params)
    chosen = spread_windows(starts, len(starts) * params.segment_samples, params, 5)
    seeked = reader.windows_at(starts[chosen], params)
    assert seeked is not None and seeked.shape == (5, params.segment_samples)
    np.testing.assert_allclose(seeked, windows[chosen], atol=SEEK_TOLERANCE, rtol=0)


def test_formats_that_cannot_seek_are_decoded_whole_with_the_same_windows(tmp_path):
    from genre_tf.config import SegmentParams
    from genre_tf.io.audio import AudioReader
    from genre_tf.workflows.songs import all_song_windows

    from .helpers import encode_ffmpeg

    params = SegmentParams()
    rng = np.random.default_rng(2)
    path = encode_ffmpeg(tmp_path / "song.m4a", (0.1 * rng.standard_normal(44100 * 40)).astype(np.float32), 44100,
                         "alac")
    assert AudioReader(path).windows_at(np.array([48000]), params) is None
    every_start, every_window, _ = all_song_windows(path, params)
    starts, windows, _ = all_song_windows(path, params, max_windows=4)
    picked = np.searchsorted(every_start, starts)
    assert len(starts) == 4 and np.array_equal(every_start[picked], starts)
    np.testing.assert_array_equal(windows, every_window[picked])


def test_a_table_records_its_windows_and_is_never_mixed_with_another_count(run, songs, tmp_path):
    long_song = songs / "mine" / "long song.flac"
    _song(long_song, 64, 44100)  # 21 windows: K matters
    out = tmp_path / "labels.csv"
    result = label_library(run, songs, out, max_windows=4)
    rows = {row["path"]: row for row in result.rows}
    assert rows["mine/long song.flac"]["windows"] == 4 and {r["max_windows"] for r in rows.values()} == {4}
    every = label_library(run, songs, tmp_path / "every.csv", max_windows=0)
    assert {r["path"]: r["windows"] for r in every.rows}["mine/long song.flac"] == 21
    with pytest.raises(GenreTfError, match="labelled from at most 4 windows per song, not from every window"):
        label_library(run, songs, out, max_windows=0)
    assert label_library(run, songs, out, max_windows=4).labelled == 0  # the same K resumes
