"""The run folder: this module writes it (for `train`) and reads it back (for `report`, `predict`).

    <runs>/<name>/           renamed into place when every file is written
        config.json          the full training configuration, the store's parameters, versions
        labels.json          the genres, in the model's output order
        metrics.json         test metrics ({} for an untested final run); CV: mean/std and folds;
                             confusion matrices as their nonzero cells (training/evaluate.py)
        [fold-<k>/]          CV runs: one folder per fold holding the files below
        model.keras, split.json, normalization.npz, history.json(, metrics.json, test_clips.csv)
                             test_clips.csv: each test clip's genre, predicted genre and its probability
    <runs>/.incomplete-<name>.<random>/   a run being trained; its .lock is held by the trainer

Reading it needs no TensorFlow (`genre-tf report` starts fast).
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..config import LABEL_KINDS, RANDOM_SPLIT, segment_label
from ..core.errors import GenreTfError, first_line
from ..core.files import Lock
from .splits import LABEL_SPLITS

INCOMPLETE_PREFIX = ".incomplete-"
MODEL_FILE = "model.keras"
TEST_CLIPS_FILE = "test_clips.csv"
_LOCK = ".lock"


@dataclasses.dataclass
class ScoredClips:
    """A model's verdict on each of its test clips: genre indices in the run's label order. A CV run's
    are its folds' together, each clip once (out-of-fold)."""

    clip_ids: np.ndarray
    true: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray  # the predicted genre's probability

    @classmethod
    def joined(cls, parts: list[ScoredClips]) -> ScoredClips:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))

    @property
    def right(self) -> np.ndarray:
        return self.true == self.predicted

    def by_clip(self) -> ScoredClips:
        """The same clips in clip-id order: two runs' verdicts on one test set line up clip by clip."""
        order = np.argsort(self.clip_ids, kind="stable")
        return ScoredClips(*(getattr(self, f.name)[order] for f in dataclasses.fields(self)))

    def write(self, path: Path, labels: list[str]) -> None:
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["clip_id", "genre", "predicted", "probability"])
            writer.writerows((c, labels[t], labels[p], f"{q:.6g}") for c, t, p, q in
                             zip(self.clip_ids.tolist(), self.true.tolist(), self.predicted.tolist(),
                                 self.confidence.tolist()))

    @classmethod
    def read(cls, path: Path, labels: list[str]) -> ScoredClips:
        """Raises ValueError naming what is wrong (no rows, a genre the run does not have)."""
        index = {genre: k for k, genre in enumerate(labels)}
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            raise ValueError("no test clips")
        unknown = {r[c] for r in rows for c in ("genre", "predicted")} - set(index)
        if unknown:
            raise ValueError(f"genre '{sorted(unknown)[0]}' is not one of the run's")
        return cls(np.array([r["clip_id"] for r in rows], dtype=str), np.array([index[r["genre"]] for r in rows], int),
                   np.array([index[r["predicted"]] for r in rows], int),
                   np.array([float(r["probability"]) for r in rows]))


