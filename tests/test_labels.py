"""Collections that are not genre folders: a labels CSV, FMA as released, a library labelled by its tags.
Each is extracted, trained (on the labels' own split where they carry one), reported and predicted
through the CLI; relabelling keeps the features; bad input is one line naming the file."""
import csv
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genre_tf.cli import app
from genre_tf.core.errors import DatasetError
from genre_tf.io.labels import LabelSource, read_labelled
from genre_tf.io.runs import load_run
from genre_tf.io.store import FeatureStore
from genre_tf.io.tags import genre_key, names_by_key
from genre_tf.workflows.extract import extract

from .helpers import convert, styled_clips, tag_genre, write_fma_tracks
from .test_cli import one_line_error

runner = CliRunner()
TRAIN = ["train", "--input", "mfcc", "--model", "linear", "--epochs", "2", "--batch-size", "8"]


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def train_report_predict(store, tmp_path, clip, *train_options):
    """`train` on the store, `report` the run, `predict` one clip with it: the run folder and the outputs."""
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    trained = invoke(*TRAIN, "--store", store, "--runs", runs, *train_options)
    (run,) = runs.iterdir()
    reported = invoke("report", "--runs", runs, "--reports", reports, "--format", "md")
    predicted = invoke("predict", clip, "--run", run)
    return run, trained, reported, predicted


# --- a labels CSV --------------------------------------------------------------------------------------

CSV_GENRES = {"ambient": "calm", "techno": "club", "rock": "band"}  # the CSV's names, not the folders'


@pytest.fixture(scope="module")
def csv_audio(tmp_path_factory):
    root = tmp_path_factory.mktemp("csv") / "audio"
    return root, styled_clips(root, genres=3, clips=3, seconds=7.6, seed=3)


def write_labels(path, root, clips, split=True, extra=()):
    """path,genre[,split]: each genre's first clip train, second valid, third test; `extra` rows as given."""
    lines = ["path,genre" + (",split" if split else "")]
    for style, paths in clips.items():
        for k, clip in enumerate(paths):
            split_cell = f",{('train', 'valid', 'test')[k]}" if split else ""
            lines.append(f"{clip.relative_to(root)},{CSV_GENRES[style]}{split_cell}")
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return path


def test_a_labels_csv_extracts_trains_on_its_split_reports_and_predicts(csv_audio, tmp_path):
    root, clips = csv_audio
    labels = write_labels(tmp_path / "labels.csv", root, clips)
    out = invoke("extract", "--data", root, "--labels", labels, "--store", tmp_path / "fs", "--features", "mfcc")
    assert "9 clips in 3 genres (labels: csv labels.csv): band 3, calm 3, club 3" in out.stderr
    store = FeatureStore(tmp_path / "fs")
    assert store.genres == ["band", "calm", "club"] and store.manifest.labels["kind"] == "csv"
    assert sorted(store.label_splits().values()) == ["test"] * 3 + ["train"] * 3 + ["valid"] * 3
    run, trained, reported, predicted = train_report_predict(tmp_path / "fs", tmp_path, clips["rock"][2])
    # The labels' own split is the default where they carry one, and the run records it.
    assert "the store's labels (csv labels.csv) carry a split: this run uses it (--split-lists random" in trained.stderr
    assert "split: train 3, valid 3, test 3 clips" in trained.stderr
    assert load_run(run).config.train.split_lists == "labels"
    split = json.loads((run / "split.json").read_text())
    assert split["source"] == {"kind": "labels", "labels": "csv labels.csv"}
    assert sorted(split["test"]) == sorted(str(c[2].relative_to(root)) for c in clips.values())
    assert "(labels: csv labels.csv), split the labels' own split" in reported.stdout
    assert predicted.stdout.startswith(f"{clips['rock'][2]}: ") and "(3 windows)" in predicted.stdout
    for option in (["--split-lists", "random"], ["--split-ratios", "0.34,0.33,0.33"]):
        trained = invoke(*TRAIN, "--store", tmp_path / "fs", "--runs", tmp_path / "random", *option)
        assert "carry a split" not in trained.stderr
    assert [json.loads((r / "split.json").read_text())["source"]["kind"] for r in (tmp_path / "random").iterdir()] \
        == ["random", "random"]


