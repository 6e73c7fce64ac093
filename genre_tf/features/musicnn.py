"""musicnn (Pons & Serra 2019): a CNN trained on music tags, ported to Keras 3, for pooled features.

The network (musicnn's models.py, `build_musicnn`) has three parts over a (187, 96) log-mel patch:
- front end: batch norm of the input, then "timbral" filters spanning 7 frames and 40% or 70% of the
  mel bands, and "temporal" filters spanning 128, 64 or 32 frames of one band; each max-pooled over
  frequency: (187, 204 + 204 + 51 + 51 + 51 = 561);
- mid end: three 1-D convolutions of 7 frames (64 filters) with residual connections, densely
  concatenated with the front end: (187, 753);
- back end: max and mean over time (753 each), batch norm, a 200-unit dense layer (the
  "penultimate" features) and the tag layer (50 tags).

The trained weights are the TF1 checkpoints shipped in musicnn's PyPI wheel (ISC license). Its code
pins numpy<1.17, so genre-tf installs the wheel without dependencies and only reads the checkpoint
files (tf.train checkpoint reader), never importing the package.

The input is computed as musicnn's extractor computes it (librosa's mel spectrogram, 16 kHz, n_fft 512,
hop 256, 96 bands, then log10(10000 x + 1)), in TF on a batch of segments. One difference on purpose:
musicnn casts the mel spectrogram to float16 before the log, which overflows to inf on loud clips
(power above 65504); genre-tf keeps float32.
"""
from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np

from ..config import MusicnnParams
from ..core.errors import ModelUnavailableError, first_line
from ..core.tf import tf
from .mfcc import slaney_mel_matrix

import keras
from keras import layers

MUSICNN_MODELS = ("MSD_musicnn", "MTT_musicnn")
INSTALL_HINT = "install it with `pip install --no-deps musicnn==0.1.0` (make install does)"
BN_EPSILON = 1e-3  # TF1's batch_normalization default


@dataclasses.dataclass(frozen=True)
class FrontEndFilter:
    kind: str  # "timbral": 7 frames x a fraction of the bands; "temporal": frames x 1 band
    filters: int
    frames: int
    band_fraction: float = 0.0


# Checkpoint order: conv2d .. conv2d_4 and batch_normalization_1 .. _5.
FRONT_END = (FrontEndFilter("timbral", 204, 7, 0.4), FrontEndFilter("timbral", 204, 7, 0.7),
             FrontEndFilter("temporal", 51, 128), FrontEndFilter("temporal", 51, 64),
             FrontEndFilter("temporal", 51, 32))
MID_END_FILTERS, MID_END_FRAMES, MID_END_LAYERS = 64, 7, 3
PENULTIMATE_UNITS = 200
TAGS = 50

# What a segment's feature vector holds, in order.
FEATURE_PARTS = (("mean_pool", 753), ("max_pool", 753), ("penultimate", PENULTIMATE_UNITS))
FEATURE_SIZE = sum(size for _, size in FEATURE_PARTS)


def _bn(name: str):
    return layers.BatchNormalization(epsilon=BN_EPSILON, name=name)