@dataclasses.dataclass
class Run:
    path: Path
    config: dict
    metrics: dict  # segment/clip metrics; CV runs: mean/std dicts, plus "folds"
    histories: list[dict]  # one per fold (one for a plain run)
    model_files: list[Path]  # one per fold (one for a plain run)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def inputs(self) -> list[str]:
        return list(self.config["train"]["inputs"])

    @property
    def model(self) -> str:
        return self.config["train"]["model"]

    @property
    def segment_seconds(self) -> float:
        segment = self.config["store"]["segment_params"]
        return segment["segment_samples"] / segment["sample_rate"]

    @property
    def input_label(self) -> str:
        """'logmel', or 'logmel 6s' for segments of another length than the usual 3 s."""
        return " ".join(filter(None, ["+".join(self.inputs), segment_label(self.segment_seconds)]))

    @property
    def model_label(self) -> str:
        """'cnn5', or 'cnn5 +shift,mask' for a run trained on augmented batches."""
        augment = self.config["train"].get("augment")  # runs before genre-tf 0.2 have none
        return self.model + (f" +{','.join(augment)}" if augment else "")

    @property
    def labels(self) -> list[str]:
        return self.config["labels"]

    @property
    def is_cv(self) -> bool:
        return bool(self.config["train"]["cv"])

    @property
    def tested(self) -> bool:
        """False for a final run trained on all clips (no test split): it has no scores to rank."""
        return bool(self.metrics)

    def split_description(self) -> str:
        t = self.config["train"]
        if t["cv"]:
            return f"{t['cv']}-fold CV, seed {t['seed']}"
        if t["split_lists"] in LABEL_SPLITS:
            return "the labels' own split"
        if t["split_lists"] and t["split_lists"] != RANDOM_SPLIT:
            return f"lists {t['split_lists']}"
        return f"random {'/'.join(str(r) for r in t['split_ratios'])}, seed {t['seed']}"

    def group(self) -> tuple[str, str]:
        """Runs are only comparable on the same data, labelled the same way, and the same split."""
        from .labels import LabelSource  # here: its readers import the audio libraries, which `report` needs not

        source = LabelSource.of_record(self.config["store"].get("labels"))  # runs before label sources: folders
        labels = "" if source.kind == LABEL_KINDS[0] else f" (labels: {source.describe()})"
        return self.config["store"]["data"] + labels, self.split_description()

    def scored_clips(self) -> ScoredClips | None:
        """Each test clip's genre and prediction (every fold's, for a CV run); None for a run from
        before genre-tf kept them, or an untested one."""
        folders = [model.parent for model in self.model_files]
        if not self.tested or not all((f / TEST_CLIPS_FILE).is_file() for f in folders):
            return None
        try:
            return ScoredClips.joined([ScoredClips.read(f / TEST_CLIPS_FILE, self.labels) for f in folders])
        except KeyError as e:
            raise GenreTfError(f"{self.path}: damaged {TEST_CLIPS_FILE} (no {e} column)") from None
        except (OSError, ValueError, TypeError, csv.Error) as e:
            raise GenreTfError(f"{self.path}: damaged {TEST_CLIPS_FILE} ({first_line(e)})") from None

    def value(self, level: str, metric: str) -> float:
        v = self.metrics[level][metric]
        return v["mean"] if isinstance(v, dict) else v

    def spread(self, level: str, metric: str) -> float | None:
        v = self.metrics[level][metric]
        return v["std"] if isinstance(v, dict) else None


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GenreTfError(f"missing {path.name}") from None
    except (OSError, json.JSONDecodeError) as e:
        raise GenreTfError(f"unreadable {path.name} ({e})") from None


def _check_fold(folder: Path, runs_dir: Path) -> None:
    """What using a fold's model needs is there and whole: the model archive and the split."""
    model = folder / MODEL_FILE
    where = folder.relative_to(runs_dir)
    if not model.exists():
        raise GenreTfError(f"missing {where}/{MODEL_FILE}")
    if not zipfile.is_zipfile(model):  # a truncated archive has no central directory
        raise GenreTfError(f"damaged {where}/{MODEL_FILE} (not a whole Keras archive)")
    split = _read_json(folder / "split.json")
    if not isinstance(split, dict) or not all(isinstance(split.get(p), list) for p in ("train", "valid", "test")):
        raise GenreTfError(f"damaged {where}/split.json (no train, valid and test lists)")


def _finite(value) -> bool:
    """Every number in a metrics tree is finite (NaN scores come from a diverged or damaged run)."""
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return not isinstance(value, float) or np.isfinite(value)


