"""`genre-tf train`: one model on one feature set (or several), trained on a clip-level split of a
feature store, evaluated on its test split, and saved as a run directory.

A run is assembled in a private `.incomplete-` folder and renamed into place only when every file
is written (runs.py), so a killed run never leaves a directory that looks finished.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

import numpy as np

from .errors import SplitError
from .evaluate import evaluate, summarize_folds
from .models import build_model, get_model
from .pipeline import make_dataset, make_split_datasets, normalization_stats
from .params import TrainConfig, segment_label
from .provenance import library_versions, now_iso
from .files import timestamp
from .runs import MODEL_FILE, RunWriter
from .splits import PARTS, Split, random_split, split_from_lists
from .store import FeatureStore
from .tf import allow_gpu_memory_growth, tf

import keras  # noqa: E402  (after .tf, which imports TensorFlow quietly)

FINE_TUNE_LR_FACTOR = 0.1  # fine-tuning a pretrained backbone: a tenth of the learning rate


class TrainEvents:
    """What training tells its caller; silent by default."""

    def info(self, message: str) -> None: ...
    def epoch(self, fold: int | None, epoch: int, epochs: int, logs: dict, seconds: float) -> None: ...


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    metrics: dict  # {"segment": {...}, "clip": {...}}; for CV also "folds"
    parameters: int
    epoch_seconds: float  # mean seconds per epoch


def configure_devices(mixed_precision: bool | None) -> dict:
    """Use a GPU where there is one, with memory growth; mixed precision on by default there."""
    gpus = allow_gpu_memory_growth()
    return {"gpus": gpus, "mixed_precision": bool(gpus) if mixed_precision is None else mixed_precision}


@contextlib.contextmanager
def training_settings(mixed_precision: bool) -> None:
    """Mixed precision and deterministic ops while training; the caller's settings afterwards (a
    library call must not change the process it runs in)."""
    from tensorflow.python.framework import config as tf_config  # the public API has no way back

    policy, deterministic = keras.mixed_precision.global_policy(), tf_config.is_op_determinism_enabled()
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    tf_config.enable_op_determinism()  # the same seed and data give the same run
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)
        if not deterministic:
            tf_config.disable_op_determinism()


class BestEpoch(keras.callbacks.Callback):
    """Keeps the weights of the best epoch by `monitor`, stops after `patience` epochs without
    improvement, restores the best weights at the end, and times epochs."""

    def __init__(self, monitor: str, patience: int, on_epoch=None):
        super().__init__()
        self.monitor, self.patience, self.on_epoch = monitor, patience, on_epoch
        self.sign = -1 if monitor == "val_loss" else 1
        self.best_value, self.best_epoch, self.best_weights = -np.inf, 0, None
        self.phase_start = 0  # patience counts from the best epoch or the phase's start, the later
        self.history: list[dict] = []

    def new_phase(self, epoch: int) -> None:
        self.phase_start = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}, "seconds": seconds,
               "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))}
        self.history.append(row)
        value = self.sign * row[self.monitor]
        if value > self.best_value:
            self.best_value, self.best_epoch, self.best_weights = value, epoch + 1, self.model.get_weights()
        elif epoch + 1 - max(self.best_epoch, self.phase_start) >= self.patience:
            self.model.stop_training = True
        if self.on_epoch:
            self.on_epoch(epoch + 1, row, seconds)

    def on_train_end(self, logs=None):
        self.model.set_weights(self.best_weights)


# Batches of training data over which batch-norm statistics are measured before each validation.
PRECISE_BN_BATCHES = 50


def nested_layers(model: keras.Model, kind: type) -> list:
    """Every layer of `kind` in the model, in nested models too."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True) if isinstance(layer, kind)]


def compiled_forward(model: keras.Model):
    """model(x, training=True) as a tf.function (eager recurrent layers are slow)."""
    return tf.function(lambda x: model(x, training=True), reduce_retracing=True)


def recalibrate_batch_norm(model: keras.Model, dataset, max_batches: int = PRECISE_BN_BATCHES, forward=None) -> None:
    """Set each batch norm's moving statistics to the plain average of its batch statistics over
    `dataset` under the current weights, with dropout off ("precise BN", Wu & Johnson 2021).

    Training keeps an exponential average of batch statistics, taken while the weights changed and
    with dropout on. With the few steps an epoch of a small collection that average lags far behind
    and, after dropout, has the wrong variance for inference: on thirty real GTZAN clips a log-mel CNN
    reached 0.5 training accuracy while validation stayed at 0.12 and early stopping kept its first
    epoch, which predicted one genre for most of its own training segments. Measured here as
    inference will see the data (no dropout; `dataset` unaugmented), the statistics are exact.

    `forward` is compiled_forward(model): with momentum 0 each call leaves one batch's statistics in the
    moving variables, and they are averaged here."""
    # A frozen batch norm (a pretrained backbone's) keeps its own statistics.
    norms = [layer for layer in nested_layers(model, keras.layers.BatchNormalization) if layer.trainable]
    if not norms:
        return
    forward = forward or compiled_forward(model)
    dropouts = nested_layers(model, keras.layers.Dropout)
    momenta, rates = [n.momentum for n in norms], [d.rate for d in dropouts]
    sums, batches = [[0.0, 0.0] for _ in norms], 0
    try:
        for layer in norms:
            layer.momentum = 0.0
        for layer in dropouts:
            layer.rate = 0.0
        for features, _ in dataset.take(max_batches):
            forward(features)
            for total, layer in zip(sums, norms):
                total[0] += layer.moving_mean.numpy()
                total[1] += layer.moving_variance.numpy()
            batches += 1
    finally:
        for layer, m in zip(norms, momenta):
            layer.momentum = m
        for layer, r in zip(dropouts, rates):
            layer.rate = r
    for (mean, variance), layer in zip(sums, norms):
        layer.moving_mean.assign(mean / batches)
        layer.moving_variance.assign(variance / batches)