def test_a_labels_csv_without_a_split_trains_on_a_random_one(csv_audio, tmp_path):
    root, clips = csv_audio
    labels = write_labels(tmp_path / "labels.csv", root, clips, split=False)
    invoke("extract", "--data", root, "--labels", labels, "--store", tmp_path / "fs", "--features", "mfcc")
    one_line_error(runner.invoke(app, [*TRAIN, "--store", str(tmp_path / "fs"), "--runs", str(tmp_path / "runs"),
                                       "--split-lists", "labels"]),
                   "the store's labels (csv labels.csv) carry no split")
    trained = invoke(*TRAIN, "--store", tmp_path / "fs", "--runs", tmp_path / "runs")
    assert "split: train 3, valid 3, test 3 clips" in trained.stderr


def test_an_edited_labels_csv_relabels_without_recomputing(csv_audio, tmp_path):
    root, clips = csv_audio
    labels = write_labels(tmp_path / "labels.csv", root, clips)
    first = extract(root, tmp_path / "fs", ["mfcc"], labels=str(labels))
    before = np.array(FeatureStore(tmp_path / "fs").array("mfcc"))
    moved = str(clips["rock"][0].relative_to(root))
    labels.write_text(labels.read_text().replace(f"{moved},band,train", f"{moved},club,valid"))
    again = extract(root, tmp_path / "fs")  # the store remembers its labels CSV
    store = FeatureStore(tmp_path / "fs")
    assert first.extracted == 9 and again.extracted == 0 and again.segments_extracted == 0 and not again.up_to_date
    assert store.index.clip_genres()[moved] == "club" and store.label_splits()[moved] == "valid"
    np.testing.assert_array_equal(np.array(store.array("mfcc")), before)  # the same rows: nothing recomputed
    assert extract(root, tmp_path / "fs").up_to_date


def test_bad_rows_of_a_labels_csv_are_one_line_each_and_the_rest_is_used(csv_audio, tmp_path):
    root, clips = csv_audio
    first = clips["ambient"][0].relative_to(root)
    labels = write_labels(tmp_path / "labels.csv", root, clips, extra=[
        "nowhere/missing.wav,calm,train", f"{first},club,train",
        f"{clips['ambient'][1].relative_to(root)},calm,holdout",
        f"{clips['techno'][0].relative_to(root)},,test"])
    out = invoke("extract", "--data", root, "--labels", labels, "--store", tmp_path / "fs", "--features", "mfcc")
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4, out.stderr
    assert f"{labels} line 11: skipped, {root / 'nowhere/missing.wav'} does not exist" in warnings[0]
    assert f"{labels} line 13: skipped, unknown split 'holdout'" in warnings[1]
    assert f"{labels} line 14: skipped, no genre" in warnings[2]
    # One file, two genres: neither is trusted.
    assert f"{labels} lines 2, 12: skipped, {first} is one file labelled calm (train) on line 2 and club (train) " \
           "on line 12" in warnings[3]
    assert "8 clips in 3 genres: band 3, calm 2, club 3" in out.stderr.replace(" (labels: csv labels.csv)", "")


def test_a_labels_csv_without_its_columns_is_one_line(csv_audio, tmp_path):
    root, _ = csv_audio
    (tmp_path / "labels.csv").write_text("file,label\na.wav,calm\n")
    one_line_error(runner.invoke(app, ["extract", "--data", str(root), "--labels", str(tmp_path / "labels.csv"),
                                       "--store", str(tmp_path / "fs")]),
                   f"{tmp_path / 'labels.csv'}: labels CSV has no path or genre column (its columns: file, label)")


def test_another_kind_of_labels_is_refused_on_an_existing_store(csv_audio, tmp_path):
    root, clips = csv_audio
    labels = write_labels(tmp_path / "labels.csv", root, clips)
    extract(root, tmp_path / "fs", ["mfcc"])  # genre folders
    one_line_error(runner.invoke(app, ["extract", "--labels", str(labels), "--store", str(tmp_path / "fs")]),
                   "the store's labels come from folders, not csv; use --rebuild")


# --- FMA ---------------------------------------------------------------------------------------------

FMA_GENRES = {"ambient": "Experimental", "techno": "Electronic", "rock": "Rock"}
FMA_SPLITS = ("training", "training", "validation", "test")