def load_run(path: str | Path) -> Run:
    """A finished run, or GenreTfError saying what is wrong with it.

    Every file the report and `predict` read is checked here: config.json, metrics.json (finite scores for a
    tested run), each fold's history.json, split.json and model archive. Needs no TensorFlow.

    Args:
        path: the run's folder (<runs>/<name>).

    Returns:
        A `Run`: its `path`, `config` (config.json), `metrics`, `histories` (one per fold) and `model_files`
            (one per fold; one for a run without cross-validation).

    Raises:
        GenreTfError: no such folder, an unfinished run, or a missing or damaged file (the message names the
            run and what is wrong).
    """
    path = Path(path)
    if not path.is_dir():
        raise GenreTfError(f"{path}: no such run directory")
    if path.name.startswith(INCOMPLETE_PREFIX):
        raise GenreTfError(f"{path}: unfinished run (training was interrupted)")
    try:
        config = _read_json(path / "config.json")
        metrics = _read_json(path / "metrics.json")
        fold_dirs = sorted(path.glob("fold-*"), key=lambda p: int(p.name.split("-")[1])) if config["train"]["cv"] \
            else [path]
        histories = [_read_json(d / "history.json") for d in fold_dirs]
        for d in fold_dirs:
            _check_fold(d, path.parent)
        if not isinstance(metrics, dict):
            raise GenreTfError("damaged metrics.json (not a JSON object)")
        run = Run(path, config, metrics, histories, [d / MODEL_FILE for d in fold_dirs])
        run.group()  # every field the report reads is there
        if run.tested and not all(_finite(metrics[level]) for level in ("segment", "clip")):
            raise GenreTfError("damaged metrics.json (a score is not a number)")
    except GenreTfError as e:
        raise GenreTfError(f"{path}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise GenreTfError(f"{path}: damaged run ({type(e).__name__}: {e})") from None
    return run


def _in_progress(folder: Path) -> bool:
    return not Lock(folder / _LOCK).is_free()


def scan_runs(runs_dir: str | Path) -> tuple[list[Run], list[str]]:
    """Every finished run under runs_dir, and one line for each directory skipped, with the reason.

    A run being trained, one left by an interrupted training, and a damaged run are skipped, not raised.

    Args:
        runs_dir: the folder of runs (`TrainConfig.runs_dir`).

    Returns:
        The runs that load (`load_run`), in name order, and the lines about the folders skipped.

    Raises:
        GenreTfError: `runs_dir` is not a folder.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise GenreTfError(f"{runs_dir}: no runs folder; train a model first (genre-tf train)")
    runs, skipped = [], []
    for path in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        if path.name.startswith(INCOMPLETE_PREFIX):
            skipped.append(f"{path}: " + ("training in progress" if _in_progress(path) else
                                          "left by an interrupted training; the next `genre-tf train` removes it"))
            continue
        try:
            runs.append(load_run(path))
        except GenreTfError as e:
            skipped.append(str(e))
    return runs, skipped


def remove_abandoned(runs_dir: Path) -> list[Path]:
    """Remove the unfinished runs of trainings that are gone (killed): their locks are free."""
    abandoned = [p for p in runs_dir.glob(f"{INCOMPLETE_PREFIX}*") if p.is_dir() and not _in_progress(p)]
    for path in abandoned:
        shutil.rmtree(path, ignore_errors=True)
    return abandoned


class RunWriter:
    """A run being written: files go into a private `.incomplete-` folder, locked while this process
    lives; `finish` renames it to <runs>/<name> (or <name>-2... if two runs finish in one second)."""

    def __init__(self, runs_dir: str | Path, name: str):
        self.runs_dir, self.name = Path(runs_dir), name
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.removed = remove_abandoned(self.runs_dir)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{INCOMPLETE_PREFIX}{name}.", dir=self.runs_dir))
        self.lock = Lock(self.folder / _LOCK)
        self.lock.acquire()

    def fold_folder(self, fold: int | None) -> Path:
        folder = self.folder / f"fold-{fold}" if fold else self.folder
        folder.mkdir(exist_ok=True)
        return folder

    @staticmethod
    def write_fold(folder: Path, split, normalization: dict, history: dict, metrics: dict,
                   scored: ScoredClips | None = None, labels: list[str] | None = None) -> None:
        """What one trained model leaves beside its model file (saved by the trainer, as MODEL_FILE); a
        tested one, its test clips' verdicts (`scored`, genre indices into `labels`)."""
        split.save(folder / "split.json")
        if scored is not None:
            scored.write(folder / TEST_CLIPS_FILE, labels)
        np.savez(folder / "normalization.npz", **{f"{n}_{k}": v for n, (mean, var) in normalization.items()
                                                  for k, v in (("mean", mean), ("variance", var))})
        (folder / "history.json").write_text(json.dumps(history, indent=1))
        _write_metrics(folder, metrics)

    def finish(self, config: dict, labels: list[str], cv_metrics: dict | None = None) -> Path:
        """`cv_metrics`: a CV run's summary over its folds (a plain run's metrics were written with its fold)."""
        if cv_metrics is not None:
            _write_metrics(self.folder, cv_metrics)
        (self.folder / "labels.json").write_text(json.dumps(labels))
        (self.folder / "config.json").write_text(json.dumps(config, indent=1))
        self.lock.release()
        (self.folder / _LOCK).unlink()
        for n in range(1, 1000):
            final = self.runs_dir / (self.name if n == 1 else f"{self.name}-{n}")
            try:
                os.rename(self.folder, final)  # fails if `final` exists and is not empty
                return final
            except OSError:
                continue
        raise GenreTfError(f"{self.runs_dir}: cannot name the run {self.name}")

    def abandon(self) -> None:
        self.lock.release()
        shutil.rmtree(self.folder, ignore_errors=True)


def _write_metrics(folder: Path, metrics: dict) -> None:
    """Unindented: a confusion matrix's cells are as many as the test segments at most, and indenting
    puts every number of every cell on a line of its own."""
    (folder / "metrics.json").write_text(json.dumps(metrics, separators=(",", ":")))