def build_musicnn(p: MusicnnParams = MusicnnParams()) -> keras.Model:
    """(patches, 187, 96) log-mel -> {mean_pool, max_pool, penultimate, tags}; layer names are the
    checkpoint's, so weights load by name."""
    spectrogram = keras.Input(shape=(p.patch_frames, p.n_mels), name="logmel")
    x = _bn("batch_normalization")(layers.Reshape((p.patch_frames, p.n_mels, 1))(spectrogram))
    front = []
    for i, f in enumerate(FRONT_END):
        if f.kind == "timbral":  # time padded by hand, frequency 'valid': then pooled over all bands
            y = layers.ZeroPadding2D(((f.frames // 2, f.frames // 2), (0, 0)))(x)
            y = layers.Conv2D(f.filters, (f.frames, int(f.band_fraction * p.n_mels)), activation="relu",
                              name=f"conv2d{'_' + str(i) if i else ''}")(y)
        else:
            y = layers.Conv2D(f.filters, (f.frames, 1), padding="same", activation="relu", name=f"conv2d_{i}")(x)
        y = _bn(f"batch_normalization_{i + 1}")(y)
        front.append(layers.Reshape((p.patch_frames, f.filters))(layers.MaxPooling2D((1, y.shape[2]))(y)))
    x = layers.Concatenate(name="front_end")(front)  # (187, 561)

    mid = [x]
    for i in range(MID_END_LAYERS):
        y = layers.ZeroPadding1D(MID_END_FRAMES // 2)(mid[-1])
        y = layers.Conv1D(MID_END_FILTERS, MID_END_FRAMES, activation="relu", name=f"conv2d_{len(FRONT_END) + i}")(y)
        y = _bn(f"batch_normalization_{len(FRONT_END) + 1 + i}")(y)
        mid.append(y if i == 0 else layers.Add()([y, mid[-1]]))
    x = layers.Concatenate(name="mid_end")(mid)  # (187, 753)

    max_pool = layers.GlobalMaxPooling1D(name="max_pool")(x)
    mean_pool = layers.GlobalAveragePooling1D(name="mean_pool")(x)
    # musicnn flattens a (753, 2) stack of [max, mean]: the 1506 values interleave.
    pooled = layers.Reshape((2 * x.shape[-1],))(layers.Concatenate()([layers.Reshape((-1, 1))(max_pool),
                                                                       layers.Reshape((-1, 1))(mean_pool)]))
    pooled = _bn("batch_normalization_9")(pooled)
    dense = layers.Dense(PENULTIMATE_UNITS, activation="relu", name="dense")(pooled)
    penultimate = _bn("batch_normalization_10")(dense)
    tags = layers.Dense(TAGS, activation="sigmoid", name="dense_1")(penultimate)
    return keras.Model(spectrogram, {"mean_pool": mean_pool, "max_pool": max_pool, "penultimate": penultimate,
                                     "tags": tags}, name="musicnn")


def checkpoint_prefix(model: str) -> str:
    """'MSD_musicnn' / 'MTT_musicnn' (the installed wheel's checkpoints) or a folder holding `.index`
    and `.data-00000-of-00001`: the checkpoint prefix, which is the folder path with a trailing slash."""
    if model in MUSICNN_MODELS:
        spec = importlib.util.find_spec("musicnn")  # finds the package without importing its code
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailableError(f"musicnn's trained weights are not installed; {INSTALL_HINT}")
        folder = Path(next(iter(spec.submodule_search_locations))) / model
    else:
        folder = Path(model).expanduser()
    if not (folder / ".index").is_file():
        raise ModelUnavailableError(f"no musicnn checkpoint in {folder} (expected .index and .data-00000-of-00001); "
                                    f"`musicnn_model` takes {' or '.join(MUSICNN_MODELS)} or such a folder; "
                                    f"{INSTALL_HINT}")
    return str(folder.resolve()) + "/"


def load_musicnn_weights(model: keras.Model, prefix: str) -> None:
    """Checkpoint variables `<layer>/<variable>` into the layers of build_musicnn(), by name."""
    try:
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        for layer in model.layers:
            if not layer.weights:
                continue
            values = []
            for weight in layer.weights:
                stored = reader.get_tensor(f"{layer.name}/{weight.name}")
                values.append(stored.reshape(weight.shape))  # mid-end kernels: (7, W, 1, 64) -> (7, W, 64)
            layer.set_weights(values)
    except (tf.errors.OpError, ValueError) as e:
        raise ModelUnavailableError(f"{prefix}: damaged or foreign musicnn checkpoint "
                                    f"({first_line(e)}); reinstall it: {INSTALL_HINT}") from None


def musicnn_log_mel(waveforms, p: MusicnnParams = MusicnnParams()) -> tf.Tensor:
    """(batch, samples) -> (batch, frames, 96): librosa.feature.melspectrogram (centred frames with
    zero padding, periodic Hann window, power 2, Slaney mel filters), then log10(10000 x + 1)."""
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    padded = tf.pad(waveforms, [[0, 0], [p.n_fft // 2, p.n_fft // 2]])
    power = tf.square(tf.abs(tf.signal.stft(padded, p.n_fft, p.hop_length, p.n_fft)))
    mel = tf.matmul(power, slaney_mel_matrix(p.sample_rate, p.n_fft, p.n_mels))
    return tf.math.log(p.log_scale * mel + 1.0) / np.log(10.0)


def patches(spectrogram, p: MusicnnParams = MusicnnParams()) -> tf.Tensor:
    """(batch, frames, 96) -> (batch, patches, 187, 96): musicnn's non-overlapping 3 s patches (a
    trailing part shorter than a patch is left out, as musicnn does)."""
    return tf.signal.frame(spectrogram, p.patch_frames, p.patch_frames, axis=1)


class MusicnnFeature(tf.Module):
    """Per segment: the mean over its patches of [mean_pool (753), max_pool (753), penultimate (200)]."""

    def __init__(self, params: MusicnnParams):
        super().__init__(name="musicnn")
        self.params = params
        self.model = build_musicnn(params)
        load_musicnn_weights(self.model, checkpoint_prefix(params.model))

    def compute(self, spectra) -> tf.Tensor:
        p = self.params
        # A segment shorter than one patch is padded with silence up to it.
        segments = spectra.waveforms
        segments = tf.pad(segments, [[0, 0], [0, tf.maximum(p.min_samples - tf.shape(segments)[1], 0)]])
        framed = patches(musicnn_log_mel(segments, p), p)  # (B, P, 187, 96)
        outputs = self.model(tf.reshape(framed, (-1, p.patch_frames, p.n_mels)), training=False)
        vector = tf.concat([outputs[name] for name, _ in FEATURE_PARTS], axis=-1)
        return tf.reduce_mean(tf.reshape(vector, (tf.shape(segments)[0], -1, FEATURE_SIZE)), axis=1)