def calibrate_standardizers(model: keras.Model, dataset) -> None:
    """Set every Standardize layer's statistics to those of its input over `dataset` (the training split)."""
    from .models import Standardize

    for layer in [la for la in model.layers if isinstance(la, Standardize)]:
        inputs = keras.Model(model.inputs, layer.input)
        vectors = np.concatenate([np.asarray(inputs(features, training=False)) for features, _ in dataset])
        layer.mean.assign(vectors.mean(0))
        layer.variance.assign(vectors.var(0))


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recalibrates batch norm on the (unaugmented) training data before each validation pass of `fit`."""

    def __init__(self, dataset):
        super().__init__()
        self.dataset, self.forward = dataset, None

    def on_test_begin(self, logs=None):
        if self.forward is None:  # traced once per fit, with momentum and dropout as recalibration sets them
            self.forward = compiled_forward(self.model)
        recalibrate_batch_norm(self.model, self.dataset, forward=self.forward)


def _check_split(split: Split, clip_genres: dict[str, str], genres: list[str], untested: bool) -> None:
    """`untested`: a final run on all clips (test ratio 0), whose test split is empty on purpose."""
    for part in PARTS:
        if not split.part(part) and not (untested and part == "test"):
            raise SplitError(f"the {part} split is empty ({split.summary()}); use other --split-ratios or lists, "
                             "or more clips")
    trained = {clip_genres[c] for c in split.train}
    missing = [g for g in genres if g not in trained]
    if missing:
        subject = f"genre {missing[0]} has" if len(missing) == 1 else f"genres {', '.join(missing)} have"
        raise SplitError(f"{subject} no clips in the train split ({split.summary()}); add clips or change the split")


def _run_name(config: TrainConfig) -> str:
    """<inputs>-<model>[-<N>s][-cv<K>]-<timestamp>, e.g. embedding+mfcc-lstm-6s-cv5-20260101-120000."""
    cv = f"cv{config.cv}" if config.cv else ""
    parts = ["+".join(config.inputs), config.model, segment_label(config.segment_seconds), cv, timestamp()]
    return "-".join(filter(None, parts))


def _fit_and_evaluate(store: FeatureStore, arrays: dict, labels: np.ndarray, split: Split, config: TrainConfig,
                      n_classes: int, out_dir: Path, events: TrainEvents, fold: int | None) -> tuple[dict, int, float]:
    """Train on split.train, pick the best epoch on split.valid, score split.test; save into out_dir."""
    rows = {p: store.index.rows_of(split.part(p)) for p in PARTS}
    normalization = {n: normalization_stats(a, rows["train"]) for n, a in arrays.items()}
    keras.backend.clear_session()  # each fold starts from a clean graph and layer names
    keras.utils.set_random_seed(config.seed)
    spec = get_model(config.model, config.inputs)
    options = config.options
    model = build_model(config.model, {n: a.shape[1:] for n, a in arrays.items()}, n_classes, normalization, options)
    data = make_split_datasets(arrays, rows, labels, n_classes, config.batch_size, config.seed, config.augment)
    calibration = make_dataset(arrays, rows["train"], labels[rows["train"]], n_classes, config.batch_size, shuffle=True,
                               seed=config.seed)
    calibrate_standardizers(model, calibration)
    class_weight = None
    if config.class_weights:
        from sklearn.utils.class_weight import compute_class_weight

        present = np.unique(labels[rows["train"]])
        weights = compute_class_weight("balanced", classes=present, y=labels[rows["train"]])
        class_weight = {int(c): float(w) for c, w in zip(present, weights)}
    best = BestEpoch(config.monitor, config.patience,
                     lambda e, row, s: events.epoch(fold, e, config.epochs, row, s))

    def fit(learning_rate: float, first_epoch: int, last_epoch: int):
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=keras.losses.CategoricalCrossentropy(),
                      metrics=["accuracy"])
        model.fit(data["train"], validation_data=data["valid"], initial_epoch=first_epoch, epochs=last_epoch,
                  callbacks=[PreciseBatchNorm(calibration), best], class_weight=class_weight, shuffle=False,
                  verbose=0)  # tf.data shuffles

    fine_tuning = spec.fine_tune and spec.pretrained(options) and config.frozen_epochs < config.epochs
    if fine_tuning:  # pretrained backbone: train the head on it frozen, then its top blocks too, slower
        fit(config.learning_rate, 0, config.frozen_epochs)
        spec.fine_tune(model)
        best.new_phase(config.frozen_epochs)
        fit(config.learning_rate * FINE_TUNE_LR_FACTOR, config.frozen_epochs, config.epochs)
    else:
        fit(config.learning_rate, 0, config.epochs)
    metrics = {}  # an untested run (no test split) has none
    if len(rows["test"]):
        probabilities = model.predict(data["test"], verbose=0)
        metrics = evaluate(probabilities, labels[rows["test"]], store.index.clip_ids[rows["test"]])

    model.save(out_dir / MODEL_FILE)
    RunWriter.write_fold(out_dir, split, normalization, {"best_epoch": best.best_epoch, "monitor": config.monitor,
                                                         "epochs_run": len(best.history), "epochs": best.history},
                         metrics)
    # The first epoch also traces the graph: steady-state speed is the mean of the later ones.
    epoch_seconds = float(np.mean([h["seconds"] for h in best.history[1:] or best.history]))
    return metrics, model.count_params(), epoch_seconds


def cv_splits(clip_genres: dict[str, str], k: int, seed: int) -> list[Split]:
    """K folds over clips, stratified by genre; each fold's rest is split 80/20 into train/valid."""
    from sklearn.model_selection import StratifiedKFold

    clips = sorted(clip_genres)
    genres = [clip_genres[c] for c in clips]
    fewest = min(genres.count(g) for g in set(genres))
    if fewest < k:
        raise SplitError(f"--cv {k} needs at least {k} clips in every genre; the smallest genre has {fewest}")
    splits = []
    for i, (rest, test) in enumerate(StratifiedKFold(k, shuffle=True, random_state=seed).split(clips, genres)):
        inner = random_split({clips[j]: genres[j] for j in rest}, (0.8, 0.2, 0.0), seed)
        splits.append(Split(train=inner.train, valid=inner.valid, test=sorted(clips[j] for j in test), excluded=[],
                            missing=[], source={"kind": "cv", "folds": k, "fold": i + 1, "seed": seed}))
    return splits


