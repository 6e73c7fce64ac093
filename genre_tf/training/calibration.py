"""Statistics a model needs besides its weights: batch norm measured exactly on the training data
before each validation ("precise BN"), and the pooled heads' standardization."""
from __future__ import annotations

import numpy as np

from ..config import PRECISE_BN_BATCHES
from ..core.tf import tf
from ..models import Standardize

import keras


def nested_layers(model: keras.Model, kind: type) -> list:
    """Every layer of `kind` in the model, in nested models and wrappers (TimeDistributed) too."""
    found, stack = [], list(model.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, kind):
            found.append(layer)
        stack.extend(getattr(layer, "layers", []))  # a nested model
        if isinstance(layer, keras.layers.Wrapper):
            stack.append(layer.layer)
    return found


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