@pytest.fixture(scope="module")
def fma(tmp_path_factory):
    """fma_small/ (MP3s named by track id) and fma_metadata/tracks.csv in the released format: 12 small
    tracks of 3 genres in all three splits, 3 small tracks without genre_top, a small track without audio,
    medium and large tracks (2 medium ones with audio), and an MP3 with no row."""
    base = tmp_path_factory.mktemp("fma")
    clips = styled_clips(base / "styles", genres=3, clips=6, seconds=7.6, seed=5)
    root, rows, track = base / "fma_small", [], 2
    for style, paths in clips.items():
        for k, path in enumerate(paths[:4]):
            convert(path, root / f"{track:06d}"[:3] / f"{track:06d}.mp3")
            rows.append((track, FMA_GENRES[style], FMA_SPLITS[k], "small"))
            track += 3
    rows += [(140, None, "training", "small"), (141, None, "test", "small"), (142, None, "validation", "small")]
    rows += [(150, "Rock", "training", "small")]  # no audio
    for k, path in enumerate([clips["rock"][4], clips["techno"][4]]):
        convert(path, root / "001" / f"{1200 + k:06d}.mp3")
        rows.append((1200 + k, FMA_GENRES["rock" if k == 0 else "techno"], "training", "medium"))
    rows += [(1300 + k, "Folk", "training", "medium") for k in range(3)]
    rows += [(2000 + k, "Pop", FMA_SPLITS[k], "large") for k in range(4)]
    convert(clips["ambient"][5], root / "099" / "099999.mp3")  # no row
    return root, write_fma_tracks(base / "fma_metadata" / "tracks.csv", rows)


def test_fma_extracts_trains_on_its_official_split_reports_and_predicts(fma, tmp_path):
    root, tracks = fma
    out = invoke("extract", "--data", root, "--labels", "fma", "--fma-subset", "small", "--store", tmp_path / "fs",
                 "--features", "mfcc")
    assert "12 clips in 3 genres (labels: fma small): Electronic 4, Experimental 4, Rock 4" in out.stderr
    assert f"{tracks} track 150: skipped, no audio at {root / '000' / '000150.mp3'}" in out.stderr
    assert f"{tracks}: 3 tracks of fma_small have no top genre (genre_top); skipped" in out.stderr
    assert f"{root / '099' / '099999.mp3'}: skipped, no row in {tracks}" in out.stderr
    store = FeatureStore(tmp_path / "fs")
    assert "000002" in store.index.clip_genres() and store.manifest.labels["file"] == str(tracks)
    run, trained, reported, predicted = train_report_predict(tmp_path / "fs", tmp_path, root / "000" / "000002.mp3",
                                                             "--split-lists", "fma")
    assert "split: train 6, valid 3, test 3 clips" in trained.stderr
    assert json.loads((run / "split.json").read_text())["source"] == {"kind": "labels", "labels": "fma small"}
    assert "(labels: fma small), split the labels' own split" in reported.stdout
    assert "(3 windows)" in predicted.stdout


def test_a_larger_fma_subset_holds_the_smaller(fma, tmp_path):
    root, tracks = fma
    dataset = read_labelled(root, LabelSource("fma", str(tracks), "medium"))
    assert len(dataset.clips) == 14 and {"001200", "001201"} <= {c.clip_id for c in dataset.clips}
    assert sum("skipped, no audio" in p for p in dataset.problems) == 1 + 3  # track 150 and the three Folk ones


def test_a_tracks_csv_that_is_not_fmas_is_one_line(fma, tmp_path):
    root, _ = fma
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "tracks.csv").write_text("track_id,genre\n2,Rock\n")
    one_line_error(runner.invoke(app, ["extract", "--data", str(root), "--labels", "fma", "--fma-metadata",
                                       str(tmp_path / "meta"), "--store", str(tmp_path / "fs")]),
                   "tracks.csv: not FMA's tracks.csv")
    one_line_error(runner.invoke(app, ["extract", "--data", str(root), "--labels", "fma", "--fma-metadata",
                                       str(tmp_path / "nowhere"), "--store", str(tmp_path / "fs")]),
                   "FMA's tracks.csv not found in", "--fma-metadata")


# --- a library labelled by its tags ------------------------------------------------------------------

