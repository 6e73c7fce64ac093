"""Augmentation of training batches, on the fly: time shift, spectrum shading, SpecAugment.

Pure TensorFlow on (batch, time, bins) arrays, so it runs wherever the input pipeline does. Every
random draw is a stateless op seeded from the batch's own seed: the same `--seed` gives the same
augmented batches, and each epoch draws new ones.
"""
from __future__ import annotations

from ..config import AugmentParams, MaskParams
from ..core.tf import tf


def time_shift(x: tf.Tensor, fraction: float, seed: tf.Tensor) -> tf.Tensor:
    """Each example's frames rolled by its own offset in [-fraction, fraction] of their number."""
    frames = x.shape[1]
    limit = max(1, int(fraction * frames))
    offsets = tf.random.stateless_uniform([tf.shape(x)[0]], seed, minval=-limit, maxval=limit + 1, dtype=tf.int32)
    source = (tf.range(frames)[None, :] - offsets[:, None]) % frames
    return tf.gather(x, source, batch_dims=1)


def _spans(size: int, count: int, width: float, batch: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """(batch, size) booleans: `count` random spans per example, each 0 to width*size long."""
    widest = max(1, int(round(width * size)))
    draws = tf.random.stateless_uniform([2, batch, count, 1], seed)
    widths = tf.floor(draws[0] * (widest + 1))
    starts = tf.floor(draws[1] * (size - widths + 1))
    position = tf.cast(tf.range(size), tf.float32)
    return tf.reduce_any((position >= starts) & (position < starts + widths), axis=1)


def mask(x: tf.Tensor, params: MaskParams, seed: tf.Tensor) -> tf.Tensor:
    """Frequency bands and time spans set to each example's mean: the value that normalization maps
    to zero, so a mask hides information without adding an outlier."""
    batch = tf.shape(x)[0]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    hidden = (_spans(x.shape[2], params.freq_masks, params.freq_width, batch, seeds[0])[:, None, :]
              | _spans(x.shape[1], params.time_masks, params.time_width, batch, seeds[1])[:, :, None])
    return tf.where(hidden, tf.reduce_mean(x, axis=[1, 2], keepdims=True), x)


def augment_batch(features: dict[str, tf.Tensor], names: tuple[str, ...], seed: tf.Tensor,
                  params: AugmentParams = AugmentParams()) -> dict[str, tf.Tensor]:
    """Apply the named augmentations, in order, to every (batch, time, bins) feature."""
    seeds = tf.random.experimental.stateless_split(seed, len(features) * len(names))
    out, k = {}, 0
    for name, x in features.items():
        for augmentation in names:
            if augmentation == "shift":
                x = time_shift(x, params.shift_fraction, seeds[k])
            else:
                x = mask(x, getattr(params, augmentation), seeds[k])
            k += 1
        out[name] = x
    return out
