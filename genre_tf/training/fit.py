"""Fitting one model: devices and precision, the best epoch kept with early stopping, class weights,
and the freeze-then-fine-tune schedule of pretrained networks."""
from __future__ import annotations

import contextlib
import time

import numpy as np

from ..config import FINE_TUNE_LR_FACTOR, TrainConfig
from ..core.errors import GenreTfError
from ..core.tf import allow_gpu_memory_growth, deterministic_ops
from ..models import ModelSpec
from .calibration import PreciseBatchNorm, recalibrate_batch_norm

import keras


def configure_devices(mixed_precision: bool | None) -> dict:
    """Use a GPU where there is one, with memory growth; mixed precision on by default there."""
    gpus = allow_gpu_memory_growth()
    return {"gpus": gpus, "mixed_precision": bool(gpus) if mixed_precision is None else mixed_precision}


@contextlib.contextmanager
def training_settings(mixed_precision: bool) -> None:
    """Mixed precision and deterministic ops while training; the caller's settings afterwards (a
    library call must not change the process it runs in)."""
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    try:
        with deterministic_ops():
            yield
    finally:
        keras.mixed_precision.set_global_policy(policy)


class BestEpoch(keras.callbacks.Callback):
    """Keeps the weights of the best epoch by `monitor`, stops after `patience` epochs without
    improvement, restores the best weights at the end, and times epochs. With no `monitor` (a refit,
    which has no validation data) it only times epochs: the last one is kept."""

    def __init__(self, monitor: str, patience: int, on_epoch=None):
        super().__init__()
        self.monitor, self.patience, self.on_epoch = monitor, patience, on_epoch
        self.sign = -1 if monitor == "val_loss" else 1
        self.best_value, self.best_epoch, self.best_weights = -np.inf, 0, None
        self.phase_start = 0  # patience counts from the best epoch or the phase's start, the later
        self.diverged: str | None = None  # what became NaN or infinite, and when
        self.history: list[dict] = []

    def new_phase(self, epoch: int) -> None:
        self.phase_start = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}, "seconds": seconds,
               "learning_rate": float(self.model.optimizer.learning_rate)}
        self.history.append(row)
        diverged = [k for k in ("loss", self.monitor) if k and not np.isfinite(row[k])]
        if diverged:  # nothing after this is worth keeping: stop, and let the caller say so
            what = diverged[0].replace("val_", "validation ")
            self.diverged = f"{what} became {row[diverged[0]]} at epoch {epoch + 1}"
            self.model.stop_training = True
        elif self.monitor is None:
            self.best_epoch = epoch + 1
        else:
            self._track(epoch, row)
        if self.on_epoch:
            self.on_epoch(epoch + 1, row, seconds)

    def _track(self, epoch: int, row: dict) -> None:
        value = self.sign * row[self.monitor]
        if value > self.best_value:
            self.best_value, self.best_epoch, self.best_weights = value, epoch + 1, self.model.get_weights()
        elif epoch + 1 - max(self.best_epoch, self.phase_start) >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.monitor is not None and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def _stop_if_diverged(best: BestEpoch) -> None:
    """A loss that became NaN or infinite leaves no model worth saving: one line, and no run written."""
    if best.diverged:
        raise GenreTfError(f"training diverged: {best.diverged}; try a lower `learning_rate`, or check the store's "
                           "features for NaN or infinite values")


def balanced_class_weights(classes: np.ndarray) -> dict[int, float]:
    """Each class present in `classes` weighted inversely to its frequency (scikit-learn's "balanced")."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(classes)
    weights = compute_class_weight("balanced", classes=present, y=classes)
    return {int(c): float(w) for c, w in zip(present, weights)}


def fit_model(model: keras.Model, spec: ModelSpec, data: dict, calibration, config: TrainConfig,
              class_weight: dict | None = None, on_epoch=None, epochs: int | None = None) -> BestEpoch:
    """Train on data["train"], keep the best epoch on data["valid"]. A pretrained backbone trains
    frozen for `frozen_epochs`, then its top blocks too at a tenth of the rate. Batch norm is
    recalibrated on `calibration` (the unaugmented training data) before each validation.

    A refit (`epochs` given, no data["valid"]) runs the same schedule for exactly `epochs` epochs and
    keeps the last, its batch norm recalibrated at the end."""
    refit = epochs is not None
    last = epochs if refit else config.epochs
    best = BestEpoch(None if refit else config.monitor, config.patience, on_epoch)

    def fit(learning_rate: float, first_epoch: int, last_epoch: int):
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=keras.losses.CategoricalCrossentropy(),
                      metrics=["accuracy"])
        model.fit(data["train"], validation_data=data.get("valid"), initial_epoch=first_epoch, epochs=last_epoch,
                  callbacks=[PreciseBatchNorm(calibration), best], class_weight=class_weight, shuffle=False,
                  verbose=0)  # tf.data shuffles

    if spec.fine_tune and spec.pretrained(config.options) and config.frozen_epochs < last:
        fit(config.learning_rate, 0, config.frozen_epochs)
        _stop_if_diverged(best)
        spec.fine_tune(model)
        best.new_phase(config.frozen_epochs)
        fit(config.learning_rate * FINE_TUNE_LR_FACTOR, config.frozen_epochs, last)
    else:
        fit(config.learning_rate, 0, last)
    _stop_if_diverged(best)
    if refit:
        recalibrate_batch_norm(model, calibration)
    return best