# (style, artist/album/name, genre tag values or None): ID3 in MP3, Vorbis comments in FLAC and OGG.
TAGGED = [
    ("ambient", "Brian/Airports/1.mp3", ["Ambient"]), ("ambient", "Brian/Airports/2.flac", ["ambient "]),
    ("ambient", "Harold/Plateaux/3.ogg", ["AMBIENT"]),
    ("techno", "Jeff/Purpose/1.mp3", ["Techno; House"]), ("techno", "Jeff/Purpose/2.mp3", ["techno", "Electro"]),
    ("techno", "Robert/Spastik/3.flac", ["Techno"]),
    ("rock", "Band/First/1.mp3", ["(17)"]), ("rock", "Band/First/2.ogg", ["rock/blues"]),
    ("rock", "Band/Second/3.mp3", ["17"]),
    ("metal", "Crew/Tape/1.mp3", ["Hip-Hop"]), ("metal", "Crew/Tape/2.flac", ["Hip Hop"]),
    ("metal", "Crew/Tape/3.ogg", ["hiphop"]),
    ("metal", "Solo/Demo/blues.mp3", ["Blues"]),  # one clip: fewer than --min-clips
    ("rock", "Misc/untagged.mp3", None), ("rock", "Misc/empty.flac", [""]),
]


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    """Artist/album folders of MP3, FLAC and OGG files with messy genre tags; files without a genre,
    with a binary one, and with a tag that cannot be parsed."""
    base = tmp_path_factory.mktemp("tagged")
    clips = styled_clips(base / "styles", genres=4, clips=4, seconds=7.6, seed=7)
    root = base / "library"
    used = {style: 0 for style in clips}
    for style, name, genres in TAGGED:
        path = convert(clips[style][used[style] % 4], root / name)
        used[style] += 1
        if genres is not None:
            tag_genre(path, *genres)
    tag_genre(convert(clips["rock"][3], root / "Misc" / "binary.mp3"), "\x01\x02")
    damaged = convert(clips["ambient"][3], root / "Misc" / "damaged.mp3")
    damaged.write_bytes(b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + b"\xff" * 64 + damaged.read_bytes())
    return root


def test_messy_genre_spellings_become_one_label():
    names = names_by_key(["Hip-Hop", "Hip Hop", "hiphop", "Hip-Hop", "Rock", "rock "])
    assert names == {"hiphop": "hip-hop", "rock": "rock"} and genre_key("R&B") == "rb"


def test_a_tagged_library_extracts_trains_reports_and_predicts(tagged, tmp_path):
    out = invoke("extract", "--data", tagged, "--labels", "tags", "--min-clips", "3", "--store", tmp_path / "fs",
                 "--features", "mfcc")
    assert "12 clips in 4 genres (labels: tags): ambient 3, hip-hop 3, rock 3, techno 3" in out.stderr
    for line in (f"{tagged / 'Misc/untagged.mp3'}: skipped, no genre tag",
                 f"{tagged / 'Misc/empty.flac'}: skipped, no genre tag",
                 f"{tagged / 'Misc/binary.mp3'}: skipped, the genre tag is not text",
                 f"{tagged / 'Misc/damaged.mp3'}: skipped, tag cannot be read",
                 "genre blues: 1 clips, fewer than --min-clips (3); dropped",
                 f"{tagged}: 2 files have no genre tag (placeholders such as Unknown or Other count as none); skipped",
                 f"{tagged}: 3 files have several genres in their tag; the first is used"):
        assert line in out.stderr, line
    store = FeatureStore(tmp_path / "fs")
    assert store.index.clip_genres()["Band/First/1.mp3"] == "rock"  # ID3v1 genre 17
    run, _, reported, predicted = train_report_predict(tmp_path / "fs", tmp_path, tagged / "Crew/Tape/1.mp3")
    assert "(labels: tags)" in reported.stdout and "(3 windows)" in predicted.stdout


def test_a_genre_map_merges_and_drops_genres(tagged, tmp_path):
    (tmp_path / "map.csv").write_text("from,to\nBlues,Rock\nhip hop,\n")
    dataset = read_labelled(tagged, LabelSource("tags", genre_map=str(tmp_path / "map.csv"), min_clips=3))
    assert dataset.genres == ["ambient", "rock", "techno"]
    assert {c.clip_id: c.genre for c in dataset.clips}["Solo/Demo/blues.mp3"] == "rock"
    assert f"{tagged}: 3 files' genres are dropped by the genre map" in dataset.problems


def test_the_default_min_clips_drops_genres_too_small_to_split(tagged, tmp_path):
    with pytest.raises(DatasetError, match=r"no usable labelled clips \(tags; first problem: .*"):
        extract(tagged, tmp_path / "fs", ["mfcc"], labels="tags")  # at most 3 clips a genre here; the default is 5
    assert not (tmp_path / "fs" / "3s" / "manifest.json").exists()


