"""The files of `genre-tf tag` in its work folder (`tagging/` by default); this module alone writes and
reads them.

    library.json            the library the folder works for: another library needs another folder
    predictions.csv         the prediction table (io.prediction_table), resumable
    plan.csv                the last plan, one row per song: path (in the library), action, reason,
                            current and new genre values ('; ' between several), the predicted genre and
                            its probability
    journal-<time>.jsonl    one per `tag --write` (and per `tag --undo`): a header line, then one line per
                            file, flushed and fsynced before the file is renamed into place: its absolute
                            path, old and new genre values, SHA-256 before and after, size and mtime after.

A journal's last line may be cut by a kill while it was written; that file was not renamed, and the line
is ignored. Any other line that is not a journal entry makes the journal unreadable, said with its line.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from pathlib import Path

from ..core.errors import GenreTfError, first_line
from ..core.files import fsync_folder, timestamp, write_atomic

LIBRARY_FILE = "library.json"
PREDICTIONS_FILE = "predictions.csv"
PLAN_FILE = "plan.csv"
JOURNAL_VERSION = 1
_PLAN_COLUMNS = ["path", "action", "reason", "current", "new", "genre", "confidence"]
_VALUES_SEPARATOR = "; "


@dataclasses.dataclass
class PlannedSong:
    """What `tag` does to one song: `action` is write, keep (it has a genre: --mode fill; or has this one:
    add), below (the prediction is less sure than --min-confidence), unchanged (the genre is already the
    one planned), dropped (--genre-map drops the genre), refuse (`reason` says why) or failed (the song
    could not be labelled)."""

    path: str  # relative to the library, as in the prediction table
    action: str
    reason: str = ""
    current: list[str] = dataclasses.field(default_factory=list)  # the genre field's values as stored
    new: list[str] = dataclasses.field(default_factory=list)
    genre: str = ""  # the predicted genre, as written into tags
    confidence: float | None = None
    fingerprint: dict | None = None  # size and mtime_ns of the file the prediction was made from


@dataclasses.dataclass(frozen=True)
class JournalEntry:
    """One file written: enough to check it is still as written, and to put its old genre values back."""

    path: str  # absolute
    old: list[str]
    new: list[str]
    sha256_before: str
    sha256_after: str
    size: int  # after
    mtime_ns: int  # after


def check_library(folder: Path, library: Path) -> None:
    """The work folder is `library`'s: recorded on first use, and another library is refused."""
    record = folder / LIBRARY_FILE
    wanted = str(library.resolve())
    if record.is_file():
        try:
            found = json.loads(record.read_text())["library"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise GenreTfError(f"{record}: unreadable ({first_line(e)}); delete it, or use another `out`") from None
        if found != wanted:
            raise GenreTfError(f"`out` {folder}: holds the plan of {found}, not {wanted}; use another `out` for "
                               "this library")
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(record, json.dumps({"library": wanted}) + "\n")


def write_plan(path: Path, songs: list[PlannedSong]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(_PLAN_COLUMNS)
    writer.writerows([s.path, s.action, s.reason, _VALUES_SEPARATOR.join(s.current), _VALUES_SEPARATOR.join(s.new),
                      s.genre, "" if s.confidence is None else f"{s.confidence:.4f}"] for s in songs)
    write_atomic(path, text.getvalue())


def read_plan(path: Path) -> list[dict]:
    """plan.csv's rows as written (for a person, or a test)."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


class Journal:
    """A journal in `folder`, named by the time and made with its first entry (a run that writes nothing leaves
    none): `append` returns once the entry is on disk."""

    def __init__(self, folder: Path, header: dict, kind: str = "journal"):
        self.folder, self.header, self.kind = folder, header, kind
        self.path: Path | None = None
        self._file = None

    def _create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp, n = timestamp(), 1
        while True:
            path = self.folder / f"{self.kind}-{stamp}{'' if n == 1 else f'-{n}'}.jsonl"
            try:
                self._file = open(path, "x", encoding="utf-8")
                break
            except FileExistsError:
                n += 1
        self.path = path
        self._write({"genre_tf_journal": JOURNAL_VERSION, **self.header})
        fsync_folder(self.folder)  # the journal outlives a crash before the first rename

    def _write(self, record: dict) -> None:
        try:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as e:  # stop: a file renamed without its entry could not be undone
            raise GenreTfError(f"{self.path}: the journal cannot be written ({e.strerror or first_line(e)}); "
                               "stopped, with every file written so far in it") from None

    def append(self, entry: JournalEntry) -> None:
        if self._file is None:
            try:
                self._create()
            except OSError as e:
                raise GenreTfError(f"{self.folder}: a journal cannot be made there ({e.strerror or first_line(e)}); "
                                   "nothing was written") from None
        self._write(dataclasses.asdict(entry))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_journal(path: str | Path) -> tuple[dict, list[JournalEntry]]:
    """A journal's header and entries, in the order written. Raises GenreTfError naming the line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as e:
        cause = getattr(e, "strerror", None) or first_line(e)
        raise GenreTfError(f"{path}: journal cannot be read ({cause})") from None
    lines = lines[:-1]  # after the last newline: nothing, or a line cut by a kill (its file was not renamed)
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("genre_tf_journal") != JOURNAL_VERSION:
        raise GenreTfError(f"{path}: not a genre-tf tag journal (its first line is not a journal header)")
    entries = []
    fields = {f.name for f in dataclasses.fields(JournalEntry)}
    for number, line in enumerate(lines[1:], start=2):
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or set(record) != fields:
                raise ValueError(f"fields {', '.join(sorted(record)) if isinstance(record, dict) else 'none'}")
            entry = JournalEntry(**record)
            if not all(isinstance(v, list) and all(isinstance(g, str) for g in v) for v in (entry.old, entry.new)):
                raise ValueError("old and new genres are lists of texts")
            entries.append(entry)
        except (ValueError, TypeError) as e:
            raise GenreTfError(f"{path} line {number}: not a journal entry ({first_line(e, 80)})") from None
    return header, entries
