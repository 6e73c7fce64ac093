"""The hostile pass (issue 26), outside the server (tests/test_serve.py): damaged stores and runs, a full
disk, diverged training, a failed request's plan, prediction tables that are not ours, outputs that
are files, misleading messages. Each is one line naming the file and the cause, never trusted, never a
traceback, and nothing already done is lost."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from genre_tf.core.errors import StoreError
from genre_tf.io.store import FeatureStore


def _copy(synth_store, tmp_path):
    copy = tmp_path / "store"
    shutil.copytree(synth_store / "3s", copy / "3s")
    return copy, copy / "3s"


def _feature_file(root, name: str):
    (path,) = root.glob(f"{name}.*.npy")
    return path


def _edit_json(path, edit) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _edit_manifest(root, edit) -> None:
    _edit_json(root / "manifest.json", edit)


def _set(raw: dict, keys: tuple, value) -> dict:
    target = raw
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return raw


def _first_clip_count(raw: dict, count: int) -> dict:
    next(iter(raw["clips"].values()))["count"] = count
    return raw


def _index(root):
    (path,) = root.glob("segments.*.csv")
    return path


DAMAGE = {
    # what was done to the store -> the words of the one-line refusal
    "feature of the wrong shape": (lambda root: np.save(_feature_file(root, "mfcc"), np.zeros((36, 3), np.float32)),
                                   "damaged store (holds float32 (36, 3), the manifest says float32 (27, 94, 20))"),
    "feature deleted": (lambda root: _feature_file(root, "mfcc").unlink(),
                        "damaged store (the feature file is missing)"),
    "feature truncated": (lambda root: _feature_file(root, "mfcc").write_bytes(
        _feature_file(root, "mfcc").read_bytes()[:500]), "damaged store"),
    "feature of random bytes": (lambda root: _feature_file(root, "mfcc").write_bytes(np.random.bytes(4000)),
                                "damaged store"),
    "feature an object array": (lambda root: np.save(_feature_file(root, "mfcc"),
                                                     np.array([{"a": 1}] * 27, dtype=object)), "damaged store"),
    "index cut to 10 rows": (lambda root: _index(root).write_text(
        "\n".join(_index(root).read_text().splitlines()[:11]) + "\n"), "10 rows where the manifest counts 27"),
    "index cut mid-row": (lambda root: _index(root).write_text(_index(root).read_text()[:60]), "segment index"),
    "manifest a list": (lambda root: (root / "manifest.json").write_text("[1, 2]"),
                        "damaged manifest (not a JSON object)"),
    "manifest's features a list": (lambda root: _edit_manifest(root, lambda raw: {**raw, "features": [1]}),
                                   "damaged manifest"),
    "manifest's clips a list": (lambda root: _edit_manifest(root, lambda raw: {**raw, "clips": ["a"]}),
                                "damaged manifest"),
    "manifest's shape wrong": (lambda root: _edit_manifest(root, lambda raw: _set(raw, ("features", "mfcc", "shape"),
                                                                                  [94, 21])),
                               "the manifest says float32 (27, 94, 21)"),
    "manifest's count wrong": (lambda root: _edit_manifest(root, lambda raw: _first_clip_count(raw, 5)),
                               "rows where the manifest counts"),
    "manifest's segment samples wrong": (lambda root: _edit_manifest(
        root, lambda raw: _set(raw, ("segment_params", "segment_samples"), 32000)),
        "segments of 32000 samples in the folder of 3 s ones"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_store_is_refused_in_one_line_naming_the_file(synth_store, tmp_path, damage):
    """What the hostile pass did to stores: training on them went ahead on misaligned rows or ended in a
    traceback. Now: one StoreError naming the damaged file, before any training."""
    from genre_tf.config import TrainConfig
    from genre_tf.workflows.train import train

    store, root = _copy(synth_store, tmp_path)
    act, words = DAMAGE[damage]
    act(root)
    with pytest.raises(StoreError) as refused:
        train(TrainConfig(inputs=("mfcc",), model="linear", store=str(store), runs_dir=str(tmp_path / "runs"),
                          epochs=1))
    message = str(refused.value)
    assert words in message and str(root) in message and "\n" not in message, message
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_the_undamaged_copy_reads(synth_store, tmp_path):
    """The control: the same copy, untouched, reads (so the refusals above are the damage's)."""
    store, _ = _copy(synth_store, tmp_path)
    assert len(FeatureStore(store).array("mfcc")) == 27


RUN_DAMAGE = {
    "model.keras cut to 1000 bytes": (lambda run: (run / "model.keras").write_bytes(
        (run / "model.keras").read_bytes()[:1000]), "model.keras (not a whole Keras archive)"),
    "split.json cut short": (lambda run: (run / "split.json").write_text((run / "split.json").read_text()[:40]),
                             "unreadable split.json"),
    "NaN scores": (lambda run: _edit_json(run / "metrics.json", lambda m: _set(m, ("clip", "accuracy"), float("nan"))),
                   "damaged metrics.json (a score is not a number)"),
    "metrics a list": (lambda run: (run / "metrics.json").write_text("[]"), "damaged metrics.json (not a JSON object)"),
}


def test_damaged_runs_are_never_ranked_or_used(pair_runs, tmp_path, request):
    """One usable-run check for report, predict, export and serve: a damaged run is listed as skipped
    with its cause (never ranked, so never `--run best`), and naming it is refused in one line."""
    from genre_tf.core.errors import GenreTfError
    from genre_tf.workflows.predict import Predictor
    from genre_tf.workflows.report import rank_runs

    from .conftest import copy_runs

    good = pair_runs.get("cnn", "mfcc", request).run_dir
    runs = tmp_path / "runs"
    runs.mkdir()
    for name, (act, _) in RUN_DAMAGE.items():
        (run,) = copy_runs([good], tmp_path / name.replace(" ", "-").replace(".", "_"))
        act(run)
        run.rename(runs / name.replace(" ", "-").replace(".", "_"))
    copy_runs([good], runs)
    report = rank_runs(runs)
    assert [r.path for g in report.groups for r in g.runs] == [runs / good.name]
    for name, (_, words) in RUN_DAMAGE.items():
        folder = runs / name.replace(" ", "-").replace(".", "_")
        assert any(line.startswith(str(folder)) and words in line for line in report.skipped), (name, report.skipped)
        with pytest.raises(GenreTfError, match=words.replace("(", r"\(").replace(")", r"\)")):
            Predictor(folder)


@pytest.mark.parametrize("model,learning_rate", [("linear", 1e30), ("cnn", 1e10)])
def test_diverged_training_says_so_in_one_line_and_writes_no_run(synth_store, tmp_path, model, learning_rate):
    from genre_tf.config import TrainConfig
    from genre_tf.core.errors import GenreTfError
    from genre_tf.workflows.train import train

    with pytest.raises(GenreTfError, match=r"^training diverged: (validation )?loss became (nan|inf) at epoch \d+; "):
        train(TrainConfig(inputs=("mfcc",), model=model, store=str(synth_store), runs_dir=str(tmp_path / "runs"),
                          epochs=3, batch_size=8, learning_rate=learning_rate))
    assert not list((tmp_path / "runs").iterdir())  # the unfinished run is removed


def test_a_learning_rate_that_is_not_a_number_is_refused_up_front():
    from genre_tf.config import TrainConfig
    from genre_tf.core.errors import GenreTfError

    for rate in (float("inf"), float("nan"), 0.0, -1e-3):
        with pytest.raises(GenreTfError, match="`learning_rate` must be a positive number"):
            TrainConfig(inputs=("mfcc",), model="linear", learning_rate=rate)


def test_a_request_that_failed_before_any_clip_leaves_no_plan(synth_dataset, tmp_path, musicnn_installed):
    """A typo in a model name fails at the extractor's start: no clip was saved, so no plan is left to
    refuse the corrected command (which used to need --rebuild)."""
    from genre_tf.config import MusicnnParams
    from genre_tf.core.errors import GenreTfError
    from genre_tf.workflows.extract import extract

    store = tmp_path / "fw"
    with pytest.raises(GenreTfError, match="no musicnn checkpoint in MSD_musicn"):
        extract(synth_dataset, store, ["mfcc", "musicnn"], feature_params={"musicnn": MusicnnParams("MSD_musicn")})
    assert not (store / "3s" / ".partial").exists()
    result = extract(synth_dataset, store, ["mfcc", "musicnn"])
    assert result.clips == 9 and not result.skipped


def test_a_header_only_wav_says_it_holds_no_audio_not_that_it_is_silent(tmp_path):
    """The hostile pass: a header-only WAV (and a cut stream) was reported as silent by predict and serve,
    which read its peak first."""
    import soundfile as sf

    from genre_tf.core.errors import AudioError
    from genre_tf.io.audio import AudioReader

    path = tmp_path / "header-only.wav"
    sf.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="header-only.wav: contains no audio samples"):
        AudioReader(path).peak(16000)