def train(config: TrainConfig, events: TrainEvents = TrainEvents()) -> TrainResult:
    spec = get_model(config.model, config.inputs)  # a bad name fails before any work
    if config.augment is None:
        config = dataclasses.replace(config, augment=spec.augment)
    store = FeatureStore(config.store, config.segment_seconds)
    arrays = {n: store.array(n) for n in config.inputs}
    genres = store.genres
    labels = np.searchsorted(genres, store.index.genres)
    clip_genres = store.index.clip_genres()
    if config.cv:
        splits = cv_splits(clip_genres, config.cv, config.seed)
    elif config.split_lists:
        splits = [split_from_lists(config.split_lists, clip_genres)]
    else:
        splits = [random_split(clip_genres, config.split_ratios, config.seed)]
    for split in splits:
        _check_split(split, clip_genres, genres, untested=config.untested)
    devices = configure_devices(config.mixed_precision)
    events.info(f"{len(store)} segments of {len(clip_genres)} clips, {len(genres)} genres; "
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
            results = [_fit_and_evaluate(store, arrays, labels, split, config, len(genres),
                                         writer.fold_folder(split.source.get("fold") if config.cv else None), events,
                                         split.source.get("fold")) for split in splits]
        fold_metrics = [r[0] for r in results]
        metrics = {"folds": fold_metrics, **summarize_folds(fold_metrics)} if config.cv else fold_metrics[0]
        parameters, epoch_seconds = results[0][1], float(np.mean([r[2] for r in results]))
        run_dir = writer.finish(_run_config(config, writer.name, store, genres, devices, parameters, epoch_seconds,
                                            time.perf_counter() - started), genres,
                                metrics if config.cv else None)
    except BaseException:
        writer.abandon()
        raise
    return TrainResult(run_dir, metrics, parameters, epoch_seconds)


def _run_config(config: TrainConfig, name: str, store: FeatureStore, genres: list[str], devices: dict,
                parameters: int, epoch_seconds: float, train_seconds: float) -> dict:
    """config.json: everything needed to repeat the run and to use its model."""
    return {
        "name": name,
        "train": {**dataclasses.asdict(config), "store": str(Path(config.store).resolve())},
        "store": {"generation": store.manifest.generation, "data": store.manifest.data,
                  "segment_params": store.manifest.segment_params,
                  "features": {n: dataclasses.asdict(store.manifest.features[n]) for n in config.inputs}},
        "labels": genres,
        "parameters": parameters,
        "train_seconds": train_seconds,
        "epoch_seconds": epoch_seconds,
        "devices": devices,
        "library_versions": library_versions(),
        "finished": now_iso(),
    }
