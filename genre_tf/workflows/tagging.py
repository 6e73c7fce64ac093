"""`genre-tf tag`: a library's genres written into its own tags, planned first, journalled, undoable.

`plan_tags` labels every song under the library (through the resumable prediction table of
`label_library`: a rerun predicts nothing twice) and decides, song by song, what would change; it writes
the plan into its work folder and not one byte of the library. `write_tags` applies a plan; `undo_tags`
applies a journal backwards.

Each file is written through a copy in its own folder: the copy's genre field is written (io.tag_writer),
then the copy is checked (its genre reads back as planned, every other tag as before, its audio decodes
to the same samples), its journal entry is fsynced, and it is renamed over the original, the folder
fsynced. A kill at any moment leaves every file as it was or as planned, and the journal names every file
renamed; a copy left by a kill is a hidden file beside the song (`.<stem>.genre-tf-tmp<ext>`), which
libraries skip and the next --write or --undo removes.

A file is refused, one line each, where a rename would change more than its tag or where the plan may no
longer hold: a symbolic link (its target is written where it lies), a hard-linked file (a rename would
split its names: not written), a read-only file or folder, a file owned by another user, a file changed
since it was predicted, a tag that cannot be read or written, a genre field holding an empty value or a
control character (an undo could not write it back). The rest go on. One writer at a time per library: an
OS lock on the library folder itself (nothing is added to it).
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..config import (
    DECODE_WORKERS,
    DEFAULT_MAX_WINDOWS,
    DEFAULT_TAGGING,
    ENGINES,
    RUNTIMES,
    TAG_CALIBRATION_CLIPS,
    TAG_MIN_CONFIDENCE,
    TAG_MODES,
    TAG_PRECISION,
    TOP_GENRES,
    EmbeddingParams,
    RayParams,
)
from ..core.errors import AudioError, DatasetError, GenreTfError, first_line, require, shown
from ..core.files import FolderLock, file_digest, file_problem, fingerprint, fsync_folder
from ..io.audio import decoded_digest
from ..io.prediction_table import PredictionTable
from ..io.runs import Run, load_run
from ..io.tag_journal import (
    PLAN_FILE,
    PREDICTIONS_FILE,
    Journal,
    JournalEntry,
    PlannedSong,
    check_library,
    read_journal,
    write_plan,
)
from ..io.tag_writer import (
    TagWriteError,
    genre_field,
    genre_field_and_names,
    writable_genre,
    write_genre_field,
    written_name,
)
from ..io.tags import genre_key, is_placeholder, read_genre_map, split_genres
from .events import FileEvents
from .library import LibraryResult, label_library

COPY_MARK = ".genre-tf-tmp"  # .<stem>.genre-tf-tmp<ext>: the copy a song is written through
# Each tag key that holds the genre, in mutagen's views (easy ID3 and MP4, Vorbis comments, raw ID3 chunks).
_GENRE_KEYS = {"genre", "tcon", "©gen", "gnre"}


@dataclasses.dataclass(frozen=True)
class TagOptions:
    """How `tag` chooses each song's new genre values.

    Attributes:
        mode: fill: only songs without a genre get one; replace: every song's genre becomes the prediction;
            add: the prediction beside the genres a song has.
        min_confidence: the least probability of a song's top genre for it to be written, from 0 to 1; None: the
            run's own (the lowest at which 90% of its test clips' top genres were right, over at least 50 clips;
            0.95 for a run with too few).
        genre_map: a from,to CSV: the run's genres renamed (as spelled in `to`) or, with an empty `to`, dropped.

    Raises:
        GenreTfError: an unknown `mode`, or `min_confidence` outside 0 to 1.
    """

    mode: str = TAG_MODES[0]  # fill: songs without a genre; replace: every song; add: beside the old values
    min_confidence: float | None = None  # None: the run's own (`run_confidence`)
    genre_map: str | None = None  # a from,to CSV: the run's genres renamed (as spelled in `to`) or dropped

    def __post_init__(self):
        require(self.mode in TAG_MODES, f"`mode` must be one of {', '.join(TAG_MODES)}, not {self.mode!r}")
        require(self.min_confidence is None or 0 <= self.min_confidence <= 1,
                f"`min_confidence` must be between 0 and 1, not {self.min_confidence}")


@dataclasses.dataclass
class TagPlan:
    """What `tag` would do to each song of `library`, in path order; written to `out`/plan.csv."""

    library: Path
    run: Path
    out: Path  # the work folder
    songs: list[PlannedSong]
    min_confidence: float
    confidence_source: str  # where the threshold comes from, in words
    labelled: LibraryResult

    @property
    def plan_file(self) -> Path:
        return self.out / PLAN_FILE

    def count(self, action: str) -> int:
        return sum(song.action == action for song in self.songs)

    def refusals(self) -> collections.Counter:
        """{reason's kind: songs}."""
        return collections.Counter(song.reason.split(":")[0] for song in self.songs if song.action == "refuse")


@dataclasses.dataclass
class TagOutcome:
    """What `write_tags` or `undo_tags` did: the files written (paths as the plan or journal names them),
    those refused ((path, kind, why)), and for an undo those already as they were."""

    journal: Path | None  # None where nothing was to be written
    written: list[str] = dataclasses.field(default_factory=list)
    refused: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    as_they_were: int = 0

    def refusals(self) -> collections.Counter:
        return collections.Counter(kind for _, kind, _ in self.refused)


class _Refused(Exception):
    """A file not written: `kind` (counted in the summary) and why, in words."""

    def __init__(self, kind: str, why: str):
        super().__init__(why)
        self.kind, self.why = kind, why


def plan_tags(run_dir: str | Path, library: str | Path, out: str | Path = DEFAULT_TAGGING,
              options: TagOptions = TagOptions(), engine: str = ENGINES[0], ray: RayParams = RayParams(),
              yamnet: EmbeddingParams | None = None, events: FileEvents = FileEvents(),
              workers: int = DECODE_WORKERS, max_windows: int = DEFAULT_MAX_WINDOWS,
              runtime: str = RUNTIMES[0]) -> TagPlan:
    """Label every song under `library` with the run (resumably, into `out`/predictions.csv) and plan each
    song's genre values under `options`; the plan goes to `out`/plan.csv. No file of the library changes.

    Each song's plan is an action: write, keep (it has a genre: mode fill; or has this one: add), below (less
    sure than the threshold), unchanged, dropped (by the genre map), refuse (with the reason: a link, a
    read-only or changed file, a tag that cannot be read) or failed (it could not be labelled).

    Args:
        run_dir: the run's folder.
        library: the folder of songs, searched at any depth.
        out: the work folder, outside the library: the prediction table, the plan and later the journals.
        options: the mode, the confidence threshold and the genre map.
        engine: "local" (this process) or "ray" (a Ray cluster).
        ray: the Ray engine's cluster and actors.
        yamnet: replaces the run's YAMNet source; None: the run's own.
        events: told of progress and of each problem; silent by default.
        workers: the local engine's decoding threads.
        max_windows: the most windows a song is labelled from, spread over it; 0: every window.
        runtime: "auto" (LiteRT where the run converts, else TensorFlow), "litert" or "tensorflow".

    Returns:
        A `TagPlan`: the library, run and work folder, each song's `PlannedSong` in path order, the confidence
            threshold and where it comes from, and the labelling's result; `count(action)` counts songs.

    Raises:
        DatasetError: `library` is not a readable folder, or the genre map cannot be read.
        GenreTfError: `out` is not a folder, lies inside the library or holds another library's plan; the run
            cannot be loaded; a genre cannot be written into tags; a bad argument.
        ModelUnavailableError: YAMNet or musicnn's weights cannot be loaded.
    """
    library, out = Path(library), Path(out)
    problem = file_problem(library, folder=True)
    if problem:
        raise DatasetError(f"{shown(library)}: {'folder does not exist' if problem == 'does not exist' else problem}")
    problem = file_problem(out, folder=True)
    if problem and problem != "does not exist":
        raise GenreTfError(f"`out` {shown(out)}: {problem}")
    if Path(os.path.realpath(out)).is_relative_to(os.path.realpath(library)):
        raise GenreTfError(f"`out` {shown(out)}: inside the library {shown(library)}; genre-tf adds no file to a "
                           "library: name a work folder outside it")
    run = load_run(run_dir)
    names = _written_names(run.genres, options.genre_map)
    check_library(out, library)
    labelled = label_library(run_dir, library, out / PREDICTIONS_FILE, engine=engine, ray=ray, yamnet=yamnet,
                             events=events, workers=workers, max_windows=max_windows, runtime=runtime)
    if options.min_confidence is not None:
        threshold, source = options.min_confidence, "as given"
    else:
        threshold, source = run_confidence(run)
    songs = [_planned(library, row, names, threshold, options.mode) for row in labelled.rows]
    write_plan(out / PLAN_FILE, songs)
    return TagPlan(library, Path(run_dir), out, songs, threshold, source, labelled)


def run_confidence(run: Run) -> tuple[float, str]:
    """The default --min-confidence for a run, and where it comes from: the run's own
    `confidence_for_precision` over its test clips; TAG_MIN_CONFIDENCE where it has too few."""
    scored = run.scored_clips()
    found = None if scored is None else confidence_for_precision(scored.confidence, scored.right)
    if found is None:
        if scored is None:
            why = "it has no test clips"
        elif len(scored.right) < TAG_CALIBRATION_CLIPS:
            why = f"{len(scored.right)} test clips, fewer than the {TAG_CALIBRATION_CLIPS} it takes"
        else:
            why = (f"no {TAG_CALIBRATION_CLIPS} or more of its test clips were {TAG_PRECISION:.0%} right at any "
                   "confidence")
        return TAG_MIN_CONFIDENCE, f"the default for a run without its own ({why})"
    threshold, clips, share = found
    return threshold, (f"the run's own: {share:.0%} of its {clips} test clips at least that sure were right "
                       f"(of {len(scored.right)})")


def confidence_for_precision(confidence: np.ndarray, right: np.ndarray, precision: float = TAG_PRECISION,
                             min_clips: int = TAG_CALIBRATION_CLIPS) -> tuple[float, int, float] | None:
    """The lowest confidence c such that of the clips at least c sure (at least `min_clips` of them), a
    share of at least `precision` were right: (c, those clips, their share right); None where no c is."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    ranked, hits = np.asarray(confidence)[order], np.asarray(right)[order]
    share = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    whole = np.r_[ranked[1:] < ranked[:-1], True]  # clips of equal confidence are in or out together
    fits = np.flatnonzero((share >= precision) & whole & (np.arange(1, len(hits) + 1) >= min_clips))
    if not len(fits):
        return None
    k = fits[-1]
    return float(ranked[k]), int(k + 1), float(share[k])


def _written_names(genres: list[str], genre_map: str | None) -> dict[str, str | None]:
    """{the run's genre: the genre written into tags, or None where the genre map drops it}."""
    mapping = read_genre_map(genre_map) if genre_map else {}
    names = {genre: mapping.get(genre_key(genre), written_name(genre)) for genre in genres}
    for genre, name in names.items():
        if name is not None and not writable_genre(name):
            raise GenreTfError(f"the run's genre '{shown(genre)}' cannot be written into tags (a control character); "
                               "rename it with `genre_map`")
    return names


def _planned(library: Path, row: dict, names: dict[str, str | None], threshold: float, mode: str) -> PlannedSong:
    """One song's plan, from its prediction table row and its file as it is."""
    if row["error"]:
        return PlannedSong(row["path"], "failed", row["error"])
    label, confidence = row["genre_1"], row["probability_1"]
    song = PlannedSong(row["path"], "", genre=names[label] or label, confidence=confidence,
                       fingerprint={"size": row["size"], "mtime_ns": row["mtime_ns"]})
    path = library / row["path"]
    try:
        song.current, named = genre_field_and_names(path)
    except TagWriteError as e:
        return _with(song, "refuse", f"unreadable tag: {e}")
    if not all(map(writable_genre, song.current)):  # it could not be written back by an undo
        return _with(song, "refuse", "unusual genre: its genre field holds an empty value or a control character")
    has = [g for g in named if not is_placeholder(g)]
    if names[label] is None:
        return _with(song, "dropped", f"the genre map drops {label}")
    if confidence < threshold:
        return _with(song, "below", f"{confidence:.2f} < {threshold:.2f}")
    if mode == "fill" and has:
        return _with(song, "keep", "has a genre")
    if mode == "add" and genre_key(song.genre) in {genre_key(g) for g in has}:
        return _with(song, "keep", f"has {song.genre}")
    song.new = [song.genre] if mode != "add" else has + [song.genre]  # names: ID3's '(17)' is written 'Rock'
    if song.new == named:
        return _with(song, "unchanged", "")
    refusal = _refusal(path, song.fingerprint)
    return _with(song, "refuse", f"{refusal[0]}: {refusal[1]}") if refusal else _with(song, "write", "")


def _with(song: PlannedSong, action: str, reason: str) -> PlannedSong:
    song.action, song.reason = action, reason
    return song


def _refusal(path: Path, fingerprint: dict | None) -> tuple[str, str] | None:
    """(kind, why) where the file must not be replaced by a rename; None where it may."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return "gone", f"cannot be read ({e.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return "symbolic link", f"a link to {shown(os.readlink(path))}: its target is written where it lies"
    if st.st_nlink > 1:
        return "hard link", f"one of {st.st_nlink} names of one file (hard links): a rename would split them"
    if not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        return "read-only", "the file is read-only"
    if not os.stat(path.parent).st_mode & stat.S_IWUSR or not os.access(path.parent, os.W_OK | os.X_OK):
        return "read-only", "its folder is read-only"
    if fingerprint and (st.st_size, st.st_mtime_ns) != (fingerprint["size"], fingerprint["mtime_ns"]):
        return "changed", "changed since it was predicted"
    return None


def write_tags(plan: TagPlan, events: FileEvents = FileEvents()) -> TagOutcome:
    """Apply the plan's writes, each through a checked copy, journalled (`out`/journal-<time>.jsonl, made with
    the first file written). One writer per library at a time.

    A file is refused, one line each, where a rename would change more than its tag or where the plan may no
    longer hold (see the module docstring); the rest go on. A kill at any moment leaves every file as it was
    or as planned. The prediction table's rows of the songs written are renewed, so the next `plan_tags` does
    not label them again.

    Args:
        plan: what `plan_tags` planned; only its "write" songs are written.
        events: told of each file written or refused; silent by default.

    Returns:
        A `TagOutcome`: the journal (None where nothing was written), the files written and those refused
            ((path, kind, why)).

    Raises:
        GenreTfError: another `write_tags` or `undo_tags` is writing in this library, or the journal cannot be
            written (everything written so far is in it).
    """
    header = {"library": os.path.abspath(plan.library), "run": str(Path(plan.run).resolve())}
    outcome = TagOutcome(None)
    with _library_lock(plan.library), Journal(plan.out, header) as journal:
        for song in plan.songs:  # what a killed write left
            _copy_path(plan.library / song.path).unlink(missing_ok=True)
        todo = [song for song in plan.songs if song.action == "write"]
        events.start(len(todo))
        try:
            for song in todo:
                path = plan.library / song.path
                try:
                    _replace_genres(path, song.current, song.new, journal, expected=song.fingerprint)
                except _Refused as r:
                    outcome.refused.append((song.path, r.kind, r.why))
                    events.clip_failed(song.path, f"{path}: not written, {r.why}")
                    continue
                outcome.written.append(song.path)
                events.clip_done(song.path, 0)
        finally:
            outcome.journal = journal.path
            _renew_predictions(plan, outcome.written, events)
    return outcome


@contextlib.contextmanager
def _library_lock(library: Path) -> Iterator[None]:
    """Held while files of `library` are written: two writers would trip over each other's copies."""
    lock = FolderLock(library)
    try:
        acquired = lock.acquire()
    except OSError as e:
        raise GenreTfError(f"{shown(library)}: the library cannot be opened ({e.strerror})") from None
    if not acquired:
        raise GenreTfError(f"{shown(library)}: another `genre-tf tag --write` or `--undo` is writing in this "
                           "library; wait for it to finish")
    try:
        yield
    finally:
        lock.release()


def _renew_predictions(plan: TagPlan, written: list[str], events: FileEvents) -> None:
    """The rows of the songs written, and of links to them, stand for their files as they are now (the audio
    is the same): the next `tag` does not label them again."""
    targets = {(plan.library / path).resolve() for path in written}
    renewed = [row["path"] for row in plan.labelled.rows if (plan.library / row["path"]).resolve() in targets]
    if not renewed:
        return
    row = plan.labelled.rows[0]
    try:
        with PredictionTable(plan.out / PREDICTIONS_FILE, row["run"], row["hop_seconds"],
                             load_run(plan.run).genres, False, row["max_windows"]) as table:
            for path in renewed:
                table.renew(path, fingerprint(plan.library / path))
            table.write(set(table.songs), TOP_GENRES)
    except (GenreTfError, OSError) as e:  # the files are written; only a later relabelling is at stake
        events.warn(f"{e}; the {len(renewed)} songs written will be labelled again by the next `tag`")


def undo_tags(journal_path: str | Path, events: FileEvents = FileEvents()) -> TagOutcome:
    """Put back the old genre values of every file the journal names, the last written first, through
    the same checked copies, into a journal of its own (undo-<time>.jsonl beside it). A file changed since
    it was written is refused; one that holds its old genres already (never renamed, or undone before) is
    counted as such.

    Args:
        journal_path: a journal `write_tags` wrote (`out`/journal-<time>.jsonl).
        events: told of each file restored or refused; silent by default.

    Returns:
        A `TagOutcome`: the undo's journal (None where nothing was written), the files restored, those refused
            ((path, kind, why)) and how many were as they were already.

    Raises:
        GenreTfError: the journal cannot be read or is not a genre-tf tag journal, another `write_tags` or
            `undo_tags` is writing in the library, or the undo's journal cannot be written.
    """
    journal_path = Path(journal_path)
    header, entries = read_journal(journal_path)
    outcome = TagOutcome(None)
    library = Path(header.get("library") or journal_path.parent)
    with _library_lock(library), Journal(journal_path.parent, {"undoes": str(journal_path.resolve()),
                                                                "library": str(library)}, kind="undo") as journal:
        for entry in entries:  # what a killed write left
            _copy_path(Path(entry.path)).unlink(missing_ok=True)
        events.start(len(entries))
        for entry in reversed(entries):
            try:
                _replace_genres(Path(entry.path), entry.new, entry.old, journal, digest=entry.sha256_after)
                outcome.written.append(entry.path)
                events.clip_done(entry.path, 0)
            except _Refused as r:
                if r.kind == "changed" and _holds(Path(entry.path), entry.old):  # never renamed, or undone before
                    outcome.as_they_were += 1
                    events.clip_done(entry.path, 0)
                    continue
                outcome.refused.append((entry.path, r.kind, r.why))
                events.clip_failed(entry.path, f"{entry.path}: not restored, {r.why}")
        outcome.journal = journal.path
    return outcome


def _holds(path: Path, genres: list[str]) -> bool:
    """The file's genre field holds these values (as genres: ID3v2.3 joins several into one)."""
    try:
        return split_genres(genre_field(path)) == split_genres(genres)
    except TagWriteError:
        return False


def _replace_genres(path: Path, old: list[str], new: list[str], journal: Journal, expected: dict | None = None,
                    digest: str | None = None) -> JournalEntry:
    """Write `new` over the file's genre values `old` through a checked copy, journalled, then renamed into
    place. `expected` (size, mtime) or `digest` (SHA-256): what the file must still be. Raises _Refused; a
    journal that cannot be written stops everything (GenreTfError)."""
    try:
        return _write_through_copy(path, old, new, journal, expected, digest)
    except (_Refused, GenreTfError):
        raise
    except Exception as e:  # a decoder's or tagger's surprise on one file, which is as it was (its rename is last)
        raise _Refused("failed", f"{type(e).__name__}: {first_line(e)}") from None


def _write_through_copy(path: Path, old: list[str], new: list[str], journal: Journal, expected: dict | None,
                       digest: str | None) -> JournalEntry:
    refusal = _refusal(path, expected)
    if refusal:
        raise _Refused(*refusal)
    try:
        current = genre_field(path)
        if split_genres(current) != split_genres(old):  # ID3v2.3 stores ['Rock', 'Pop'] as ['Rock/Pop']
            now, expected = (shown("; ".join(values) or "none") for values in (current, old))
            raise _Refused("changed", f"its genre is now {now}, not {expected}")
    except TagWriteError as e:
        raise _Refused("unreadable tag", str(e)) from None
    copy = _copy_path(path)
    try:
        entry = _checked_copy(path, copy, old, new, digest)
        journal.append(entry)
        os.replace(copy, path)
    except OSError as e:
        raise _Refused("cannot write", e.strerror or first_line(e)) from None
    finally:
        copy.unlink(missing_ok=True)
    fsync_folder(path.parent)
    return entry


def _copy_path(path: Path) -> Path:
    """The copy a song is written through: hidden, beside it, with its extension (formats are told by it)."""
    return path.with_name(f".{path.stem}{COPY_MARK}{path.suffix}")


def _checked_copy(path: Path, copy: Path, old: list[str], new: list[str], digest: str | None) -> JournalEntry:
    """`copy`: the file with `new` for its genre values, checked and on disk; its journal entry."""
    st = os.stat(path)
    before = _copy_bytes(path, copy)
    if digest and before != digest:
        raise _Refused("changed", "changed since it was written")
    shutil.copystat(path, copy)  # permissions, extended attributes
    made = os.stat(copy)
    if (st.st_uid, st.st_gid) != (made.st_uid, made.st_gid):
        try:
            os.chown(copy, st.st_uid, st.st_gid)
        except PermissionError:
            raise _Refused("owner", "owned by another user: a copy cannot keep its owner") from None
    try:
        write_genre_field(copy, new)
    except TagWriteError as e:
        raise _Refused("unwritable tag", str(e)) from None
    _verify(path, copy, new)
    with open(copy, "rb") as f:
        os.fsync(f.fileno())
    now = os.stat(path)
    if (now.st_size, now.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
        raise _Refused("changed", "changed while it was being written")
    after = os.stat(copy)
    return JournalEntry(os.path.abspath(path), old, new, before, file_digest(copy), after.st_size, after.st_mtime_ns)


def _copy_bytes(source: Path, target: Path, chunk: int = 1 << 20) -> str:
    """Copy `source` to `target` (replacing a copy an earlier kill left); the SHA-256 of the bytes copied."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(target, "wb") as dst:
        while block := src.read(chunk):
            digest.update(block)
            dst.write(block)
    return digest.hexdigest()


def _verify(original: Path, copy: Path, new: list[str]) -> None:
    """The copy's genre reads back as `new`, every other tag as the original's, and its audio decodes to the
    original's samples; raises _Refused where not."""
    try:
        read_back = genre_field(copy)
        if split_genres(read_back) != split_genres(new):
            raise _Refused("did not verify", f"its genre reads back as {'; '.join(read_back) or 'none'}")
        if _other_tags(original) != _other_tags(copy):
            raise _Refused("did not verify", "another of its tags would change")
        if decoded_digest(original) != decoded_digest(copy):
            raise _Refused("did not verify", "its audio would decode differently")
    except (TagWriteError, AudioError) as e:
        raise _Refused("did not verify", getattr(e, "cause", str(e))) from None


def _other_tags(path: Path) -> list[tuple[str, str]]:
    """Every tag but the genre, as mutagen's easy view reads it (values as text, sorted)."""
    import mutagen

    try:
        audio = mutagen.File(path, easy=True)
    except Exception as e:  # mutagen's errors for damaged tags are many kinds
        raise TagWriteError(f"tag cannot be read ({first_line(e)})") from None
    tags = audio.tags if audio is not None and audio.tags is not None else {}
    pairs = tags.items() if hasattr(tags, "items") else tags
    return sorted((key.lower(), repr(value)) for key, value in pairs if key.lower() not in _GENRE_KEYS)

