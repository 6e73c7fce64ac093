"""`genre-tf tag` on a fixture library, end to end through the real command line: the plan, --write and --undo
checked by an independent reader (beets' mediafile) and by decoding (FFmpeg); then a kill -9 campaign during
--write: after each kill every file decodes to its old audio and holds its old genre or the planned one, the
journal names exactly the files renamed, a rerun finishes the job, and the journals undo it all.

The library: real music (the GTZAN clips in ../shared, 10 s of each) in nested artist/album folders, as MP3
with ID3v2.4, v2.3 and v1 alone, FLAC with cover art and ReplayGain, Ogg Vorbis, Opus, M4A (AAC, ALAC), WAV,
AIFF; some tagged, some not; a read-only file, a symbolic link, a hard-linked file.

    python scripts/tag_safety.py --run RUN [--kills 24] [--copies 3] [--work /tmp/tag-safety]
"""
from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mutagen
import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genre_tf.core.files import file_digest  # noqa: E402
from genre_tf.io.tag_journal import read_journal, read_plan  # noqa: E402
from genre_tf.io.tag_writer import genre_field  # noqa: E402
from tests.tag_library import KINDS, RATE, decoded, make_file, mediafile_fields  # noqa: E402

GENRE_TF = str(Path(sys.executable).with_name("genre-tf"))
SHARED_CLIPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "gtzan-sample"
ODD = {"Odd/link.mp3": "symbolic link", "Odd/read-only.mp3": "read-only", "Odd/hard-a.mp3": "hard link",
       "Odd/hard-b.mp3": "hard link"}


def build(root: Path, clips: list[Path], copies: int) -> None:
    """`copies` artists, each with every kind of file in two albums, and the odd files."""
    shutil.rmtree(root, ignore_errors=True)
    kinds, k = list(KINDS), 0
    for artist in range(copies):
        for j, kind in enumerate(kinds):
            samples, rate = sf.read(clips[k % len(clips)], dtype="float32", frames=10 * 22050)
            k += 1
            folder = root / f"Artist {artist + 1}" / f"Album {1 + j * 2 // len(kinds)}"
            make_file(folder, soxr.resample(samples, rate, RATE), kind)
    odd = root / "Odd"
    odd.mkdir()
    bare = next(root.rglob("mp3-bare.mp3"))
    (odd / "link.mp3").symlink_to(Path("..") / bare.relative_to(root))
    for name in ("read-only.mp3", "hard-a.mp3"):
        shutil.copy(bare, odd / name)
    (odd / "read-only.mp3").chmod(0o444)
    (odd / "hard-b.mp3").hardlink_to(odd / "hard-a.mp3")


def restore(pristine: Path, root: Path) -> None:
    """`root` as `pristine` was, at the same path (the prediction table's fingerprints hold), hard link and all."""
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(pristine, root, symlinks=True)
    (root / "Odd/hard-b.mp3").unlink()
    (root / "Odd/hard-b.mp3").hardlink_to(root / "Odd/hard-a.mp3")


def view(root: Path) -> dict[str, dict]:
    """Each real file: genre values, every other field beets' mediafile reads, ID3 version, decoded audio."""
    views = {}
    for path in sorted(p for p in root.rglob("*.*") if p.is_file() and not p.is_symlink()
                       and not p.name.startswith(".")):  # a copy a kill left is no song (counted apart)
        audio = mutagen.File(path)
        version = getattr(audio.tags, "version", None) if audio is not None else None
        views[path.relative_to(root).as_posix()] = {"genres": genre_field(path), "fields": mediafile_fields(path),
                                                    "id3": version, "audio": decoded(path)}
    return views


def unchanged_but_genre(before: dict, after: dict) -> list[str]:
    """Files whose other fields, ID3v2 version or decoded audio differ (should be none). An MP3 without an ID3v2
    tag (none, or ID3v1 alone) gets a v2.4 one."""
    def id3v2(view: dict):
        return view["id3"] if view["id3"] and view["id3"] >= (2, 3, 0) else None

    return [p for p in before if after[p]["fields"] != before[p]["fields"]
            or id3v2(before[p]) not in (id3v2(after[p]), None)
            or not np.array_equal(after[p]["audio"], before[p]["audio"])]


def genre_tf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([GENRE_TF, "tag", *args], capture_output=True, text=True)


def walkthrough(run: str, pristine: Path, root: Path, out: Path) -> dict:
    """Plan, --write, --undo through the CLI, each checked."""
    restore(pristine, root)
    shutil.rmtree(out, ignore_errors=True)
    before = view(root)
    digests = {p: file_digest(root / p) for p in before}
    common = [str(root), "--run", run, "--out", str(out)]
    planned = genre_tf(*common)
    assert planned.returncode == 0, planned.stderr
    print(planned.stdout + planned.stderr)
    assert {p: file_digest(root / p) for p in before} == digests, "the plan changed a file"
    plan = {row["path"]: row for row in read_plan(out / "plan.csv")}
    written = genre_tf(*common, "--write")
    assert written.returncode == 0, written.stderr
    print(written.stdout.splitlines()[-1])
    after = view(root)
    to_write = {p for p, row in plan.items() if row["action"] == "write"}
    wrong = [p for p in to_write if after[p]["genres"] != [plan[p]["new"]]]
    others = [p for p in before if p not in to_write and file_digest(root / p) != digests[p]]
    journal = next(out.glob("journal-*.jsonl"))
    undone = genre_tf("--undo", str(journal))
    assert undone.returncode == 0, undone.stderr
    print(undone.stdout.strip())
    restored = view(root)
    result = {"files": len(before), "planned writes": len(to_write), "written as planned": len(to_write) - len(wrong),
              "other files changed by --write": len(others),
              "files with another field, ID3 version or audio changed (write)": len(unchanged_but_genre(before, after)),
              "genres restored by --undo": sum(restored[p]["genres"] == before[p]["genres"] for p in before),
              "files with another field, ID3 version or audio changed (undo)": len(unchanged_but_genre(before,
                                                                                                   restored))}
    for name, value in result.items():
        print(f"  {name}: {value}")
    return result


