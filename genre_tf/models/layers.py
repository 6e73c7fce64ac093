"""Building blocks of genre-tf's networks: convolution blocks written as tables (`Conv`), batch norm
tuned for small collections, the classifier heads, and the custom layers a saved model holds
(registered with Keras, so that `keras.models.load_model` finds them)."""
from __future__ import annotations

import dataclasses

from ..core.tf import tf  # noqa: F401  (TensorFlow first, quietly, before Keras imports it)

import keras
from keras import layers, ops


@dataclasses.dataclass(frozen=True)
class Conv:
    filters: int
    kernel: int | tuple[int, int]
    pool: int | tuple[int, int] | None  # max-pool size after the block; None: none
    dropout: float


# Keras' default 0.99 needs thousands of steps before the moving statistics used at inference match
# training; genre datasets give ~20 steps an epoch, and with 0.99 validation accuracy stayed at 30%
# where 0.9 reaches 96% (MFCC CNN, synthetic 10x20 clips).
BN_MOMENTUM = 0.9


def batch_norm():
    return layers.BatchNormalization(momentum=BN_MOMENTUM)


def conv_blocks(x, blocks: tuple[Conv, ...], conv, pool):
    for b in blocks:
        x = conv(b.filters, b.kernel, padding="same", use_bias=False)(x)
        x = batch_norm()(x)
        x = layers.ReLU()(x)
        if b.pool:
            x = pool(b.pool, padding="same")(x)
        if b.dropout:
            x = layers.Dropout(b.dropout)(x)
    return x


def as_image(x):
    """(time, bins) -> (time, bins, 1): a spectrogram as a one-channel image."""
    return layers.Reshape((*x.shape[1:], 1))(x)


def classifier(x, n_classes: int):
    # float32 softmax: stable under mixed precision.
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="genre")(x)


def head(x, units: int, n_classes: int, dropout: float = 0.4):
    x = layers.Dense(units, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    return classifier(x, n_classes)


def conv_bn_relu(x, filters: int, kernel=(3, 3)):
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False)(x)
    return layers.ReLU()(batch_norm()(x))


@keras.saving.register_keras_serializable(package="genre_tf")
class SpectrogramImage(layers.Layer):
    """A (time, bins) spectrogram -> the (size, size, 3) image an ImageNet network expects: scaled to
    0-255 per example (as when saved as a picture), resized, grey in all three channels, then the
    backbone's own preprocessing."""

    def __init__(self, size: int, mode: str, **kwargs):
        super().__init__(**kwargs)
        self.size, self.mode = size, mode

    def call(self, x):
        low = ops.min(x, axis=(1, 2), keepdims=True)
        high = ops.max(x, axis=(1, 2), keepdims=True)
        x = (x - low) / ops.maximum(high - low, 1e-6) * 255.0
        x = ops.image.resize(ops.expand_dims(x, -1), (self.size, self.size))
        x = ops.repeat(x, 3, axis=-1)
        return keras.applications.imagenet_utils.preprocess_input(x, mode=self.mode)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "mode": self.mode}


@keras.saving.register_keras_serializable(package="genre_tf")
class MeanStdPooling(layers.Layer):
    """(batch, time, channels) -> (batch, 2 * channels): each channel's mean and standard deviation over
    time. A feature that is already a vector (musicnn's pools) passes through as it is."""

    def call(self, x):
        if len(x.shape) == 2:
            return x
        axes = tuple(range(1, len(x.shape) - 1))
        mean = ops.mean(x, axis=axes)
        return ops.concatenate([mean, ops.sqrt(ops.maximum(ops.var(x, axis=axes), 1e-8))], axis=-1)


@keras.saving.register_keras_serializable(package="genre_tf")
class Standardize(layers.Layer):
    """(x - mean) / std with fixed statistics, in training as in inference (a StandardScaler). Training
    sets them from the training split before fitting (`calibrate_standardizers`)."""

    def build(self, shape):
        self.mean = self.add_weight(shape=(shape[-1],), initializer="zeros", trainable=False, name="mean")
        self.variance = self.add_weight(shape=(shape[-1],), initializer="ones", trainable=False, name="variance")

    def call(self, x):
        return (x - self.mean) / ops.sqrt(self.variance + 1e-6)


@keras.saving.register_keras_serializable(package="genre_tf")
class LogMelPatches(layers.Layer):
    """(batch, frames, bands) -> (batch, patches, patch_frames, bands): YAMNet's 0.96 s patches every 0.48 s."""

    def __init__(self, patch_frames: int, hop_frames: int, **kwargs):
        super().__init__(**kwargs)
        self.patch_frames, self.hop_frames = patch_frames, hop_frames

    def call(self, x):
        return tf.signal.frame(x, self.patch_frames, self.hop_frames, axis=1)

    def compute_output_shape(self, shape):
        patches = 1 + (shape[1] - self.patch_frames) // self.hop_frames
        return (shape[0], patches, self.patch_frames, shape[2])

    def get_config(self):
        return {**super().get_config(), "patch_frames": self.patch_frames, "hop_frames": self.hop_frames}
