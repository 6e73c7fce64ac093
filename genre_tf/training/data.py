"""Training data from the feature store: tf.data over memory-mapped arrays, and the normalization
statistics of the training split. Nothing larger than a batch is loaded at once."""
from __future__ import annotations

import numpy as np

from ..core.tf import tf
from .augment import augment_batch

STATS_CHUNK = 4096  # rows read at a time when computing statistics


def normalization_stats(array: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (last axis) mean and variance over the given rows, streamed in chunks."""
    total = np.zeros(array.shape[-1])
    total_sq = np.zeros(array.shape[-1])
    count = 0
    for start in range(0, len(rows), STATS_CHUNK):
        chunk = np.asarray(array[np.sort(rows[start:start + STATS_CHUNK])], np.float64)
        flat = chunk.reshape(-1, array.shape[-1])
        total += flat.sum(0)
        total_sq += (flat ** 2).sum(0)
        count += len(flat)
    mean = total / count
    variance = np.maximum(total_sq / count - mean ** 2, 1e-8)
    return mean.astype(np.float32), variance.astype(np.float32)


def make_dataset(arrays: dict[str, np.ndarray], rows: np.ndarray, classes: np.ndarray, n_classes: int,
                 batch_size: int, shuffle: bool, seed: int, augment: tuple[str, ...] = ()) -> tf.data.Dataset:
    """Batches of ({feature: float32 array}, the classes one-hot) read from memory-mapped arrays.

    `classes[i]` belongs to `rows[i]`. Rows are gathered per batch (sorted, so reads from disk are
    sequential), after shuffling positions with a seeded shuffle. `augment` names augmentations
    applied to each batch with a seed of its own, new every epoch.
    """
    names = list(arrays)
    shapes = {n: arrays[n].shape[1:] for n in names}

    def gather(positions):
        positions = np.sort(positions)
        store_rows = rows[positions]
        features = [np.asarray(arrays[n][store_rows], np.float32) for n in names]
        return (*features, np.eye(n_classes, dtype=np.float32)[classes[positions]])

    def load(positions):
        out = tf.numpy_function(gather, [positions], [tf.float32] * (len(names) + 1), stateful=False)
        features = {n: tf.ensure_shape(x, (None, *shapes[n])) for n, x in zip(names, out[:-1])}
        return features, tf.ensure_shape(out[-1], (None, n_classes))

    ds = tf.data.Dataset.from_tensor_slices(np.arange(len(rows)))
    if shuffle:
        ds = ds.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(load)
    if augment:
        # One seed per batch from a seeded stream that draws anew at each epoch's iteration.
        batch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, batch_seeds).map(
            lambda batch, s: (augment_batch(batch[0], augment, tf.stack([s, tf.constant(seed, tf.int64)])), batch[1]))
    return ds.prefetch(tf.data.AUTOTUNE)


def make_split_datasets(arrays: dict[str, np.ndarray], rows: dict[str, np.ndarray], classes: np.ndarray,
                        n_classes: int, batch_size: int, seed: int, augment: tuple[str, ...] = ()) -> dict:
    """train/valid/test datasets: only train is shuffled and augmented; valid and test are the store's
    features as they are, so model selection and scores see real inputs."""
    return {part: make_dataset(arrays, part_rows, classes[part_rows], n_classes, batch_size, shuffle=part == "train",
                               seed=seed, augment=augment if part == "train" else ())
            for part, part_rows in rows.items()}
