"""Augmentation: what each one does to a batch, its seeding, and that only training batches get it."""
import numpy as np
import pytest

from genre_tf.config import MaskParams, parse_augment
from genre_tf.core.errors import GenreTfError
from genre_tf.core.tf import tf
from genre_tf.training.augment import augment_batch, mask, time_shift

SEED = tf.constant([7, 0], tf.int64)


def batch(n=8, frames=50, bins=16):
    return np.random.default_rng(0).normal(size=(n, frames, bins)).astype(np.float32)


def test_shift_rolls_each_example_in_time_within_the_limit():
    x = batch()
    out = time_shift(tf.constant(x), 0.2, SEED).numpy()
    offsets = []
    for original, shifted in zip(x, out):
        matches = [k for k in range(-10, 11) if np.array_equal(np.roll(original, k, axis=0), shifted)]
        assert len(matches) == 1  # a pure roll by at most 20% of 50 frames
        offsets.append(matches[0])
    assert len(set(offsets)) > 1  # each example draws its own


def test_masks_hide_whole_bands_and_spans_with_the_example_mean():
    x = batch()
    out = mask(tf.constant(x), MaskParams(freq_masks=1, freq_width=0.25, time_masks=1, time_width=0.2), SEED).numpy()
    hidden = out != x
    assert hidden.any() and not hidden.all()
    for original, masked, h in zip(x, out, hidden):
        np.testing.assert_allclose(masked[h], original.mean(), rtol=1e-5)  # masked cells hold the mean
        bands = np.flatnonzero(h.all(axis=0))  # bins hidden at every frame
        frames = np.flatnonzero(h.all(axis=1))  # frames hidden in every bin
        assert len(bands) <= 4 and len(frames) <= 10  # at most 25% of 16 bins, 20% of 50 frames
        covered = np.zeros_like(h)
        covered[:, bands] = True
        covered[frames, :] = True
        assert np.array_equal(h, covered)  # nothing hidden outside the bands and spans


def test_the_same_seed_gives_the_same_batch_and_another_seed_another():
    x = {"logmel": tf.constant(batch())}
    names = ("shift", "specaugment")
    first = augment_batch(x, names, SEED)["logmel"].numpy()
    np.testing.assert_array_equal(first, augment_batch(x, names, SEED)["logmel"].numpy())
    assert not np.array_equal(first, augment_batch(x, names, tf.constant([8, 0], tf.int64))["logmel"].numpy())
    assert not np.array_equal(first, x["logmel"].numpy())


def test_parse_augment():
    assert parse_augment(None) is None  # the model's default
    assert parse_augment("none") == () and parse_augment("") == ()
    assert parse_augment("shift, mask,shift") == ("shift", "mask")
    with pytest.raises(GenreTfError, match="unknown --augment 'warp'"):
        parse_augment("shift,warp")


def test_only_training_batches_are_augmented_and_anew_each_epoch(synth_store):
    from genre_tf.io.splits import random_split
    from genre_tf.io.store import FeatureStore
    from genre_tf.training.data import make_split_datasets

    import keras

    keras.utils.set_random_seed(0)
    store = FeatureStore(synth_store)
    split = random_split(store.index.clip_genres(), (0.34, 0.33, 0.33), seed=0)
    rows = {p: store.index.rows_of(split.part(p)) for p in ("train", "valid", "test")}
    labels = np.searchsorted(store.genres, store.index.genres)
    raw = {p: np.asarray(store.array("logmel")[r], np.float32) for p, r in rows.items()}

    def epoch(dataset):  # one batch holds the whole part: rows come back in store order
        (features, _), = list(dataset)
        return features["logmel"].numpy()

    data = make_split_datasets({"logmel": store.array("logmel")}, rows, labels, 3, batch_size=64, seed=0,
                               augment=("shift", "mask"))
    for part in ("valid", "test"):
        np.testing.assert_array_equal(epoch(data[part]), raw[part])  # untouched
    first, second = epoch(data["train"]), epoch(data["train"])
    assert first.shape == raw["train"].shape
    assert not np.array_equal(first, raw["train"]) and not np.array_equal(first, second)
    again = make_split_datasets({"logmel": store.array("logmel")}, rows, labels, 3, batch_size=64, seed=0,
                                augment=("shift", "mask"))
    np.testing.assert_array_equal(epoch(again["train"]), first)  # deterministic under the seed
    plain = make_split_datasets({"logmel": store.array("logmel")}, rows, labels, 3, batch_size=64, seed=0)
    np.testing.assert_array_equal(epoch(plain["train"]), raw["train"])