def test_a_retagged_song_is_relabelled_without_recomputing(tagged, tmp_path):
    library = tmp_path / "library"
    shutil.copytree(tagged, library)
    labels = LabelSource("tags", min_clips=2)
    first = extract(library, tmp_path / "fs", ["mfcc"], labels=labels)
    before = np.array(FeatureStore(tmp_path / "fs").array("mfcc"))
    tag_genre(library / "Brian/Airports/1.mp3", "Techno")  # the file's bytes change, its audio does not
    again = extract(library, tmp_path / "fs")
    store = FeatureStore(tmp_path / "fs")
    assert first.extracted == 12 and again.extracted == 0 and again.segments_extracted == 0 and not again.up_to_date
    assert store.index.clip_genres()["Brian/Airports/1.mp3"] == "techno"
    np.testing.assert_array_equal(np.array(store.array("mfcc")), before)
    convert(library / "Band/First/2.ogg", library / "Jeff/Purpose/1.mp3")  # other audio under that name
    tag_genre(library / "Jeff/Purpose/1.mp3", "Techno")
    assert extract(library, tmp_path / "fs").extracted == 1


@pytest.fixture(scope="module")
def tagged_run(tagged, tmp_path_factory):
    """A run that knows the library's styles: trained on its tags, on every clip but the validation ones."""
    work = tmp_path_factory.mktemp("tagged-run")
    extract(tagged, work / "fs", ["mfcc"], labels=LabelSource("tags", min_clips=3))
    invoke("train", "--input", "mfcc", "--model", "cnn", "--epochs", "15", "--batch-size", "8", "--store", work / "fs",
           "--runs", work / "runs", "--split-ratios", "0.8,0.2,0")
    (run,) = (work / "runs").iterdir()
    return run


def test_compare_tags_flags_the_songs_whose_tag_a_confident_prediction_disagrees_with(tagged, tagged_run, tmp_path):
    library = tmp_path / "library"
    shutil.copytree(tagged, library)
    tag_genre(library / "Brian/Airports/2.flac", "Rock")  # ambient music, tagged wrong
    tag_genre(library / "Robert/Spastik/3.flac", "Hip Hop")  # techno, tagged wrong
    out = invoke("predict", library, "--out", tmp_path / "labels.csv", "--compare-tags", "--run", tagged_run)
    flagged = [line.strip() for line in out.stdout.splitlines() if line.startswith("  ")]
    # The two wrong tags, flagged first (the most confident); a model of 12 clips may doubt others.
    assert sorted(line.split(":")[0] for line in flagged[:2]) == ["Brian/Airports/2.flac", "Robert/Spastik/3.flac"], \
        out.stdout
    assert "tagged Rock, predicted ambient" in out.stdout and "tagged Hip Hop, predicted techno" in out.stdout
    assert not any("blues.mp3" in line for line in flagged)  # a genre the run does not know is no disagreement
    rows = {r["path"]: r for r in csv.DictReader(open(tmp_path / "labels.csv"))}
    assert rows["Brian/Airports/2.flac"]["tag"] == "Rock" and rows["Brian/Airports/2.flac"]["tag_disagrees"] == "1"
    assert rows["Misc/untagged.mp3"]["tag"] == "" and rows["Misc/untagged.mp3"]["tag_disagrees"] == "0"


# --- hostile label sources: a wrong label nobody sees is worse than a crash ---------------------------

