"""`genre-tf tag` on a fixture library (nested artist/album folders; MP3 with ID3v2.4, v2.3 and v1 alone, FLAC
with cover art and ReplayGain, Ogg Vorbis, Opus, M4A, AIFF; some tagged, some not; a read-only file, a symbolic
link, a hard-linked file): the plan changes no byte; --write changes the genre alone (beets' mediafile reads
every other field as before, the audio decodes to the same samples); the journal undoes exactly what was
written; a write stopped between two files leaves each file old or new."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from genre_tf.cli import app
from genre_tf.core.errors import GenreTfError
from genre_tf.core.files import file_digest
from genre_tf.io.tag_journal import PLAN_FILE, PREDICTIONS_FILE, read_journal, read_plan
from genre_tf.io.tag_writer import genre_field, write_genre_field, written_name
from genre_tf.workflows.tagging import (
    TagOptions,
    confidence_for_precision,
    plan_tags,
    run_confidence,
    undo_tags,
    write_tags,
)

from .helpers import sine
from .tag_library import RATE, decoded, make_file, mediafile_fields
from .test_cli import one_line_error

runner = CliRunner()
# The fixture library: {path: the kind of file (tag_library.KINDS)}; its genre values are KINDS'.
LAYOUT = {"Artist A/Album 1": ["mp3-v2.4", "mp3-v2.3"], "Artist A/Album 2": ["mp3-v1", "mp3-bare"],
          "Artist B/Album 3": ["flac", "ogg"], "Artist B/Album 4": ["opus", "flac+id3"],
          "Artist C/Album 5": ["m4a-aac", "aiff"]}
UNTAGGED = {"Artist A/Album 1/mp3-v2.3.mp3", "Artist A/Album 2/mp3-bare.mp3", "Artist B/Album 4/flac+id3.flac",
            "Artist C/Album 5/aiff.aiff"}
REFUSED = {"Odd/link.mp3": "symbolic link", "Odd/read-only.mp3": "read-only", "Odd/hard-a.mp3": "hard link",
           "Odd/hard-b.mp3": "hard link"}
EVERYTHING = TagOptions(min_confidence=0.0)


@pytest.fixture(scope="module")
def run(pair_runs, request):
    return pair_runs.get("cnn", "mfcc", request).run_dir


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine") / "library"
    for k, (folder, kinds) in enumerate(LAYOUT.items()):
        for j, kind in enumerate(kinds):
            samples = sine(220 * (1 + k + j / 2), 3.5, RATE) + sine(330 * (1 + j), 3.5, RATE, 0.2)
            make_file(root / folder, samples, kind)
    return root


@pytest.fixture
def library(pristine, tmp_path) -> Path:
    """A copy of the fixture library, with a symbolic link, a read-only file and two names of one file."""
    root = Path(shutil.copytree(pristine, tmp_path / "library"))
    untagged = root / "Artist A/Album 2/mp3-bare.mp3"
    (root / "Odd").mkdir()
    (root / "Odd/link.mp3").symlink_to(os.path.relpath(untagged, root / "Odd"))
    shutil.copy(untagged, root / "Odd/read-only.mp3")
    os.chmod(root / "Odd/read-only.mp3", 0o444)
    shutil.copy(untagged, root / "Odd/hard-a.mp3")
    os.link(root / "Odd/hard-a.mp3", root / "Odd/hard-b.mp3")
    return root


def files_of(root: Path) -> dict[str, tuple]:
    """{path: (bytes' digest, mtime)} of every file under root (a link: where it points)."""
    return {p.relative_to(root).as_posix(): (os.readlink(p),) if p.is_symlink() else
            (file_digest(p), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def views(root: Path) -> dict[str, tuple]:
    """{path: (genre values, every other field mediafile reads, the decoded audio)} of each real file."""
    return {p.relative_to(root).as_posix(): (genre_field(p), mediafile_fields(p), decoded(p))
            for p in sorted(root.rglob("*.*")) if p.is_file() and not p.is_symlink()}


def same_audio_and_fields(before: dict, after: dict) -> None:
    for path, (_, fields, audio) in before.items():
        assert after[path][1] == fields, path
        np.testing.assert_array_equal(after[path][2], audio, err_msg=path)


def test_the_plan_changes_no_byte_and_says_what_each_song_would_get(run, library, tmp_path):
    before = files_of(library)
    plan = plan_tags(run, library, tmp_path / "tagging", EVERYTHING)
    assert files_of(library) == before
    actions = {song.path: (song.action, song.reason.split(":")[0]) for song in plan.songs}
    assert {p for p, (a, _) in actions.items() if a == "write"} == UNTAGGED
    assert {p: kind for p, (a, kind) in actions.items() if a == "refuse"} == REFUSED
    assert {p for p, (a, _) in actions.items() if a == "keep"} == set(views(library)) - UNTAGGED - set(REFUSED)
    rows = {row["path"]: row for row in read_plan(plan.plan_file)}
    assert set(rows) == set(actions) and all(rows[p]["action"] == a for p, (a, _) in actions.items())
    for song in plan.songs:
        assert song.genre == written_name(song.genre.lower()) and song.confidence is not None
        assert rows[song.path]["current"] == "; ".join(genre_field(library / song.path))


def test_write_changes_the_genre_alone_and_undo_puts_it_back(run, library, tmp_path):
    before_views, before_files = views(library), files_of(library)
    out = tmp_path / "tagging"
    result = runner.invoke(app, ["tag", str(library), "--run", str(run), "--out", str(out), "--mode", "replace",
                                 "--min-confidence", "0", "--write"])
    assert result.exit_code == 0, result.output
    plan = {row["path"]: row for row in read_plan(out / PLAN_FILE)}
    written = {p for p, row in plan.items() if row["action"] == "write"}
    assert written and written == {p for p in before_views if p not in REFUSED and plan[p]["action"] != "unchanged"}
    assert f"written {len(written)}," in result.stdout and "refused 4 (hard link 2, read-only 1, symbolic link 1)" \
        in result.stdout
    after = views(library)
    same_audio_and_fields(before_views, after)
    for path in written:
        assert after[path][0] == [plan[path]["genre"]]
    after_files = files_of(library)
    assert {p for p in before_files if after_files[p] != before_files[p]} == written
    assert os.stat(library / "Odd/hard-a.mp3").st_nlink == 2 and (library / "Odd/link.mp3").is_symlink()

    journal = next(out.glob("journal-*.jsonl"))
    header, entries = read_journal(journal)
    assert header["library"] == str(library) and {Path(e.path).relative_to(library).as_posix() for e in entries} \
        == written
    for entry in entries:
        assert file_digest(entry.path) == entry.sha256_after and entry.old == before_views[
            Path(entry.path).relative_to(library).as_posix()][0]
    result = runner.invoke(app, ["tag", "--undo", str(journal)])
    assert result.exit_code == 0, result.output
    assert f"restored {len(written)}, 0 had their old genres already, refused 0" in result.stdout
    restored = views(library)
    same_audio_and_fields(before_views, restored)
    assert {p: v[0] for p, v in restored.items()} == {p: v[0] for p, v in before_views.items()}
    assert {p for p, v in files_of(library).items() if v != before_files[p]} <= written  # tags rewritten, not others


def test_a_rerun_predicts_nothing_again_and_finds_nothing_to_write(run, library, tmp_path):
    out = tmp_path / "tagging"
    first = plan_tags(run, library, out, EVERYTHING)
    write_tags(first)
    again = plan_tags(run, library, out, EVERYTHING)
    assert again.labelled.labelled == 0  # the written songs' rows stand for their files as they are now
    kept = {s.path for s in again.songs if s.action == "keep"}
    # the link's target has a genre now: a link is kept, where it was refused, as it would be written
    assert again.count("write") == 0 and kept == {s.path for s in first.songs if s.action in ("keep", "write")} | {
        "Odd/link.mp3"}


def test_a_file_changed_after_its_prediction_is_refused_and_the_rest_go_on(run, library, tmp_path):
    plan = plan_tags(run, library, tmp_path / "tagging", EVERYTHING)
    changed = library / "Artist C/Album 5/aiff.aiff"
    write_genre_field(changed, ["Mine"])
    outcome = write_tags(plan)
    assert [(p, kind) for p, kind, _ in outcome.refused] == [("Artist C/Album 5/aiff.aiff", "changed")]
    assert genre_field(changed) == ["Mine"] and len(outcome.written) == len(UNTAGGED) - 1


def test_a_surprise_on_one_file_is_one_refusal_and_leaves_it_as_it_was(run, library, tmp_path, monkeypatch):
    from genre_tf.workflows import tagging

    plan = plan_tags(run, library, tmp_path / "tagging", EVERYTHING)
    real = tagging.decoded_digest
    broken = library / "Artist C/Album 5/aiff.aiff"
    before = file_digest(broken)

    def decoded_digest(path):
        if Path(path).name.endswith("aiff.aiff"):
            raise ValueError("a decoder's surprise")
        return real(path)

    monkeypatch.setattr(tagging, "decoded_digest", decoded_digest)
    outcome = write_tags(plan)
    assert outcome.refused == [("Artist C/Album 5/aiff.aiff", "failed", "ValueError: a decoder's surprise")]
    assert file_digest(broken) == before and len(outcome.written) == len(UNTAGGED) - 1


def test_undo_refuses_a_file_changed_since_it_was_written_and_restores_the_rest(run, library, tmp_path):
    plan = plan_tags(run, library, tmp_path / "tagging", EVERYTHING)
    outcome = write_tags(plan)
    edited = library / "Artist A/Album 1/mp3-v2.3.mp3"
    write_genre_field(edited, ["Edited by hand"])
    undone = undo_tags(outcome.journal)
    assert [(Path(p).name, kind) for p, kind, _ in undone.refused] == [("mp3-v2.3.mp3", "changed")]
    assert genre_field(edited) == ["Edited by hand"] and len(undone.written) == len(UNTAGGED) - 1
    assert all(genre_field(library / p) == [] for p in UNTAGGED - {"Artist A/Album 1/mp3-v2.3.mp3"})


def test_a_write_stopped_between_journal_and_rename_leaves_each_file_old_or_new(run, library, tmp_path, monkeypatch):
    """Stopped at the third file's rename, after its journal entry: that file is as it was; undo restores the two
    renamed and finds the third as it was."""
    plan = plan_tags(run, library, tmp_path / "tagging", EVERYTHING)
    before = views(library)
    renames, real_replace = [], os.replace

    def replace(source, target):
        renames.append(target)
        if len(renames) == 3:
            raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write_tags(plan)
    monkeypatch.setattr(os, "replace", real_replace)
    journal = next((tmp_path / "tagging").glob("journal-*.jsonl"))
    _, entries = read_journal(journal)
    assert len(entries) == 3 and not list(library.rglob(".*genre-tf-tmp*"))  # no copy left behind
    for path, (genres, _, _) in views(library).items():
        planned = next(s for s in plan.songs if s.path == path)
        assert genres == before[path][0] or (planned.action == "write" and genres == planned.new), path
    assert genre_field(entries[2].path) == entries[2].old
    undone = undo_tags(journal)
    assert (len(undone.written), undone.as_they_were, undone.refused) == (2, 1, [])
    assert {p: v[0] for p, v in views(library).items()} == {p: v[0] for p, v in before.items()}
    again = undo_tags(journal)  # undone already: nothing to do, and no empty journal
    assert (again.written, again.as_they_were, again.refused, again.journal) == ([], 3, [], None)


def test_a_copy_left_by_a_kill_is_not_a_song_and_the_next_write_removes_it(run, library, tmp_path):
    leftovers = [library / "Artist C/Album 5/.aiff.genre-tf-tmp.aiff",  # a song to write
                 library / "Artist B/Album 3/.flac.genre-tf-tmp.flac"]  # one kept
    for leftover in leftovers:
        leftover.write_bytes(b"half a copy")
    plan = plan_tags(run, library, tmp_path / "tagging", EVERYTHING)
    assert not any("genre-tf-tmp" in s.path for s in plan.songs) and all(p.exists() for p in leftovers)
    write_tags(plan)
    assert not any(p.exists() for p in leftovers) and genre_field(library / "Artist C/Album 5/aiff.aiff") != []


@pytest.mark.parametrize("mode, current, new", [
    ("fill", ["Unknown"], ["{g}"]),  # a placeholder is no genre
    ("replace", ["Rock"], ["{g}"]),
    ("add", ["Rock"], ["Rock", "{g}"]),
    ("add", ["Unknown", "Rock"], ["Rock", "{g}"]),
])
def test_modes(run, library, tmp_path, mode, current, new):
    song = library / "Artist B/Album 3/flac.flac"
    write_genre_field(song, current)
    plan = plan_tags(run, library, tmp_path / "tagging", TagOptions(mode=mode, min_confidence=0.0))
    planned = next(s for s in plan.songs if s.path == "Artist B/Album 3/flac.flac")
    assert planned.new == [v.format(g=planned.genre) for v in new]


def test_several_genres_in_an_id3v23_tag_are_added_to_and_undone(run, library, tmp_path):
    song = library / "Artist A/Album 1/mp3-v2.3.mp3"
    write_genre_field(song, ["Rock", "Pop"])
    assert genre_field(song) == ["Rock/Pop"]  # v2.3's way
    plan = plan_tags(run, library, tmp_path / "tagging", TagOptions(mode="add", min_confidence=0.0))
    planned = next(s for s in plan.songs if s.path == "Artist A/Album 1/mp3-v2.3.mp3")
    outcome = write_tags(plan)
    assert genre_field(song) == [f"Rock/Pop/{planned.genre}"] and planned.path in outcome.written
    undone = undo_tags(outcome.journal)
    assert undone.refused == [] and genre_field(song) == ["Rock/Pop"]


def test_below_the_confidence_and_dropped_by_the_genre_map_are_not_written(run, library, tmp_path):
    plan = plan_tags(run, library, tmp_path / "a", TagOptions(min_confidence=1.0))
    assert plan.count("below") == len(plan.songs) - plan.count("failed")
    labels = sorted({s.genre for s in plan.songs})
    genre_map = tmp_path / "map.csv"
    genre_map.write_text("from,to\n" + "".join(f"{g},\n" for g in labels[1:]) + f"{labels[0]},Hip Hop Ünïcode\n")
    plan = plan_tags(run, library, tmp_path / "b", TagOptions(min_confidence=0.0, genre_map=str(genre_map)))
    assert {s.genre for s in plan.songs if s.action == "write"} <= {"Hip Hop Ünïcode"}
    assert {s.action for s in plan.songs if s.genre != "Hip Hop Ünïcode"} <= {"dropped", "failed"}


def test_confidence_for_precision_is_the_lowest_confidence_that_keeps_the_share_right():
    confidence = np.array([0.99, 0.95, 0.9, 0.9, 0.8, 0.7, 0.6])
    right = np.array([1, 1, 1, 0, 1, 0, 0], bool)
    # above 0.9: 4 clips, 3 right (75%); above 0.8: 5 clips, 4 right (80%); the tie at 0.9 is never cut
    assert confidence_for_precision(confidence, right, 0.8, min_clips=1) == (0.8, 5, 0.8)
    assert confidence_for_precision(confidence, right, 1.0, min_clips=1) == (0.95, 2, 1.0)
    assert confidence_for_precision(confidence, right, 1.0, min_clips=3) is None


def test_the_default_confidence_is_the_runs_own_where_it_has_enough_test_clips(run):
    from genre_tf.config import TAG_MIN_CONFIDENCE
    from genre_tf.io.runs import load_run

    threshold, source = run_confidence(load_run(run))
    assert (threshold == TAG_MIN_CONFIDENCE and "the default" in source) or "the run's own" in source


def test_genre_names_are_written_as_people_write_them():
    assert [written_name(g) for g in ("hiphop", "hip-hop", "rock", "drum-and-bass", "электроника")] == \
        ["Hip-Hop", "Hip-Hop", "Rock", "Drum and Bass", "Электроника"]


def test_a_journal_cut_by_a_kill_reads_to_its_last_whole_line(run, library, tmp_path):
    outcome = write_tags(plan_tags(run, library, tmp_path / "tagging", EVERYTHING))
    with open(outcome.journal, "a") as f:
        f.write('{"path": "/music/half a line')
    assert len(read_journal(outcome.journal)[1]) == len(UNTAGGED)
    (tmp_path / "not.jsonl").write_text('{"a": 1}\n')
    with pytest.raises(GenreTfError, match="not a genre-tf tag journal"):
        read_journal(tmp_path / "not.jsonl")


def test_the_cli_refuses_misuse_in_one_line(run, library, tmp_path):
    one_line_error(runner.invoke(app, ["tag", "--run", str(run)]), "name the library")
    one_line_error(runner.invoke(app, ["tag", str(library), "--undo", str(tmp_path / "j.jsonl")]), "give it alone")
    one_line_error(runner.invoke(app, ["tag", "--undo", str(tmp_path / "nowhere.jsonl")]), "nowhere.jsonl",
                   "cannot be read")
    one_line_error(runner.invoke(app, ["tag", str(library), "--run", str(run), "--mode", "merge"]), "--mode",
                   "fill, replace, add")
    one_line_error(runner.invoke(app, ["tag", str(tmp_path / "nowhere"), "--run", str(run)]), "does not exist")
    one_line_error(runner.invoke(app, ["tag", str(library), "--run", str(run), "--out", str(library / "tagging")]),
                   "inside the library")
    out = tmp_path / "tagging"
    (out).mkdir()
    (out / "library.json").write_text(json.dumps({"library": "/elsewhere"}))
    one_line_error(runner.invoke(app, ["tag", str(library), "--run", str(run), "--out", str(out)]),
                   "holds the plan of /elsewhere")
    assert not (out / PREDICTIONS_FILE).exists()


def test_a_genre_field_an_undo_could_not_write_back_is_refused(run, library, tmp_path):
    from mutagen.flac import FLAC

    song = library / "Artist B/Album 3/flac.flac"
    for value in ("", "Rock\tPop"):
        audio = FLAC(song)
        audio["GENRE"] = value
        audio.save()
        plan = plan_tags(run, library, tmp_path / "tagging", TagOptions(mode="replace", min_confidence=0.0))
        planned = next(s for s in plan.songs if s.path == "Artist B/Album 3/flac.flac")
        assert (planned.action, planned.reason.split(":")[0]) == ("refuse", "unusual genre")


@pytest.mark.parametrize("stored, action", [("(12)", "write"), ("(255)", "write"), ("12", "write"), ("(17)", "keep")])
def test_id3_numeric_genres_are_read_as_players_read_them(run, library, tmp_path, stored, action):
    from mutagen.id3 import ID3, TCON

    song = library / "Artist A/Album 1/mp3-v2.4.mp3"
    tags = ID3(song)
    tags.setall("TCON", [TCON(encoding=3, text=[stored])])
    tags.save(song)
    plan = plan_tags(run, library, tmp_path / "fill", EVERYTHING)  # Other and Unknown are no genre
    assert next(s for s in plan.songs if s.path == "Artist A/Album 1/mp3-v2.4.mp3").action == action
    add = plan_tags(run, library, tmp_path / "add", TagOptions(mode="add", min_confidence=0.0))
    planned = next(s for s in add.songs if s.path == "Artist A/Album 1/mp3-v2.4.mp3")
    assert planned.new in ([planned.genre], ["Rock", planned.genre], [])  # names, never '(17)/Rock'


def test_one_writer_per_library(run, library, tmp_path):
    from genre_tf.core.files import FolderLock

    plan = plan_tags(run, library, tmp_path / "tagging", EVERYTHING)
    lock = FolderLock(library)
    assert lock.acquire()
    try:
        with pytest.raises(GenreTfError, match="another `genre-tf tag --write` or `--undo` is writing"):
            write_tags(plan)
    finally:
        lock.release()
    assert all(genre_field(library / p) == [] for p in UNTAGGED)


def test_a_prediction_table_held_by_another_run_does_not_undo_a_finished_write(run, library, tmp_path):
    from genre_tf.core.files import Lock
    from genre_tf.workflows.events import FileEvents

    class Warnings(FileEvents):
        def __init__(self):
            self.lines = []

        def warn(self, message):
            self.lines.append(message)

    out = tmp_path / "tagging"
    plan = plan_tags(run, library, out, EVERYTHING)
    table_lock, events = Lock(out / f".{PREDICTIONS_FILE}.lock"), Warnings()
    assert table_lock.acquire()
    try:
        outcome = write_tags(plan, events)
    finally:
        table_lock.release()
    assert len(outcome.written) == len(UNTAGGED) and outcome.journal
    assert len(events.lines) == 1 and "will be labelled again by the next `tag`" in events.lines[0]


def test_a_read_only_folder_is_refused_even_for_root(run, library, tmp_path):
    folder = library / "Artist C/Album 5"
    folder.chmod(0o555)
    try:
        plan = plan_tags(run, library, tmp_path / "tagging", EVERYTHING)
    finally:
        folder.chmod(0o755)
    assert next(s for s in plan.songs if s.path == "Artist C/Album 5/aiff.aiff").reason == \
        "read-only: its folder is read-only"


def test_a_genre_map_target_with_a_line_break_is_refused_before_anything(run, library, tmp_path):
    genre_map = tmp_path / "map.csv"
    genre_map.write_text('from,to\nrock,Rock\nblues,"Hip\nHop"\n')
    one_line_error(runner.invoke(app, ["tag", str(library), "--run", str(run), "--out", str(tmp_path / "t"),
                                       "--genre-map", str(genre_map)]), "line 3", "control character")
    one_line_error(runner.invoke(app, ["tag", str(library), "--run", str(run), "--out", str(tmp_path / ("x" * 300))]),
                   "name too long")
