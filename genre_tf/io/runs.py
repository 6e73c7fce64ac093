"""The run folder: this module writes it (for `train`) and reads it back (for `report`, `predict`).

    <runs>/<name>/           renamed into place when every file is written
        config.json          RunConfig: the full training configuration, the store's parameters, versions
        labels.json          the genres, in the model's output order
        metrics.json         Metrics: test scores ({} for an untested final run); CV: mean/std and folds;
                             confusion matrices as their nonzero cells
        [fold-<k>/]          CV runs: one folder per fold holding the files below
        model.keras, split.json, normalization.npz, history.json (History)(, metrics.json, test_clips.csv)
                             test_clips.csv: each test clip's genre, predicted genre and its probability
    <runs>/.incomplete-<name>.<random>/   a run being trained; its .lock is held by the trainer

Each JSON file has a dataclass here that writes and reads it; no other module reads their keys.
Reading a run needs no TensorFlow (`genre-tf report` starts fast).
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
from typing import TYPE_CHECKING

import numpy as np

from ..config import LABEL_KINDS, RANDOM_SPLIT, ModelOptions, SegmentParams, TrainConfig, segment_label
from ..core.errors import GenreTfError, first_line
from ..core.files import Lock
from .splits import LABEL_SPLITS

if TYPE_CHECKING:
    from scipy.sparse import coo_array

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

    def write(self, path: Path, genres: list[str]) -> None:
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["clip_id", "genre", "predicted", "probability"])
            writer.writerows((c, genres[t], genres[p], f"{q:.6g}") for c, t, p, q in
                             zip(self.clip_ids.tolist(), self.true.tolist(), self.predicted.tolist(),
                                 self.confidence.tolist()))

    @classmethod
    def read(cls, path: Path, genres: list[str]) -> ScoredClips:
        """Raises ValueError naming what is wrong (no rows, a genre the run does not have)."""
        index = {genre: k for k, genre in enumerate(genres)}
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


# The scores every test gives at each level; a CV run's summary holds their mean and spread over folds.
METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")
LEVELS = ("segment", "clip")


def confusion_cells(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """The confusion matrix (rows: true class, columns: predicted) as metrics.json keeps it, its nonzero
    cells: {"labels": classes, "cells": [[true, predicted, count], ...]}. At most one cell per test
    segment, where the dense matrix of 10,000 genres has 100 million."""
    cells, counts = np.unique(np.stack([y_true, y_pred], axis=1), axis=0, return_counts=True)
    return {"labels": int(n_classes), "cells": [[int(t), int(p), int(c)] for (t, p), c in zip(cells, counts)]}


def read_confusion(stored: dict | list) -> coo_array:
    """A confusion matrix from metrics.json, sparse: `confusion_cells`' form, or the dense list of rows
    that runs of genre-tf 0.2 and earlier hold."""
    from scipy.sparse import coo_array  # here: `genre-tf --help` and the ranking need no SciPy

    if isinstance(stored, list):
        return coo_array(np.asarray(stored, dtype=np.int64))
    cells = np.asarray(stored["cells"], dtype=np.int64).reshape(-1, 3)
    return coo_array((cells[:, 2], (cells[:, 0], cells[:, 1])), shape=(stored["labels"],) * 2)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Metrics:
    """A model's test scores (metrics.json): per level, `METRICS`, the test count and the confusion matrix.

    A CV run's hold each metric's mean and standard deviation over its folds, the folds' own scores and
    the scores of all their test clips pooled. An untested run (trained on every clip) has none.

    Attributes:
        segment: Scores over the test segments (a CV run's: {"mean", "std"} per metric).
        clip: Scores over the test clips, a clip's prediction the mean of its segments'.
        folds: A CV run's folds' own metrics, in fold order; empty otherwise.
        pooled: A CV run's scores over every clip, each from the fold that held it out; else None.
    """

    segment: dict = dataclasses.field(default_factory=dict)
    clip: dict = dataclasses.field(default_factory=dict)
    folds: tuple[Metrics, ...] = ()
    pooled: Metrics | None = None

    @classmethod
    def of_folds(cls, folds: list[Metrics], pooled: Metrics | None = None) -> Metrics:
        """A CV run's summary: the mean and standard deviation of every metric over `folds`.

        Args:
            folds: each fold's metrics, in fold order.
            pooled: the scores over every fold's test clips together, where they were computed.

        Returns:
            Metrics holding {"mean", "std"} per metric and level, `folds` and `pooled`.
        """
        summary = {level: {m: {"mean": float(np.mean([f.level(level)[m] for f in folds])),
                               "std": float(np.std([f.level(level)[m] for f in folds]))} for m in METRICS}
                   for level in LEVELS}
        return cls(**summary, folds=tuple(folds), pooled=pooled)

    @property
    def tested(self) -> bool:
        """Whether there are scores: False for a run trained on every clip."""
        return bool(self.segment or self.clip)

    def level(self, level: str) -> dict:
        """The scores of one level.

        Args:
            level: "segment" or "clip".

        Returns:
            {metric: score}, a CV summary's {metric: {"mean", "std"}}; "count" and "confusion_matrix" beside.
        """
        return {"segment": self.segment, "clip": self.clip}[level]

    def value(self, level: str, metric: str) -> float:
        """One score.

        Args:
            level: "segment" or "clip".
            metric: one of `METRICS`.

        Returns:
            The score; a CV run's mean over its folds.
        """
        v = self.level(level)[metric]
        return v["mean"] if isinstance(v, dict) else v

    def spread(self, level: str, metric: str) -> float | None:
        """How much a score varied over folds.

        Args:
            level: "segment" or "clip".
            metric: one of `METRICS`.

        Returns:
            A CV run's standard deviation over its folds; None for a single model's score.
        """
        v = self.level(level)[metric]
        return v["std"] if isinstance(v, dict) else None

    def scores(self, level: str) -> dict:
        """The `METRICS` of one level, as metrics.json has them.

        Args:
            level: "segment" or "clip".

        Returns:
            {metric: score}; a CV run's {metric: {"mean", "std"}}.
        """
        return {m: self.level(level)[m] for m in METRICS}

    def confusion(self, level: str = "clip") -> coo_array:
        """The confusion matrix (rows: true class, columns: predicted).

        Args:
            level: "segment" or "clip".

        Returns:
            A sparse (classes, classes) count matrix; a CV run's is the sum of its folds': each clip is a test
                clip of exactly one fold.
        """
        if "confusion_matrix" in self.level(level):
            return read_confusion(self.level(level)["confusion_matrix"])
        first, *others = (fold.confusion(level) for fold in self.folds)
        return sum(others, first)

    def to_json(self) -> dict:
        """The record as metrics.json holds it.

        Returns:
            A JSON-ready dict ({} for an untested run).
        """
        out = {level: self.level(level) for level in LEVELS if self.level(level)}
        if self.folds:
            out["folds"] = [fold.to_json() for fold in self.folds]
        if self.pooled is not None:
            out["pooled"] = self.pooled.to_json()
        return out

    @classmethod
    def from_json(cls, raw: dict) -> Metrics:
        """Metrics from metrics.json's content.

        Args:
            raw: the file's JSON value.

        Returns:
            The metrics.

        Raises:
            GenreTfError: `raw` is not a JSON object.
        """
        if not isinstance(raw, dict):
            raise GenreTfError("damaged metrics.json (not a JSON object)")
        return cls(segment=raw.get("segment", {}), clip=raw.get("clip", {}),
                   folds=tuple(cls.from_json(f) for f in raw.get("folds", ())),
                   pooled=cls.from_json(raw["pooled"]) if "pooled" in raw else None)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExactFitRecord:
    """How an exact head was fit (history.json's "exact").

    Attributes:
        c: The inverse L2 strength chosen ("C" in the file).
        cs: The strengths tried, ascending.
        inner_cv_log_loss: Held-out log loss of each of `cs` over the inner folds.
        inner_folds: Inner folds the choice was made over.
        iterations: L-BFGS iterations of the final fit.
        converged: Whether the final fit converged within its iteration limit.
        train_loss: Log loss on the training examples.
        train_accuracy: Accuracy on the training examples.
        examples: Training examples (segments).
        values: Pooled values per example.
        values_used: Those not constant over the training examples (the others take no weight).
        seconds: Time the whole fit took.
    """

    c: float
    cs: list[float]
    inner_cv_log_loss: list[float]
    inner_folds: int
    iterations: int
    converged: bool
    train_loss: float
    train_accuracy: float
    examples: int
    values: int
    values_used: int
    seconds: float

    def to_json(self) -> dict:
        """The record as history.json's "exact" holds it."""
        out = dataclasses.asdict(self)
        return {"C": out.pop("c"), **out}

    @classmethod
    def from_json(cls, raw: dict) -> ExactFitRecord:
        """The record from history.json's "exact"."""
        return cls(c=raw["C"], **{k: v for k, v in raw.items() if k != "C"})

    @property
    def chosen_loss(self) -> float:
        """The held-out log loss of the strength chosen."""
        return self.inner_cv_log_loss[self.cs.index(self.c)]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RefitRecord:
    """A refit on train+valid after the best epoch was found (history.json's "refit").

    Attributes:
        epochs: Epochs it ran.
        segments: Segments it was trained on.
        history: Its epochs' logs, as `History.epochs`.
    """

    epochs: int
    segments: int
    history: list[dict]


@dataclasses.dataclass(frozen=True, kw_only=True)
class History:
    """How one model was trained (history.json).

    Attributes:
        best_epoch: The epoch kept (by `monitor` on the valid clips); None for an exact fit.
        monitor: What chose it: "val_loss", "val_accuracy", or an exact fit's "inner CV log loss".
        epochs_run: Epochs run before early stopping (0 for an exact fit).
        epochs: One log per epoch: "epoch", "seconds", "learning_rate", Keras' "loss", "accuracy" and
            their "val_" counterparts.
        refit: The refit on train+valid, where there was one.
        exact: The exact fit's record, for an exact head.
    """

    best_epoch: int | None
    monitor: str
    epochs_run: int
    epochs: list[dict]
    refit: RefitRecord | None = None
    exact: ExactFitRecord | None = None

    def series(self, key: str, refit: bool = False) -> list:
        """One value of every epoch's log.

        Args:
            key: "epoch", "seconds", "learning_rate", "loss", "accuracy", "val_loss", "val_accuracy".
            refit: of the refit's epochs instead of the selection run's.

        Returns:
            The values in epoch order; None where an epoch has none (runs before learning rates were logged).
        """
        return [e.get(key) for e in (self.refit.history if refit else self.epochs)]

    @property
    def epoch_seconds(self) -> float:
        """Mean seconds per epoch, the first left out (it also traces the graph) where there are others."""
        seconds = self.series("seconds")
        return float(np.mean(seconds[1:] or seconds))

    def to_json(self) -> dict:
        """The record as history.json holds it.

        Returns:
            A JSON-ready dict.
        """
        out = {"best_epoch": self.best_epoch, "monitor": self.monitor, "epochs_run": self.epochs_run,
               "epochs": self.epochs}
        if self.refit is not None:
            out["refit"] = dataclasses.asdict(self.refit)
        if self.exact is not None:
            out["exact"] = self.exact.to_json()
        return out

    @classmethod
    def from_json(cls, raw: dict) -> History:
        """A history from history.json's content.

        Args:
            raw: the file's JSON object.

        Returns:
            The record.
        """
        return cls(best_epoch=raw["best_epoch"], monitor=raw["monitor"], epochs_run=raw["epochs_run"],
                   epochs=raw["epochs"], refit=RefitRecord(**raw["refit"]) if "refit" in raw else None,
                   exact=ExactFitRecord.from_json(raw["exact"]) if "exact" in raw else None)


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoreRecord:
    """The feature store a run was trained on, as its config.json records it.

    Attributes:
        data: The collection's folder.
        segment_params: How its clips were cut (SegmentParams' fields).
        features: Each input's store entry ("params": the feature's parameters; its file, shape, dtype).
        label_source: The label source's record (None: genre folders, as stores before label sources).
        generation: The store's generation when the run was trained (it changes when clips change).
    """

    data: str
    segment_params: dict
    features: dict[str, dict]
    label_source: dict | None = None
    generation: str | int | None = None

    @property
    def segment(self) -> SegmentParams:
        """How the store cut its clips."""
        return SegmentParams(**self.segment_params)

    def to_json(self) -> dict:
        """The record as config.json's "store" holds it."""
        return {"generation": self.generation, "data": self.data, "labels": self.label_source,
                "segment_params": self.segment_params,
                "features": self.features}

    @classmethod
    def from_json(cls, raw: dict) -> StoreRecord:
        """The record from config.json's "store"."""
        return cls(data=raw["data"], segment_params=raw["segment_params"], label_source=raw.get("labels"),
                   features=raw.get("features", {}),
                   generation=raw.get("generation"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything needed to repeat a run and to use its model (config.json).

    Attributes:
        name: The run's name as trained (its folder may add -2, -3 if two finished in one second).
        train: The training configuration, every default filled in; `store` as an absolute path.
        store: The feature store it was trained on.
        genres: The genre names in the model's output order (the file's "labels").
        parameters: The model's parameter count.
        train_seconds: Wall time of the whole training.
        epoch_seconds: Mean seconds per epoch (an exact head's: per fit).
        devices: The devices it trained on ("gpus", "mixed_precision").
        library_versions: genre-tf's and its main libraries' versions.
        finished: When it finished (ISO 8601).
    """

    name: str
    train: TrainConfig
    store: StoreRecord
    genres: list[str]
    parameters: int
    train_seconds: float
    epoch_seconds: float = 0.0
    devices: dict = dataclasses.field(default_factory=dict)
    library_versions: dict = dataclasses.field(default_factory=dict)
    finished: str = ""

    def to_json(self) -> dict:
        """The record as config.json holds it.

        Returns:
            A JSON-ready dict.
        """
        return {"name": self.name, "train": dataclasses.asdict(self.train), "store": self.store.to_json(),
                "labels": self.genres, "parameters": self.parameters, "train_seconds": self.train_seconds,
                "epoch_seconds": self.epoch_seconds, "devices": self.devices,
                "library_versions": self.library_versions, "finished": self.finished}

    @classmethod
    def from_json(cls, raw: dict) -> RunConfig:
        """A configuration from config.json's content (fields of later versions than the run's take their defaults).

        Args:
            raw: the file's JSON object.

        Returns:
            The record.
        """
        return cls(name=raw.get("name", ""), train=_train_config(raw["train"]),
                   store=StoreRecord.from_json(raw["store"]), genres=list(raw["labels"]),
                   parameters=raw["parameters"], train_seconds=raw["train_seconds"],
                   epoch_seconds=raw.get("epoch_seconds", 0.0), devices=raw.get("devices", {}),
                   library_versions=raw.get("library_versions", {}), finished=raw.get("finished", ""))


def _train_config(raw: dict) -> TrainConfig:
    """A recorded TrainConfig: lists back to tuples; fields of later versions take their defaults."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in raw.items() if k in fields}
    for name in ("inputs", "split_ratios", "augment"):
        if values.get(name) is not None:
            values[name] = tuple(values[name])
    if "options" in values:
        values["options"] = ModelOptions(**values["options"])
    return TrainConfig(**values)


@dataclasses.dataclass
class Run:
    """A finished run, as `load_run` reads it.

    Attributes:
        path: Its folder.
        config: Its configuration.
        metrics: Its test scores (none for an untested run).
        histories: How each model was trained, one per fold (one for a plain run).
        model_files: Each model's file, one per fold (one for a plain run).
    """

    path: Path
    config: RunConfig
    metrics: Metrics
    histories: list[History]
    model_files: list[Path]

    @property
    def name(self) -> str:
        """The run folder's name."""
        return self.path.name

    @property
    def inputs(self) -> list[str]:
        """The features the model takes."""
        return list(self.config.train.inputs)

    @property
    def model(self) -> str:
        """The model's name in the registry."""
        return self.config.train.model

    @property
    def segment(self) -> SegmentParams:
        """How the run's store cut clips: what it must be given to predict."""
        return self.config.store.segment

    @property
    def segment_seconds(self) -> float:
        """The length of the windows the model takes, in seconds."""
        return self.segment.segment_seconds

    @property
    def input_label(self) -> str:
        """'logmel', or 'logmel 6s' for segments of another length than the usual 3 s."""
        return " ".join(filter(None, ["+".join(self.inputs), segment_label(self.segment_seconds)]))

    @property
    def model_label(self) -> str:
        """'cnn5', or 'cnn5 +shift,mask' for a run trained on augmented batches."""
        augment = self.config.train.augment  # runs before genre-tf 0.2 have none
        return self.model + (f" +{','.join(augment)}" if augment else "")

    @property
    def genres(self) -> list[str]:
        """The genre names in the model's output order."""
        return self.config.genres

    @property
    def is_cv(self) -> bool:
        """Whether it is a cross-validation run (one model per fold)."""
        return bool(self.config.train.cv)

    @property
    def tested(self) -> bool:
        """False for a final run trained on all clips (no test split): it has no scores to rank."""
        return self.metrics.tested

    def feature_params(self, name: str) -> dict:
        """The parameters an input was extracted with.

        Args:
            name: one of `inputs`.

        Returns:
            The feature's parameters as the store recorded them (its params class's fields).
        """
        return self.config.store.features[name]["params"]

    def split_description(self) -> str:
        """How the clips were split.

        Returns:
            A few words: "5-fold CV, seed 0", "the labels' own split", "random 0.64/0.16/0.2, seed 0", ...
        """
        t = self.config.train
        if t.cv:
            return f"{t.cv}-fold CV, seed {t.seed}"
        if t.split_lists in LABEL_SPLITS:
            return "the labels' own split"
        if t.split_lists and t.split_lists != RANDOM_SPLIT:
            return f"lists {t.split_lists}"
        return f"random {'/'.join(str(r) for r in t.split_ratios)}, seed {t.seed}"

    def group(self) -> tuple[str, str]:
        """What the run is comparable by: runs are only comparable on the same data, labelled the same way,
        and the same split.

        Returns:
            (the data and its label source, the split's description).
        """
        from .labels import LabelSource  # here: its readers import the audio libraries, which `report` needs not

        source = LabelSource.of_record(self.config.store.label_source)  # runs before label sources: folders
        labels = "" if source.kind == LABEL_KINDS[0] else f" (labels: {source.describe()})"
        return self.config.store.data + labels, self.split_description()

    def scored_clips(self) -> ScoredClips | None:
        """Each test clip's genre and prediction (every fold's, for a CV run).

        Returns:
            The clips' verdicts; None for a run from before genre-tf kept them, or an untested one.

        Raises:
            GenreTfError: a test_clips.csv is damaged.
        """
        folders = [model.parent for model in self.model_files]
        if not self.tested or not all((f / TEST_CLIPS_FILE).is_file() for f in folders):
            return None
        try:
            return ScoredClips.joined([ScoredClips.read(f / TEST_CLIPS_FILE, self.genres) for f in folders])
        except KeyError as e:
            raise GenreTfError(f"{self.path}: damaged {TEST_CLIPS_FILE} (no {e} column)") from None
        except (OSError, ValueError, TypeError, csv.Error) as e:
            raise GenreTfError(f"{self.path}: damaged {TEST_CLIPS_FILE} ({first_line(e)})") from None


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
        config = RunConfig.from_json(_read_json(path / "config.json"))
        metrics = Metrics.from_json(_read_json(path / "metrics.json"))
        fold_dirs = sorted(path.glob("fold-*"), key=lambda p: int(p.name.split("-")[1])) if config.train.cv \
            else [path]
        histories = [History.from_json(_read_json(d / "history.json")) for d in fold_dirs]
        for d in fold_dirs:
            _check_fold(d, path.parent)
        run = Run(path, config, metrics, histories, [d / MODEL_FILE for d in fold_dirs])
        run.group()  # every field the report reads is there
        if run.tested and not all(_finite(metrics.scores(level)) for level in LEVELS):
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
    def write_fold(folder: Path, split, normalization: dict, history: History, metrics: Metrics,
                   scored: ScoredClips | None = None, genres: list[str] | None = None) -> None:
        """What one trained model leaves beside its model file (saved by the trainer, as MODEL_FILE); a
        tested one, its test clips' verdicts (`scored`, class indices into `genres`)."""
        split.save(folder / "split.json")
        if scored is not None:
            scored.write(folder / TEST_CLIPS_FILE, genres)
        np.savez(folder / "normalization.npz", **{f"{n}_{k}": v for n, (mean, var) in normalization.items()
                                                  for k, v in (("mean", mean), ("variance", var))})
        (folder / "history.json").write_text(json.dumps(history.to_json(), indent=1))
        _write_metrics(folder, metrics)

    def finish(self, config: RunConfig, cv_metrics: Metrics | None = None) -> Path:
        """`cv_metrics`: a CV run's summary over its folds (a plain run's metrics were written with its fold)."""
        if cv_metrics is not None:
            _write_metrics(self.folder, cv_metrics)
        (self.folder / "labels.json").write_text(json.dumps(config.genres))
        (self.folder / "config.json").write_text(json.dumps(config.to_json(), indent=1))
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


def _write_metrics(folder: Path, metrics: Metrics) -> None:
    """Unindented: a confusion matrix's cells are as many as the test segments at most, and indenting
    puts every number of every cell on a line of its own."""
    (folder / "metrics.json").write_text(json.dumps(metrics.to_json(), separators=(",", ":")))
