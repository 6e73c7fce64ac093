"""Project-specific exceptions. Each carries a one-line message meant for the user."""
from __future__ import annotations

from pathlib import Path


class GenreTfError(Exception):
    """Base class: the CLI prints the message in one line and exits non-zero."""


class AudioError(GenreTfError):
    """A clip that cannot be used; names the file and the cause."""

    def __init__(self, path: str | Path, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


class DatasetError(GenreTfError):
    pass


class SplitError(GenreTfError):
    pass


class StoreError(GenreTfError):
    pass


class ModelUnavailableError(GenreTfError):
    """A pretrained model (YAMNet) cannot be loaded from the given handle."""