def test_an_empty_ray_address_is_refused_rather_than_blamed_on_the_environment():
    from genre_tf.config import RayParams
    from genre_tf.core.errors import GenreTfError

    with pytest.raises(GenreTfError, match="`ray_address` must name a cluster"):
        RayParams(address=" ")


def test_a_full_disk_at_the_commit_changes_nothing_and_the_rerun_finishes(synth_dataset, tmp_path, monkeypatch):
    """extract used to die by SIGBUS (writing through a memory map) when the disk filled during its
    commit. Now the free space is checked first, and a write that fails anyway is an error: either way,
    one line, no store half-written, and the clips extracted so far are kept for the rerun."""
    import errno
    import io

    import genre_tf.io.store
    from genre_tf.workflows.extract import extract

    store = tmp_path / "fs"
    monkeypatch.setattr(genre_tf.io.store.shutil, "disk_usage",
                        lambda path: shutil._ntuple_diskusage(10**9, 10**9, 1000))
    with pytest.raises(StoreError,
                       match="not enough free space to write the store .* free some space and run the same"):
        extract(synth_dataset, store, ["mfcc"])
    monkeypatch.undo()
    assert not (store / "3s" / "manifest.json").exists() and list((store / "3s" / ".partial").glob("*.npz"))

    class FullDisk(io.BytesIO):
        def write(self, data):
            if self.tell() > 200:  # the header fits; the rows do not
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    monkeypatch.setattr(genre_tf.io.store, "open", lambda path, mode: FullDisk(), raising=False)
    with pytest.raises(StoreError, match=r"cannot write the store \(\[Errno 28\] No space left on device\)"):
        extract(synth_dataset, store, ["mfcc"])
    monkeypatch.undo()
    assert not list((store / "3s").glob("mfcc.*.npy"))
    result = extract(synth_dataset, store, ["mfcc"])
    assert result.reused == 9 and result.extracted == 0 and result.segments == 27
    assert len(FeatureStore(store).array("mfcc")) == 27


