"""The model registry: `--model NAME` -> a builder, and `--input NAME` -> the features it takes.

A builder is a function (inputs, n_classes) -> output tensor, where `inputs` maps feature names to
Keras tensors that are already normalized. Adding a model is adding one function to MODELS.
Networks are written as tables of layer definitions, as YAMNet's yamnet.py does.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from .errors import GenreTfError
from .features import FEATURES
from .tf import tf  # noqa: F401  (TensorFlow first, quietly, before Keras imports it)

import keras  # noqa: E402
from keras import layers  # noqa: E402

# `--input` presets; any comma list of feature names is accepted too.
INPUT_PRESETS = {
    "all": ("embedding", "logmel", "mfcc"),
    "nospec": ("embedding", "mfcc"),  # the fourth seed's "Combined (No Spectrograms)"
}


@dataclasses.dataclass(frozen=True)
class Conv:
    filters: int
    kernel: int | tuple[int, int]
    pool: int | tuple[int, int] | None  # max-pool size after the block; None: none
    dropout: float


# BiLSTM: two bidirectional layers (units, dropout), batch norm after each, then the head.
LSTM_LAYERS = ((128, 0.3), (64, 0.3))
LSTM_HEAD = 64

# 1-D CNN over the 6 embedding frames (1024 channels each).
CNN1D_BLOCKS = (Conv(256, 3, 2, 0.3), Conv(128, 3, None, 0.3))
CNN1D_HEAD = 64

# 2-D CNN over time x frequency (log-mel, MFCC): a larger network for the richer input.
CNN2D_BLOCKS = (Conv(32, (3, 3), (2, 2), 0.1), Conv(64, (3, 3), (2, 2), 0.2), Conv(128, (3, 3), (2, 2), 0.2),
                Conv(128, (3, 3), None, 0.3))
CNN2D_HEAD = 128

COMBINED_HEAD = 128

# Keras' default 0.99 needs thousands of steps before the moving statistics used at inference match
# training; genre datasets give ~20 steps an epoch, and with 0.99 validation accuracy stayed at 30%
# where 0.9 reaches 96% (MFCC CNN, synthetic 10x20 clips).
BN_MOMENTUM = 0.9


def batch_norm():
    return layers.BatchNormalization(momentum=BN_MOMENTUM)


def _conv_blocks(x, blocks: tuple[Conv, ...], conv, pool):
    for b in blocks:
        x = conv(b.filters, b.kernel, padding="same", use_bias=False)(x)
        x = batch_norm()(x)
        x = layers.ReLU()(x)
        if b.pool:
            x = pool(b.pool, padding="same")(x)
        x = layers.Dropout(b.dropout)(x)
    return x


def cnn1d_trunk(x):
    x = _conv_blocks(x, CNN1D_BLOCKS, layers.Conv1D, layers.MaxPooling1D)
    return layers.GlobalMaxPooling1D()(x)


def cnn2d_trunk(x):
    x = layers.Reshape((*x.shape[1:], 1))(x)  # one channel: the spectrogram as an image
    x = _conv_blocks(x, CNN2D_BLOCKS, layers.Conv2D, layers.MaxPooling2D)
    return layers.GlobalAveragePooling2D()(x)


def lstm_trunk(x):
    for i, (units, dropout) in enumerate(LSTM_LAYERS):
        last = i == len(LSTM_LAYERS) - 1
        x = layers.Bidirectional(layers.LSTM(units, return_sequences=not last, dropout=dropout))(x)
        x = batch_norm()(x)
    return x


# The natural trunk for each feature: a 1-D CNN for embedding frames, a 2-D CNN for spectrograms.
CNN_TRUNK_OF_FEATURE = {"embedding": cnn1d_trunk, "logmel": cnn2d_trunk, "mfcc": cnn2d_trunk}
CNN_HEAD_OF_FEATURE = {"embedding": CNN1D_HEAD, "logmel": CNN2D_HEAD, "mfcc": CNN2D_HEAD}


def head(x, units: int, n_classes: int, dropout: float = 0.4):
    x = layers.Dense(units, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    # float32 softmax: stable under mixed precision.
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="genre")(x)


def build_lstm(inputs: dict, n_classes: int):
    (x,) = inputs.values()
    return head(lstm_trunk(x), LSTM_HEAD, n_classes)


def build_cnn(inputs: dict, n_classes: int):
    ((name, x),) = inputs.items()
    return head(CNN_TRUNK_OF_FEATURE[name](x), CNN_HEAD_OF_FEATURE[name], n_classes)


def build_combined(inputs: dict, n_classes: int):
    branches = [CNN_TRUNK_OF_FEATURE[name](x) for name, x in inputs.items()]
    x = layers.Concatenate()(branches) if len(branches) > 1 else branches[0]
    return head(x, COMBINED_HEAD, n_classes)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    build: Callable
    description: str
    multi_input: bool  # takes several features at once
    features: tuple[str, ...] = tuple(FEATURES)  # the features it accepts


MODELS: dict[str, ModelSpec] = {
    "lstm": ModelSpec(build_lstm, "two BiLSTM layers with batch norm, dense head", False),
    "cnn": ModelSpec(build_cnn, "1-D CNN on embeddings, 2-D CNN on log-mel and MFCC", False),
    "combined": ModelSpec(build_combined, "one CNN branch per input, concatenated into a shared head", True),
}


def parse_inputs(text: str) -> tuple[str, ...]:
    """'embedding', 'all', 'nospec' or a comma list -> feature names."""
    if text in INPUT_PRESETS:
        return INPUT_PRESETS[text]
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in FEATURES]
    if unknown or not names:
        presets = ", ".join(f"{k} ({'+'.join(v)})" for k, v in INPUT_PRESETS.items())
        raise GenreTfError(f"unknown --input '{text}'; choose from {', '.join(FEATURES)}, a comma list of them, "
                           f"or a preset: {presets}")
    return names


def get_model(name: str, inputs: tuple[str, ...]) -> ModelSpec:
    if name not in MODELS:
        raise GenreTfError(f"unknown --model '{name}'; choose from {', '.join(MODELS)}")
    spec = MODELS[name]
    if len(inputs) > 1 and not spec.multi_input:
        raise GenreTfError(f"--model {name} takes one input, not {'+'.join(inputs)}; use --model combined for several")
    refused = [n for n in inputs if n not in spec.features]
    if refused:
        raise GenreTfError(f"--model {name} does not take {', '.join(refused)}; it takes {', '.join(spec.features)}")
    return spec


def build_model(name: str, shapes: dict[str, tuple], n_classes: int, normalization: dict | None = None) -> keras.Model:
    """Inputs named by feature, each normalized with (mean, variance) from the training split, so the
    saved model takes raw features."""
    spec = get_model(name, tuple(shapes))
    raw = {n: keras.Input(shape=s, name=n) for n, s in shapes.items()}
    normalized = {}
    for n, x in raw.items():
        if normalization:
            mean, variance = normalization[n]
            x = layers.Normalization(mean=mean, variance=variance, name=f"normalize_{n}")(x)
        normalized[n] = x
    return keras.Model(raw, spec.build(normalized, n_classes), name=f"{'_'.join(shapes)}-{name}")
