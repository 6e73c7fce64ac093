"""How the CLI talks: one-line messages (never hard-wrapped), tables, progress bars, and library errors
as one red line with the flags the user typed."""
from __future__ import annotations

import errno
import functools
import re

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ..core.errors import GenreTfError

out = Console()
err = Console(stderr=True)


def say(message: str, console: Console = out, label: str = "") -> None:
    """One message, never hard-wrapped (scripts and logs read these lines). The message is plain text
    (a file may be called 'song [live].mp3'); only the label is Rich markup."""
    console.print(f"{label} " * bool(label) + escape(message), soft_wrap=True, highlight=False)


def print_table(table: Table) -> None:
    """Never cut a number: a terminal narrower than the table wraps its lines instead."""
    natural = Measurement.get(out, out.options.update_width(1000), table).maximum
    Console(width=max(out.width, natural)).print(table)


# Library messages name arguments as Python names in backquotes (`batch_size`); the CLI shows the
# flag instead: --batch-size, or the one named here where the flag is not the argument's name.
FLAG_OF_ARGUMENT = {"learning_rate": "--lr", "hop_seconds": "--hop", "runs_dir": "--runs", "formats": "--format",
                    "inputs": "--input", "out_dir": "--out"}


def with_flags(message: str) -> str:
    return re.sub(r"`([a-z][a-z0-9_]*)`",
                  lambda m: FLAG_OF_ARGUMENT.get(m[1], "--" + m[1].replace("_", "-")), message)


# The file system saying no (full, read-only, not permitted, a file where a folder must be, or the
# reverse, a name too long, a loop of links): one line naming the file, as for any other bad input.
FILE_SYSTEM_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
                      errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP)


def cli_errors(interrupted: str):
    """Library errors become one red line and a non-zero exit; Ctrl-C says what became of the work."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except GenreTfError as e:
                say(with_flags(str(e)), err, "[bold red]error:[/]")
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                say(interrupted, err, "[yellow]interrupted:[/]")
                raise typer.Exit(130) from None
            except OSError as e:  # where, and what became of the work
                if e.errno not in FILE_SYSTEM_ERRORS:
                    raise
                where = f"{e.filename}: " if e.filename else ""
                cause = {errno.EEXIST: "exists and is not a folder",
                         errno.ENOTDIR: "a part of this path is a file, not a folder"}.get(e.errno, e.strerror)
                say(f"{where}{cause}; {interrupted}", err, "[bold red]error:[/]")
                raise typer.Exit(1) from None

        return wrapper

    return decorate


NOTHING_WRITTEN = "nothing was written"


def progress_bar(transient: bool = False) -> Progress:
    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=err, transient=transient)


def default(value) -> str:
    """A default for help text, where Typer shows none (options whose default is resolved later).
    Escaped: help text is Rich markup, where a bare [default: ...] is a tag and vanishes."""
    return " " + escape(f"[default: {value}]")


class FileProgress:
    """Shows a pass over many files (extraction, labelling songs) on the terminal: a progress bar
    with files/s and ETA, one line per problem (arguments named by their flags, as errors are)."""

    def __init__(self, action: str, unit: str):
        self.progress = progress_bar()
        self.action, self.unit = action, unit
        self.task = None

    def info(self, message):
        say(with_flags(message), err)

    def warn(self, message):
        say(with_flags(message), self.progress.console if self.task is not None else err, "[yellow]warning:[/]")

    def start(self, total):
        self.progress.start()
        self.task = self.progress.add_task(self.action, total=total, rate="")

    def _advance(self):
        self.progress.advance(self.task)
        t = self.progress.tasks[0]
        self.progress.update(self.task, rate=f"{t.speed:.1f} {self.unit}/s" if t.speed else "")

    def clip_done(self, clip, segments):
        self._advance()

    def clip_failed(self, clip, error):
        say(with_flags(error), self.progress.console, "[red]skipped:[/]")
        self._advance()

    def close(self):
        if self.task is not None:
            self.progress.stop()


class TrainProgress:
    """Shows training: one line per epoch."""

    def info(self, message):
        say(with_flags(message), err)

    def epoch(self, fold, epoch, epochs, logs, seconds):
        prefix = f"fold {fold} " if fold else ""
        # A refit's epochs have no valid clips to score.
        valid = f"val_loss {logs['val_loss']:.3f}  val_acc {logs['val_accuracy']:.3f}  " if "val_loss" in logs else ""
        say(f"{prefix}epoch {epoch}/{epochs}  loss {logs['loss']:.3f}  acc {logs['accuracy']:.3f}  {valid}"
            f"{seconds:.1f} s", err)