def test_a_full_disk_while_training_is_one_line_and_no_run(synth_store, tmp_path, monkeypatch):
    import errno

    from typer.testing import CliRunner

    from genre_tf.cli import app

    import keras

    def full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(keras.Model, "save", full)
    result = CliRunner().invoke(app, ["train", "--input", "mfcc", "--model", "linear", "--store", str(synth_store),
                                      "--runs", str(tmp_path / "runs"), "--epochs", "1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "model.keras: No space left on device; nothing was saved" in " ".join(result.stderr.split())
    assert not list((tmp_path / "runs").iterdir())


def test_predict_out_never_overwrites_what_it_did_not_write(pair_runs, synth_dataset, tmp_path, request):
    """`predict FOLDER --out`: a folder, a parent that is a file, someone else's CSV (with rows, or a
    header only) are refused in one line before any song is labelled; junk part files are passed over;
    an absurd --top is the number of genres."""
    from typer.testing import CliRunner

    from genre_tf.cli import app

    run = str(pair_runs.get("cnn", "mfcc", request).run_dir)

    def predict(out, *extra):
        return CliRunner().invoke(app, ["predict", str(synth_dataset), "--out", str(out), "--run", run, *extra])

    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "file").write_text("x")
    theirs = tmp_path / "theirs.csv"
    theirs.write_text("name,score\nalice,3\n")
    header_only = tmp_path / "header.csv"
    header_only.write_text("name,score\n")
    cases = {tmp_path / "folder.csv": "is a folder; name a table file", tmp_path / "file" / "t.csv": "cannot write in",
             theirs: "exists and is not a genre-tf prediction table", header_only: "is not a genre-tf prediction table"}
    for out, words in cases.items():
        result = predict(out)
        assert result.exit_code == 1 and words in " ".join(result.stderr.split()), (out, result.output)
        assert "Traceback" not in result.output and "labelled now" not in result.output
    assert theirs.read_text() == "name,score\nalice,3\n" and header_only.read_text() == "name,score\n"

    table = tmp_path / "ok.csv"
    parts = tmp_path / ".ok.csv.parts"
    parts.mkdir()
    (parts / "part-000001.json").write_text('{"settings": {}, "songs": [1], "windows": 2}')
    (parts / "part-000002.json").write_text("[]")
    result = predict(table, "--top", "99999999999999999999")
    assert result.exit_code == 0, result.output
    header = table.read_text().splitlines()[0].split(",")
    assert [c for c in header if c.startswith("genre_")] == ["genre_1", "genre_2", "genre_3"]  # 3 genres
    assert len(table.read_text().splitlines()) == 1 + 9


@pytest.mark.parametrize("command", [["train", "--input", "mfcc", "--model", "linear", "--epochs", "1", "--runs"],
                                     ["report", "--runs", "RUNS", "--reports"],
                                     ["extract", "--data", "DATA", "--features", "mfcc", "--store"],
                                     ["synth", "--clips", "1", "--genres", "1", "--out"]])
def test_an_output_folder_that_is_a_file_is_one_line(command, synth_store, synth_dataset, pair_runs, tmp_path, request):
    from typer.testing import CliRunner

    from genre_tf.cli import app

    runs = pair_runs.get("cnn", "mfcc", request).run_dir.parent
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    args = [{"RUNS": str(runs), "DATA": str(synth_dataset)}.get(a, a) for a in command] + [str(a_file)]
    if command[0] == "train":
        args += ["--store", str(synth_store)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert str(a_file) in result.stderr and ("exists and is not a folder" in result.stderr
                                             or "is a file, not a folder" in result.stderr), result.stderr
    assert a_file.read_text() == "mine"


@pytest.mark.parametrize("command", [["extract", "--data"], ["extract", "--store"], ["train", "--input", "mfcc",
                                     "--model", "linear", "--runs"], ["report", "--reports"], ["synth", "--out"],
                                     ["predict", "x.wav", "--reports"]])
def test_an_empty_path_is_refused_not_taken_for_the_current_folder(command, tmp_path, monkeypatch):
    """`extract --data ''` extracted a whole working folder: an empty path names nothing."""
    from typer.testing import CliRunner

    from genre_tf.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [*command, ""])
    assert result.exit_code == 2 and "empty: name a file or folder" in result.output
    assert not list(tmp_path.iterdir())  # nothing was made here


# The hostile pass, items 11 and 12: a one-sample hop asked for 17 GiB; a refused value was printed
# rounded; the MP3 decoder's own lines landed between ours; "0 songs whose tag disagrees ...".

def _one_error_line(result) -> str:
    from .test_cli import one_line_error

    one_line_error(result)
    return " ".join(result.stderr.split())


def test_an_extract_hop_over_the_cap_of_segments_per_clip_is_refused_before_any_work(synth_dataset, tmp_path):
    from typer.testing import CliRunner

    from genre_tf.cli import app

    def extract(*options):
        return CliRunner().invoke(app, ["extract", "--data", str(synth_dataset), "--store", str(tmp_path / "fs"),
                                        "--features", "mfcc", *options])

    error = _one_error_line(extract("--hop", "0.0000625"))
    assert ("error: --hop 6.25e-05 cuts up to 432,001 segments of 3 s from a clip of --max-seconds 30, over the cap "
            "of 1,000 segments per clip: give a longer hop or a shorter --max-seconds") in error
    assert "cuts up to 1,081 segments" in _one_error_line(extract("--hop", "0.025"))
    assert "not 2.9999999" in _one_error_line(extract("--hop", "2.9999999"))  # as given, not rounded to 3
    assert "--max-seconds must be a positive number of seconds, not -1e-07" in _one_error_line(
        extract("--max-seconds", "-0.0000001"))
    assert not (tmp_path / "fs").exists()


def test_hops_under_the_cap_and_no_overlap_are_taken():
    from genre_tf.config import segment_params
    from genre_tf.config.audio import MAX_SEGMENTS_PER_CLIP

    assert MAX_SEGMENTS_PER_CLIP == 1000  # as the manual says (docs/training.md)
    assert segment_params(hop_seconds=1.5).hop_samples == 24000  # docs/training.md: 19 segments of a 30 s clip
    assert segment_params(hop_seconds=433 / 16000).hop_samples == 433  # 999 segments: under the cap
    assert segment_params(max_seconds=1e6).hop_samples is None  # no overlap: no cap, however long the clips


def test_a_predict_hop_over_the_cap_of_windows_per_second_is_refused_in_one_line(pair_runs, synth_dataset, tmp_path,
                                                                                 request):
    from typer.testing import CliRunner

    from genre_tf.cli import app

    run, song = str(pair_runs.get("linear", "mfcc", request).run_dir), next(synth_dataset.glob("*/*.wav"))
    for hop, shown in (("0.0000625", "6.25e-05"), ("0.09999999", "0.09999999")):
        for songs in ([str(song)], [str(synth_dataset), "--out", str(tmp_path / "labels.csv")]):
            result = CliRunner().invoke(app, ["predict", "--run", run, "--hop", hop, *songs])
            assert ("error: --hop must be between 0.1 s (the cap of 10 windows per second of audio) and the window "
                    f"length (3 s), not {shown}") in _one_error_line(result)
    assert not (tmp_path / "labels.csv").exists()


def _mp3_library(synth_dataset, root):
    """The synthetic clips as MP3s written by libsndfile, with two damaged ones in rock/: bytes of noise
    in the middle of the stream (libmpg123 gives up resyncing: the file fails), and one cut in half (it
    decodes short)."""
    from .helpers import convert

    for wav in synth_dataset.glob("*/*.wav"):
        convert(wav, root / wav.parent.name / f"{wav.stem}.mp3")
    whole = (root / "rock" / "rock.00000.mp3").read_bytes()
    noise = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    middle = len(whole) // 3
    (root / "rock" / "noisy.mp3").write_bytes(whole[:middle] + noise + whole[middle + len(noise):])
    (root / "rock" / "cut.mp3").write_bytes(whole[:len(whole) // 2])
    return root


def test_the_mp3_decoders_own_lines_never_reach_the_terminal(synth_dataset, pair_runs, tmp_path, request, capfd):
    """libmpg123 (inside libsndfile) writes to file descriptor 2 from the decoding threads; the real
    command drops its lines and says what they meant in its own: one for the file that fails, a note
    for the one that decodes short."""
    import subprocess
    import sys

    import soundfile as sf

    music = _mp3_library(synth_dataset, tmp_path / "music")
    with pytest.raises(sf.LibsndfileError):
        sf.read(music / "rock" / "noisy.mp3")
    assert "[src/libmpg123/" in capfd.readouterr().err  # what the decoder writes where nothing filters it

    def genre_tf(*args):
        done = subprocess.run([sys.executable, "-m", "genre_tf", *map(str, args)], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        assert "libmpg123" not in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert not [line for line in done.stderr.splitlines() if line.startswith(("Note: ", "Warning: "))], done.stderr
        return done

    extracted = genre_tf("extract", "--data", music, "--store", tmp_path / "fs", "--features", "mfcc")
    said = " ".join(extracted.stderr.split())
    assert f"skipped: {music / 'rock' / 'noisy.mp3'}: cannot be decoded (a damaged MP3 stream: " in said, said
    assert f"warning: {music / 'rock' / 'cut.mp3'}: damaged or cut: header declares 7.6 s, 3." in said, said
    assert "10 clips, " in extracted.stdout and "1 skipped" in extracted.stdout

    run = pair_runs.get("linear", "mfcc", request).run_dir
    predicted = genre_tf("predict", *sorted(music.glob("*/*.mp3")), "--run", run)
    said = " ".join(predicted.stderr.split())
    assert f"skipped: {music / 'rock' / 'noisy.mp3'}: cannot be decoded" in said, said
    assert f"note: {music / 'rock' / 'cut.mp3'}: damaged or cut" in said, said
    assert len(predicted.stdout.splitlines()) == 10


def test_the_compare_tags_summary_reads_right_for_none_one_and_several():
    from genre_tf.cli.song_commands import disagreements_heading

    assert disagreements_heading(0) == ("no song's tag disagrees with a prediction at least 50% sure "
                                        "(column tag_disagrees)")
    assert disagreements_heading(1) == ("1 song whose tag disagrees with a prediction at least 50% sure "
                                        "(column tag_disagrees):")
    assert disagreements_heading(2).startswith("2 songs whose tag disagrees") and disagreements_heading(
        2).endswith(", the most confident first:")
