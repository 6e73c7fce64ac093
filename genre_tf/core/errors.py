"""Project-specific exceptions. Each carries a one-line message meant for the user."""
from __future__ import annotations

import enum
from pathlib import Path


class GenreTfError(Exception):
    """Base class: the CLI prints the message in one line and exits non-zero.

    Raised itself for what has no kind of its own: an impossible argument (named as the Python argument, in
    backquotes), a run that is damaged or unfinished, a table or library another process is writing.
    """


class AudioErrorKind(enum.StrEnum):
    """What is wrong with a clip, for a program to act on (the server's status codes) without reading the message."""

    INACCESSIBLE = "inaccessible"  # not found, a directory, or not readable by us
    EMPTY = "empty"  # 0 bytes
    NOT_AUDIO = "not_audio"  # content no decoder accepts
    TOO_LONG = "too_long"  # over a reader's limit on seconds of audio
    DAMAGED = "damaged"  # a stream that fails part way, or NaN or infinite samples
    NO_SAMPLES = "no_samples"  # decodes to nothing (a header-only WAV)
    SILENT = "silent"  # peak below -80 dBFS


class AudioError(GenreTfError):
    """A clip that cannot be used; names the file and the cause, and its `kind`.

    Raised for anything that yields no usable music: a missing, empty or unreadable file, a format no decoder
    accepts, a damaged stream, NaN or infinite samples, silence, audio past a length limit. The message is
    `path: cause`.

    Args:
        path: the file (or a file object's name).
        cause: why it cannot be used, in a few words.
        kind: what is wrong, for a program to act on without reading the message.

    Attributes:
        path: the file, as text.
        cause: why it cannot be used, without the file.
        kind: what is wrong (`AudioErrorKind`): the server's status code comes from it.
    """

    def __init__(self, path: str | Path, cause: str, kind: AudioErrorKind):
        self.path = str(path)
        self.cause = cause
        self.kind = kind
        super().__init__(f"{self.path}: {cause}")


class DatasetError(GenreTfError):
    """A collection that cannot be read as labelled clips (a missing folder, labels that name no audio, a bad
    labels file or genre map)."""


class SplitError(GenreTfError):
    """Train, valid and test sets that cannot be made as asked (ratios, split lists, folds, too few clips)."""


class StoreError(GenreTfError):
    """A feature store that is missing, damaged, busy, of another layout or without the feature asked for."""


class ModelUnavailableError(GenreTfError):
    """A pretrained model cannot be loaded from where it was asked for: YAMNet (its TF-Hub handle, a SavedModel
    folder or a yamnet.h5), musicnn's checkpoints, or a transfer model's backbone weights."""


def first_line(error: BaseException, limit: int = 160) -> str:
    """A library's exception as one short line for our messages (its type where it has no text)."""
    lines = str(error).strip().splitlines()
    return lines[0][:limit] if lines else type(error).__name__


def shown(text: object, limit: int = 160) -> str:
    """A path or value as it goes into a one-line message: control characters escaped (a NUL, a newline),
    and the middle of a very long one cut out."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return text if len(text) <= limit else f"{text[:limit * 2 // 3]}…{text[-(limit // 3):]}"


def listed(items: list[str], limit: int) -> str:
    """'a, b, c' for a few; 'a, b and 9,998 more' past `limit` (a message about 10,000 genres stays a line)."""
    return ", ".join(items[:limit]) + (f" and {len(items) - limit:,} more" if len(items) > limit else "")


def file_failure(path: str | Path, error: Exception) -> str:
    """Why one file of a run over many was skipped, in one line: ours as it is, a library's with its type."""
    if isinstance(error, GenreTfError):
        return str(error)
    return f"{path}: failed ({type(error).__name__}: {first_line(error)})"


def require(condition: bool, message: str) -> None:
    """Argument validation: an impossible value stops the call with one line, before any work. The
    message names arguments as Python names in backquotes (`batch_size`); the CLI shows its flags there."""
    if not condition:
        raise GenreTfError(message)


def parse_names(text: str, argument: str, choices, presets: dict | None = None) -> tuple[str, ...]:
    """'a, b,a' -> ('a', 'b'): a comma list of `choices`, or one preset name; one line naming what is unknown."""
    presets = presets or {}
    if text.strip() in presets:
        return tuple(presets[text.strip()])
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in choices]
    if unknown or not names:
        offered = ", ".join(choices) + (" (a comma list), or " + ", ".join(presets) if presets else "")
        problem = f"unknown {argument} '{','.join(unknown)}'" if unknown else f"{argument}: no name given"
        raise GenreTfError(f"{problem}; choose from {offered}")
    return names