def campaign(run: str, pristine: Path, root: Path, out: Path, kills: int, seed: int) -> list[dict]:
    """`kills` runs of --write killed (SIGKILL) at a random moment: three in four while it writes (after its
    journal's first entry), one in four at any moment from its start."""
    rng = random.Random(seed)
    restore(pristine, root)
    shutil.rmtree(out, ignore_errors=True)
    common = [str(root), "--run", run, "--out", str(out), "--mode", "replace", "--min-confidence", "0"]
    assert genre_tf(*common).returncode == 0  # the prediction table, made once: each kill starts from it
    plan = {row["path"]: row for row in read_plan(out / "plan.csv")}
    before = view(root)
    table = {name: (out / name).read_bytes() for name in ("predictions.csv", "library.json")}
    whole_seconds, write_seconds = _write_seconds([GENRE_TF, "tag", *common, "--write"], out)
    results = []
    for kill in range(kills):
        restore(pristine, root)
        shutil.rmtree(out)
        out.mkdir()
        for name, data in table.items():
            (out / name).write_bytes(data)
        process = subprocess.Popen([GENRE_TF, "tag", *common, "--write"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        if kill % 4 == 3:  # any moment of the command, from its start
            time.sleep(rng.uniform(0, whole_seconds))
        else:  # a moment while it writes: from its first journal entry
            while not list(out.glob("journal-*.jsonl")) and process.poll() is None:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 1.1 * write_seconds))
        process.send_signal(signal.SIGKILL)
        process.wait()
        results.append(_check_kill(kill, run, root, out, common, before, plan))
    return results


def _write_seconds(command: list[str], out: Path) -> tuple[float, float]:
    """How long an uninterrupted --write takes, and how long it writes: from its journal's first entry to its
    last."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not list(out.glob("journal-*.jsonl")) and process.poll() is None:
        time.sleep(0.002)
    journal_seen = time.time()
    assert process.wait() == 0
    whole, writing = time.monotonic() - started, next(out.glob("journal-*.jsonl")).stat().st_mtime - journal_seen
    print(f"an uninterrupted --write: {whole:.1f} s, of which writing {writing:.2f} s")
    return whole, writing


def _check_kill(kill: int, run: str, root: Path, out: Path, common: list[str], before: dict, plan: dict) -> dict:
    journals = list(out.glob("journal-*.jsonl"))
    entries = read_journal(journals[0])[1] if journals else []
    after = view(root)
    new = {p for p in before if after[p]["genres"] != before[p]["genres"]}
    bad = [p for p in before if after[p]["genres"] not in (before[p]["genres"], [plan[p]["new"]] if plan[p]["new"]
                                                          else [])]
    renamed = {Path(e.path).relative_to(root).as_posix() for e in entries if file_digest(e.path) == e.sha256_after}
    leftovers = len(list(root.rglob(".*genre-tf-tmp*")))
    finished = genre_tf(*common, "--write")  # resumes: the songs written are unchanged now
    assert finished.returncode == 0, finished.stderr
    leftovers_after = len(list(root.rglob(".*genre-tf-tmp*")))
    complete = view(root)
    all_new = all(complete[p]["genres"] == ([plan[p]["new"]] if plan[p]["action"] == "write" else before[p]["genres"])
                  for p in before)
    for journal in sorted(out.glob("journal-*.jsonl"), reverse=True):  # the last written first
        undone = genre_tf("--undo", str(journal))
        assert undone.returncode == 0, undone.stderr
    restored = view(root)
    row = {"kill": kill + 1, "entries": len(entries), "renamed": len(renamed), "new genre": len(new),
           "neither old nor new": len(bad), "audio or fields changed": len(unchanged_but_genre(before, after)),
           "journal = renamed = new": renamed == new, "leftover copies": leftovers,
           "left after the rerun": leftovers_after, "rerun completes": all_new,
           "undo restores all": all(restored[p]["genres"] == before[p]["genres"] for p in before)
           and not unchanged_but_genre(before, restored)}
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--clips", type=Path, default=SHARED_CLIPS)
    parser.add_argument("--work", type=Path, default=Path("/tmp/tag-safety"))
    parser.add_argument("--copies", type=int, default=3, help="artists, each with every kind of file")
    parser.add_argument("--kills", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    clips = sorted(args.clips.rglob("*.wav"))
    if not clips:
        sys.exit(f"{args.clips}: no clips (the GTZAN sample in ../shared)")
    pristine, root, out = args.work / "pristine", args.work / "library", args.work / "tagging"
    build(pristine, clips, args.copies)
    print(f"library: {sum(1 for p in pristine.rglob('*.*'))} files under {pristine}")
    walkthrough(args.run, pristine, root, out)
    results = campaign(args.run, pristine, root, out, args.kills, args.seed)
    print(f"\n{len(results)} kills: entries at the kill {sorted(r['entries'] for r in results)}")
    for key in ("neither old nor new", "audio or fields changed", "leftover copies", "left after the rerun"):
        print(f"  {key}: {sum(r[key] for r in results)} in all")
    for key in ("journal = renamed = new", "rerun completes", "undo restores all"):
        print(f"  {key}: {sum(r[key] for r in results)} of {len(results)}")


if __name__ == "__main__":
    main()
