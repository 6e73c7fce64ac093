"""`genre-tf train`: one model on one feature set (or several), trained on a clip-level split of a
feature store, evaluated on its test split, and saved as a run directory.

A run is assembled in a private `.incomplete-` folder and renamed into place only when every file
is written (io/runs.py), so a killed run never leaves a directory that looks finished.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from ..config import RANDOM_SPLIT, REFIT_EPOCH_SCALE, ExactFitParams, TrainConfig, segment_label
from ..core.files import timestamp
from ..core.provenance import library_versions, now_iso
from ..io.runs import MODEL_FILE, History, Metrics, RefitRecord, RunConfig, RunWriter, StoreRecord
from ..io.splits import (
    LABEL_SPLITS,
    PARTS,
    Split,
    check_split,
    cv_splits,
    random_split,
    split_from_labels,
    split_from_lists,
)
from ..io.store import FeatureStore
from ..models import build_model, get_model
from ..training.calibration import calibrate_standardizers
from ..training.data import make_dataset, make_split_datasets, normalization_stats
from ..training.evaluate import Outcomes, outcome_metrics, outcomes_of
from ..training.exact import fit_exact
from ..training.fit import balanced_class_weights, configure_devices, fit_model, training_settings

import keras


class TrainEvents:
    """What training tells its caller; silent by default. Subclass it to show progress (the CLI prints a line
    per epoch) or to stop training (raise from a method)."""

    def info(self, message: str) -> None:
        """A line of progress: the data and split, the devices, a refit, an interrupted run removed.

        Args:
            message: the line.
        """

    def epoch(self, fold: int | None, epoch: int, epochs: int, logs: dict, seconds: float) -> None:
        """One epoch ended.

        Args:
            fold: the cross-validation fold, from 1; None without `cv`.
            epoch: the epoch, from 1.
            epochs: the most epochs of this fit (`TrainConfig.epochs`, or a refit's count).
            logs: the epoch's scores: loss and accuracy, val_loss and val_accuracy (not in a refit), and
                epoch, seconds and learning_rate.
            seconds: the epoch's wall time.
        """


@dataclasses.dataclass
class TrainResult:
    """What `train` made: the saved run and its test scores.

    Attributes:
        run_dir: the run's folder, <runs_dir>/<name> (`load_run` and `Predictor` take it).
        metrics: its test scores (`Metrics`): segment and clip level, each with accuracy, balanced_accuracy,
            precision, recall and f1 and a confusion matrix; with `cv`, each score's mean and std over folds,
            the folds' own and the pooled scores; none for an untested final run.
        parameters: the model's parameter count.
        epoch_seconds: mean seconds per epoch (the first, which traces the graph, left out); an exact head's:
            per fit.
        exact: the model was fit exactly (logreg: no epochs).
    """

    run_dir: Path
    metrics: Metrics
    parameters: int
    epoch_seconds: float
    exact: bool = False


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """What every fold trains on: the store's arrays of the run's inputs, each segment's class index, and
    the genre names the indices point into."""

    store: FeatureStore
    arrays: dict[str, np.ndarray]
    classes: np.ndarray
    genres: list[str]

    @property
    def n_classes(self) -> int:
        return len(self.genres)


@dataclasses.dataclass
class _Fitted:
    """A model fitted on one split's non-test clips, with what its run folder keeps of the fit."""

    model: keras.Model
    normalization: dict
    history: History
    seconds: float  # per epoch; an exact head's: per fit


@dataclasses.dataclass
class _Fold:
    """One trained model's result: its test scores and outcomes (none for an untested run)."""

    metrics: Metrics
    outcomes: Outcomes | None
    parameters: int
    seconds: float  # per epoch; an exact head's: per fit


def _run_name(config: TrainConfig) -> str:
    """<inputs>-<model>[-<N>s][-cv<K>]-<timestamp>, e.g. embedding+mfcc-lstm-6s-cv5-20260101-120000."""
    cv = f"cv{config.cv}" if config.cv else ""
    parts = ["+".join(config.inputs), config.model, segment_label(config.segment_seconds), cv, timestamp()]
    return "-".join(filter(None, parts))


def _new_model(data: TrainingData, rows: np.ndarray, config: TrainConfig, shuffle: bool = True):
    """A model built afresh for fitting on `rows`: inputs normalized and pooled heads standardized with
    their statistics; the dataset of `rows` (unaugmented) that calibrated it, reused for batch norm."""
    keras.backend.clear_session()  # each fit starts from a clean graph and layer names
    keras.utils.set_random_seed(config.seed)
    normalization = {n: normalization_stats(a, rows) for n, a in data.arrays.items()}
    model = build_model(config.model, {n: a.shape[1:] for n, a in data.arrays.items()}, data.n_classes,
                        normalization, config.options)
    calibration = make_dataset(data.arrays, rows, data.classes[rows], data.n_classes, config.batch_size,
                               shuffle=shuffle, seed=config.seed)
    calibrate_standardizers(model, calibration)
    return model, normalization, calibration


def _class_weight(classes: np.ndarray, config: TrainConfig) -> dict | None:
    return balanced_class_weights(classes) if config.class_weights else None


def _fit_exact(data: TrainingData, rows: dict, config: TrainConfig) -> _Fitted:
    """An exact head on every non-test clip: no epochs to pick, so nothing is held back for it."""
    seen = rows["train+valid"]
    model, normalization, ordered = _new_model(data, seen, config, shuffle=False)
    _, record = fit_exact(model, ordered, data.classes[seen], data.store.index.clip_ids[seen], ExactFitParams(),
                          config.seed, config.class_weights)
    history = History(best_epoch=None, monitor="inner CV log loss", epochs_run=0, epochs=[], exact=record)
    return _Fitted(model, normalization, history, record.seconds)


def _fit_epochs(data: TrainingData, rows: dict, config: TrainConfig, events: TrainEvents,
                fold: int | None) -> _Fitted:
    """Epochs on the train clips, the best by the valid clips; with `config.refit`, a new model then
    trained on train+valid for that many epochs."""
    spec = get_model(config.model, config.inputs)
    model, normalization, calibration = _new_model(data, rows["train"], config)
    datasets = make_split_datasets(data.arrays, {p: rows[p] for p in ("train", "valid")}, data.classes,
                                   data.n_classes, config.batch_size, config.seed, config.augment)
    best = fit_model(model, spec, datasets, calibration, config, _class_weight(data.classes[rows["train"]], config),
                     lambda e, row, s: events.epoch(fold, e, config.epochs, row, s))
    history = History(best_epoch=best.best_epoch, monitor=config.monitor, epochs_run=len(best.history),
                      epochs=best.history)
    if not config.refit:
        return _Fitted(model, normalization, history, history.epoch_seconds)
    seen = rows["train+valid"]
    epochs = max(1, round(best.best_epoch * REFIT_EPOCH_SCALE))
    events.info(f"{f'fold {fold}: ' if fold else ''}refit on train+valid ({len(seen)} segments) for "
                f"{epochs} epochs (the best on the valid clips: {best.best_epoch})")
    model, normalization, calibration = _new_model(data, seen, config)
    train_data = make_dataset(data.arrays, seen, data.classes[seen], data.n_classes, config.batch_size, shuffle=True,
                              seed=config.seed, augment=config.augment)
    refit = fit_model(model, spec, {"train": train_data}, calibration, config,
                      _class_weight(data.classes[seen], config),
                      lambda e, row, s: events.epoch(fold, e, epochs, row, s), epochs=epochs)
    history = dataclasses.replace(history, refit=RefitRecord(epochs=epochs, segments=len(seen),
                                                             history=refit.history))
    return _Fitted(model, normalization, history, history.epoch_seconds)


def _fit_and_evaluate(data: TrainingData, split: Split, config: TrainConfig, out_dir: Path, events: TrainEvents,
                      fold: int | None) -> _Fold:
    """Fit on the split's non-test clips (by epochs, or exactly), score split.test; save into out_dir."""
    index = data.store.index
    rows = {p: index.rows_of(split.part(p)) for p in PARTS}
    rows["train+valid"] = np.sort(np.concatenate([rows["train"], rows["valid"]]))  # what a final fit sees
    if get_model(config.model, config.inputs).exact:
        fitted = _fit_exact(data, rows, config)
    else:
        fitted = _fit_epochs(data, rows, config, events, fold)
    metrics, outcomes = Metrics(), None  # an untested run (no test split) has none
    if len(rows["test"]):
        test = make_dataset(data.arrays, rows["test"], data.classes[rows["test"]], data.n_classes, config.batch_size,
                            shuffle=False, seed=config.seed)
        outcomes = outcomes_of(fitted.model.predict(test, verbose=0), data.classes[rows["test"]],
                               index.clip_ids[rows["test"]])
        metrics = outcome_metrics(outcomes, data.n_classes)
    fitted.model.save(out_dir / MODEL_FILE)
    RunWriter.write_fold(out_dir, split, fitted.normalization, fitted.history, metrics,
                         outcomes and outcomes.clips, data.genres)
    return _Fold(metrics, outcomes, fitted.model.count_params(), fitted.seconds)


def _splits(config: TrainConfig, store: FeatureStore, clip_genres: dict[str, str], genres: list[str],
            events: TrainEvents) -> tuple[list[Split], TrainConfig]:
    """The CV folds, the labels' split, the listed split or the random one, each checked before any
    training; and the config with the split it used (the labels' own, by default, where they carry one)."""
    if config.split_lists is None and not config.cv and not config.untested and store.label_splits():
        config = dataclasses.replace(config, split_lists=LABEL_SPLITS[0])
        events.info(f"the store's labels ({store.manifest.label_description}) carry a split: this run uses it "
                    f"(`split_lists` {RANDOM_SPLIT} for a random one)")
    if config.cv:
        splits = cv_splits(clip_genres, config.cv, config.seed)
    elif config.split_lists in LABEL_SPLITS:
        splits = [split_from_labels(store.label_splits(), clip_genres, store.manifest.label_description)]
    elif config.split_lists and config.split_lists != RANDOM_SPLIT:
        splits = [split_from_lists(config.split_lists, clip_genres)]
    else:
        splits = [random_split(clip_genres, config.split_ratios, config.seed)]
    for split in splits:
        check_split(split, clip_genres, genres, untested=config.untested)
    return splits, config


def train(config: TrainConfig, events: TrainEvents = TrainEvents()) -> TrainResult:
    """Train `config.model` on `config.inputs` of the store `config.store`, evaluate it on the test
    clips (each CV fold's, with `cv`) and save the run under `config.runs_dir`.

    The split is checked before any training. The run is written into a hidden folder and renamed into place
    when every file is there, so an interrupted training leaves no run (the next `train` removes what it left).

    Args:
        config: what to train, on what, and how.
        events: told of progress and of each epoch; silent by default.

    Returns:
        The run's folder, its test metrics, its parameter count and its speed.

    Raises:
        GenreTfError: an unknown model, or inputs it does not take.
        StoreError: no complete store of `config.segment_seconds` segments, a damaged one, or one without an
            input feature.
        SplitError: the split cannot be made as asked (ratios, lists, folds, too few clips or genres).
        ModelUnavailableError: pretrained weights the model needs cannot be loaded.
    """
    spec = get_model(config.model, config.inputs)  # a bad name fails before any work
    if config.augment is None:
        config = dataclasses.replace(config, augment=spec.augment)
    if config.refit is None:
        config = dataclasses.replace(config, refit=spec.refit)
    store = FeatureStore(config.store, config.segment_seconds)
    data = TrainingData(store, {n: store.array(n) for n in config.inputs},
                        np.searchsorted(store.genres, store.index.genres), store.genres)
    clip_genres = store.index.clip_genres()
    splits, config = _splits(config, store, clip_genres, data.genres, events)
    devices = configure_devices(config.mixed_precision)
    events.info(f"{len(store)} segments of {len(clip_genres)} clips, {data.n_classes} genres; "
                + ("; ".join(f"fold {s.source['fold']}: {s.summary()}" for s in splits) if config.cv
                   else f"split: {splits[0].summary()}")
                + f"; {'GPU ' + ', '.join(devices['gpus']) if devices['gpus'] else 'CPU'}"
                + (", mixed precision" if devices["mixed_precision"] else ""))
    writer = RunWriter(config.runs_dir, _run_name(config))
    for path in writer.removed:
        events.info(f"removed {path}: left by an interrupted training")
    started = time.perf_counter()
    try:
        with training_settings(devices["mixed_precision"]):
            folds = [_fit_and_evaluate(data, split, config,
                                       writer.fold_folder(split.source.get("fold") if config.cv else None), events,
                                       split.source.get("fold")) for split in splits]
        metrics = folds[0].metrics if not config.cv else Metrics.of_folds(
            [f.metrics for f in folds], outcome_metrics(Outcomes.pooled([f.outcomes for f in folds]), data.n_classes))
        parameters, epoch_seconds = folds[0].parameters, float(np.mean([f.seconds for f in folds]))
        run_dir = writer.finish(_run_config(config, writer.name, store, devices, parameters, epoch_seconds,
                                            time.perf_counter() - started), metrics if config.cv else None)
    except BaseException:
        writer.abandon()
        raise
    return TrainResult(run_dir, metrics, parameters, epoch_seconds, spec.exact)


def _run_config(config: TrainConfig, name: str, store: FeatureStore, devices: dict, parameters: int,
                epoch_seconds: float, train_seconds: float) -> RunConfig:
    """config.json: everything needed to repeat the run and to use its model."""
    manifest = store.manifest
    return RunConfig(
        name=name, train=dataclasses.replace(config, store=str(Path(config.store).resolve())),
        store=StoreRecord(generation=manifest.generation, data=manifest.data, label_source=manifest.labels,
                          segment_params=manifest.segment_params,
                          features={n: dataclasses.asdict(manifest.features[n]) for n in config.inputs}),
        genres=store.genres, parameters=parameters, train_seconds=train_seconds, epoch_seconds=epoch_seconds,
        devices=devices, library_versions=library_versions(), finished=now_iso())
