"""What a result was made with: library versions and the time, recorded in manifests and runs."""
from __future__ import annotations

import datetime
import platform
from importlib import metadata

_LIBRARIES = ("genre-tf", "tensorflow", "keras", "tensorflow-hub", "librosa", "soundfile", "numpy", "scikit-learn",
              "pandas", "mutagen", "ai-edge-litert")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