def test_one_file_under_several_spellings_is_one_clip(csv_audio, tmp_path):
    root, clips = csv_audio
    one, two = (str(clips["ambient"][k].relative_to(root)) for k in (0, 1))
    (tmp_path / "link.wav").symlink_to(clips["rock"][0])
    rock = str(clips["rock"][0].relative_to(root))
    labels = write_labels(tmp_path / "labels.csv", root, clips, split=False, extra=[
        f"./{one},calm", f"{clips['ambient'][0]},calm",  # the same file, the same genre: merged
        f"{root}/./{two},club",  # the same file, another genre: neither is used
        f"{tmp_path / 'link.wav'},band"])  # a link to a listed file: one clip
    dataset = read_labelled(root, LabelSource("csv", str(labels)))
    ids = [c.clip_id for c in dataset.clips]
    assert sorted(ids) == sorted(str(p.relative_to(root)) for ps in clips.values() for p in ps
                                 if str(p.relative_to(root)) != two)
    assert len(ids) == len(set(ids)) == 8 and {c.clip_id: c.genre for c in dataset.clips}[rock] == "band"
    same = "with the same genre; counted once"
    assert f"{labels} line 11: ./{one} is the same file as {one} on line 2 {same}" in dataset.problems
    assert f"{labels} line 12: {clips['ambient'][0]} is the same file as {one} on line 2 {same}" in dataset.problems
    assert f"{labels} lines 3, 13: skipped, {two} is one file labelled calm on line 3 and club on line 13" \
        in dataset.problems
    assert f"{labels} line 14: {tmp_path / 'link.wav'} is the same file as {rock} on line 8 {same}" in dataset.problems


def test_a_labels_csv_merges_genre_spellings_and_names_every_bad_path(csv_audio, tmp_path):
    root, clips = csv_audio
    rows = ["Path,Genre", f"{clips['ambient'][0].relative_to(root)},Rock",
            f"{clips['ambient'][1].relative_to(root)},rock", f'"{clips["ambient"][2].relative_to(root)}",ROCK ',
            '"a\nquoted\nname.wav",Rock', ".,Rock", "/dev/null,Rock",
            "bad\x00name.wav,Rock", f"{'x' * 5000}.wav,Rock", f"{clips['rock'][0].relative_to(root)},Électronique",
            f"{clips['rock'][1].relative_to(root)},ЭЛЕКТРОНИКА", f"{clips['rock'][2].relative_to(root)},🎸",
            f"{clips['techno'][0].relative_to(root)},???"]
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    dataset = read_labelled(root, LabelSource("csv", str(labels)))
    assert dataset.counts() == {"rock": 3, "électronique": 1, "электроника": 1, "🎸": 1}
    problems = "\n".join(dataset.problems)
    assert f"{labels} line 5: skipped, {root / 'a'}\\nquoted\\nname.wav does not exist" in problems  # starts on line 5
    assert f"{labels} line 8: skipped, {root} is a folder" in problems
    assert f"{labels} line 9: skipped, /dev/null is not a regular file" in problems
    assert f"{labels} line 10: skipped, {root}/bad\\x00name.wav the path holds a NUL character" in problems
    assert f"{labels} line 11: skipped, " in problems and "cannot be read (File name too long)" in problems
    assert f"{labels} line 15: skipped, genre '???' has no letters, digits or symbols" in problems
    assert "\x00" not in problems and all(len(p) < 400 for p in dataset.problems)
    labels.write_text("path,genre,Path\na.wav,rock,b.wav\n")
    one_line_error(runner.invoke(app, ["extract", "--data", str(root), "--labels", str(labels), "--store",
                                       str(tmp_path / "fs")]), "labels CSV has 2 path columns (path, Path); keep one")
    long = tmp_path / f"{'y' * 5000}.csv"
    one_line_error(runner.invoke(app, ["extract", "--data", str(root), "--labels", str(long), "--store",
                                       str(tmp_path / "fs")]), "cannot be read (File name too long)")


def test_past_a_few_dozen_problems_extract_prints_a_count_and_lists_them_all_in_a_file(csv_audio, tmp_path):
    root, clips = csv_audio
    labels = write_labels(tmp_path / "labels.csv", root, clips, extra=[f"gone/{k}.wav,calm" for k in range(300)])
    out = invoke("extract", "--data", root, "--labels", labels, "--store", tmp_path / "fs", "--features", "mfcc")
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    listed = tmp_path / "fs" / "3s" / "problems.txt"
    assert len(warnings) == 21
    assert f"… and 280 more lines about files passed over; all 300 are in {listed}" in warnings[-1]
    assert len(listed.read_text().splitlines()) == 300 and "line 310: skipped" in listed.read_text()
    write_labels(labels, root, clips)
    invoke("extract", "--store", tmp_path / "fs")
    assert not listed.exists()  # no stale list once the problems are gone


def test_one_genre_is_a_warning_at_extract_and_a_one_line_refusal_at_train(csv_audio, tmp_path):
    root, clips = csv_audio
    labels = tmp_path / "labels.csv"
    labels.write_text("path,genre\n" + "".join(f"{p.relative_to(root)},calm\n" for ps in clips.values() for p in ps))
    out = invoke("extract", "--data", root, "--labels", labels, "--store", tmp_path / "fs", "--features", "mfcc")
    assert "warning: only one genre (calm): training needs clips of at least two genres" in out.stderr
    for model in ("logreg", "linear"):
        result = runner.invoke(app, ["train", "--input", "mfcc", "--model", model, "--epochs", "1", "--store",
                                     str(tmp_path / "fs"), "--runs", str(tmp_path / "runs")])
        one_line_error(result, "the train split holds clips of one genre (calm); a classifier needs at least two")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def write_raw_fma(path, rows):
    """tracks.csv as the released file lays it out, from (id text, genre_top, split, subset) rows as given."""
    header = [",album,set,set,track,track", ",title,split,subset,genre_top,title", "track_id,,,,,"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header + [f"{t},album {t},{split},{subset},{genre},track {t}" for t, genre, split, subset
                                        in rows]) + "\n")
    return path


def test_fma_damage_costs_the_damaged_rows_only_and_is_named(fma, tmp_path):
    root, _ = fma
    rows = [("2", "Experimental", "Training", "Small"), ("2", "Rock", "test", "small"),  # one id, two genres
            ("5", "Experimental", "TEST", "SMALL"), ("5", "Experimental", "TEST", "SMALL"),  # listed twice alike
            ("8", "Experimental", "validation", "small"), ("11", "Experimental", "holdout", "small"),
            ("", "Rock", "training", "small"), ("abc", "Rock", "training", "small"),
            ("14", "Electronic", "train", "small"), ("17", "Electronic", "", "small"),
            ("20", "Electronic", "valid", "small"),
            ("23", "Electronic", "test", "small"), ("26", "Rock", "training", "small")]
    tracks = write_raw_fma(tmp_path / "meta" / "tracks.csv", rows)
    with open(tracks, "a") as f:
        f.write("41,album 41,training,small,Po")  # a partial download: the last row cut in its genre
    dataset = read_labelled(root, LabelSource("fma", str(tracks), "small"))
    problems = "\n".join(dataset.problems)
    assert {c.clip_id: c.genre for c in dataset.clips} == {
        "000005": "Experimental", "000008": "Experimental", "000011": "Experimental", "000014": "Electronic",
        "000017": "Electronic", "000020": "Electronic", "000023": "Electronic", "000026": "Rock"}
    assert f"{tracks}: track 2 skipped, listed 2 times with different values (genre_top Experimental and Rock, split " \
           "Training and test, subset Small and small)" in problems
    assert f"{tracks}: track 5 is listed 2 times with the same values; counted once" in problems
    assert f"{tracks}: 2 rows have an empty or non-integer track id; skipped" in problems
    assert f"{tracks} line 17: track 41 skipped, its row has 5 of 6 fields (a file cut short?)" in problems
    assert f"{tracks}: 2 tracks of fma_small have no split (set.split 'holdout' 1, empty 1)" in problems
    assert dataset.splits == {"000005": "test", "000008": "valid", "000014": "train", "000020": "valid",
                              "000023": "test", "000026": "train"}
    assert "Po" not in dataset.genres


def test_fma_with_a_repeated_track_extracts_a_store_whose_parts_agree(fma, tmp_path):
    root, _ = fma
    rows = [(t, g, "training", "small") for t, g in ((2, "Experimental"), (5, "Experimental"), (14, "Electronic"),
                                                      (17, "Electronic"), (2, "Rock"))]
    write_fma_tracks(tmp_path / "meta" / "tracks.csv", rows)
    out = invoke("extract", "--data", root, "--labels", "fma", "--fma-metadata", tmp_path / "meta", "--store",
                 tmp_path / "fs", "--features", "mfcc")
    assert "track 2 skipped, listed 2 times with different values (genre_top Experimental and Rock" in out.stderr
    store = FeatureStore(tmp_path / "fs")  # opening checks index = manifest = arrays
    assert sorted(store.manifest.clips) == ["000005", "000014", "000017"] and len(store.array("mfcc")) == len(store)
    assert invoke("extract", "--store", tmp_path / "fs").stderr.count("track 2 skipped") == 1


def test_a_commit_whose_parts_would_disagree_is_refused_and_the_store_stays_as_it_was(csv_audio, tmp_path):
    from genre_tf.core.errors import StoreError
    from genre_tf.io.store import Plan, StoreWriter

    root, _ = csv_audio
    extract(root, tmp_path / "fs", ["mfcc"])
    before = FeatureStore(tmp_path / "fs")
    rows, files = np.array(before.array("mfcc")), sorted(p.name for p in before.root.iterdir())
    old = before.manifest
    clips = [(c, e.genre, e.fingerprint, e.split) for c, e in old.clips.items()]
    plan = Plan(old.data, old.segment_params, {n: f.params for n, f in old.features.items()}, old.labels)
    with StoreWriter(before.root) as writer, pytest.raises(StoreError, match="parts disagree .*is in the index twice"):
        writer.commit(old, clips + [clips[0]], plan, {n: f.dtype for n, f in old.features.items()}, [])
    after = FeatureStore(tmp_path / "fs")
    assert after.manifest.generation == old.generation and sorted(p.name for p in after.root.iterdir()) == files
    np.testing.assert_array_equal(np.array(after.array("mfcc")), rows)


def test_genres_in_every_script_and_id3_placeholders(tmp_path):
    from mutagen.id3 import ID3

    from .helpers import sine, write_audio

    library, tone = tmp_path / "library", sine(440, 0.5, 16000)
    genres = {"ru/1.flac": "Электроника", "ru/2.flac": "электроника", "jp/1.flac": "日本のロック",
              "jp/2.flac": "日本のロック",
              "fr/1.flac": "Électronique", "fr/2.flac": "Electronique", "x/1.flac": "🎸", "x/2.flac": "🎸",
              "p/255.mp3": "(255)", "p/255b.mp3": "255", "p/unknown.mp3": "Unknown", "p/other.mp3": "(12)",
              "p/remix.mp3": "RX", "p/cover.mp3": "CR", "p/dots.flac": "…"}
    for name, genre in genres.items():
        path = write_audio(library / name, tone, 16000, **({"subtype": None} if name.endswith("flac") else {}))
        tag_genre(path, genre)
    v1 = write_audio(library / "p" / "v1.mp3", tone, 16000)  # ID3v1 only, genre byte 192 ("Unknown")
    ID3(v1).delete() if v1.read_bytes()[:3] == b"ID3" else None
    with open(v1, "ab") as f:
        f.write(b"TAG" + b"\0" * 124 + bytes([192]))
    (tmp_path / "map.csv").write_text("from,to\nelectronique,Электроника\n")
    dataset = read_labelled(library, LabelSource("tags", genre_map=str(tmp_path / "map.csv"), min_clips=2))
    assert dataset.counts() == {"электроника": 4, "日本のロック": 2, "🎸": 2}
    problems = "\n".join(dataset.problems)
    for name in [n for n in genres if n.startswith("p/")] + ["p/v1.mp3"]:
        assert f"{library / name}: skipped" in problems, name
    assert f"{library}: 8 files have no genre tag" in problems
    assert "its genre tag '…' has no letters, digits or symbols" in problems


def test_an_itunes_and_opus_library_is_read_labelled_by_its_tags_and_predicted(tagged_run, tmp_path):
    """M4A (AAC and ALAC, genre in MP4's ©gen) and Opus files: found, labelled by their tags, extracted
    and predicted like any other audio."""
    from .helpers import encode_ffmpeg

    styles = styled_clips(tmp_path / "styles", genres=2, clips=4, seconds=7.6, seed=9)
    library = tmp_path / "library"
    for style, paths in styles.items():
        for k, path in enumerate(paths):
            samples, rate = sf.read(path, dtype="float32")
            name, codec = (("aac.m4a", "aac"), ("alac.m4a", "alac"), ("a.opus", "libopus"), ("b.m4a", "aac"))[k]
            tag_genre(encode_ffmpeg(library / style / name, samples, rate, codec, stereo=False), style.title())
    out = invoke("extract", "--data", library, "--labels", "tags", "--min-clips", "2", "--store", tmp_path / "fs",
                 "--features", "mfcc")
    assert "8 clips in 2 genres (labels: tags): ambient 4, techno 4" in out.stderr, out.stderr
    assert FeatureStore(tmp_path / "fs").manifest.clips["techno/alac.m4a"].count == 3
    predicted = invoke("predict", library / "ambient" / "aac.m4a", "--run", tagged_run)
    assert predicted.stdout.startswith(f"{library / 'ambient' / 'aac.m4a'}: ") and "(3 windows)" in predicted.stdout
