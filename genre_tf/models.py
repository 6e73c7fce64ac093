"""The model registry: `--model NAME` -> a builder, and `--input NAME` -> the features it takes.

A builder is a function (inputs, n_classes, options) -> output tensor, where `inputs` maps feature
names to Keras tensors that are already normalized. Adding a model is adding one function to MODELS.
Networks are written as tables of layer definitions, as YAMNet's yamnet.py does.

Besides genre-tf's own models (lstm, cnn, combined, after the fourth seed) the registry holds the
architectures of the earlier projects genre-tf replaces: cnn5 (first seed), resnet50 and xception
(second), unet (third) and dong (Dong 2018, reproduced by the fifth).
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Callable

from .errors import GenreTfError, ModelUnavailableError, first_line, parse_names
from .features import FEATURES, INPUT_PRESETS
from .params import ModelOptions
from .tf import tf  # noqa: F401  (TensorFlow first, quietly, before Keras imports it)

import keras  # noqa: E402
from keras import layers, ops, regularizers  # noqa: E402



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
        if b.dropout:
            x = layers.Dropout(b.dropout)(x)
    return x


def as_image(x):
    """(time, bins) -> (time, bins, 1): a spectrogram as a one-channel image."""
    return layers.Reshape((*x.shape[1:], 1))(x)


def cnn1d_trunk(x):
    x = _conv_blocks(x, CNN1D_BLOCKS, layers.Conv1D, layers.MaxPooling1D)
    return layers.GlobalMaxPooling1D()(x)


def cnn2d_trunk(x):
    x = _conv_blocks(as_image(x), CNN2D_BLOCKS, layers.Conv2D, layers.MaxPooling2D)
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


def classifier(x, n_classes: int):
    # float32 softmax: stable under mixed precision.
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="genre")(x)


def head(x, units: int, n_classes: int, dropout: float = 0.4):
    x = layers.Dense(units, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    return classifier(x, n_classes)


def build_lstm(inputs: dict, n_classes: int, options: ModelOptions):
    (x,) = inputs.values()
    return head(lstm_trunk(x), LSTM_HEAD, n_classes)


def build_cnn(inputs: dict, n_classes: int, options: ModelOptions):
    ((name, x),) = inputs.items()
    return head(CNN_TRUNK_OF_FEATURE[name](x), CNN_HEAD_OF_FEATURE[name], n_classes)


def build_combined(inputs: dict, n_classes: int, options: ModelOptions):
    branches = [CNN_TRUNK_OF_FEATURE[name](x) for name, x in inputs.items()]
    x = layers.Concatenate()(branches) if len(branches) > 1 else branches[0]
    return head(x, COMBINED_HEAD, n_classes)


# First seed: five conv blocks (batch norm, ReLU, 2x2 max-pool), one dense layer and softmax.
CNN5_BLOCKS = tuple(Conv(filters, (3, 3), (2, 2), 0.0) for filters in (16, 32, 64, 128, 256))
CNN5_DROPOUT = 0.3  # before the dense layer


def build_cnn5(inputs: dict, n_classes: int, options: ModelOptions):
    (x,) = inputs.values()
    x = _conv_blocks(as_image(x), CNN5_BLOCKS, layers.Conv2D, layers.MaxPooling2D)
    x = layers.Dropout(CNN5_DROPOUT)(layers.Flatten()(x))
    return classifier(x, n_classes)


# Dong (2018), as in the author's released Keras code: two valid-padded convolutions with ReLU and
# L2, each followed by max-pooling, dropout, a 32-unit dense layer. The paper's input is (mel, time);
# ours is (time, mel), so kernel and pool sizes are written transposed.
DONG_BLOCKS = (Conv(64, (3, 3), (4, 2), 0.0), Conv(64, (5, 3), (4, 2), 0.2))
DONG_CONV_L2, DONG_DENSE_L2 = 0.01, 0.02
DONG_HEAD, DONG_DROPOUT = 32, 0.2


def build_dong(inputs: dict, n_classes: int, options: ModelOptions):
    (x,) = inputs.values()
    x = as_image(x)
    for b in DONG_BLOCKS:
        x = layers.Conv2D(b.filters, b.kernel, activation="relu", kernel_regularizer=regularizers.l2(DONG_CONV_L2))(x)
        x = layers.MaxPooling2D(b.pool)(x)
        if b.dropout:
            x = layers.Dropout(b.dropout)(x)
    x = layers.Dense(DONG_HEAD, activation="relu", kernel_regularizer=regularizers.l2(DONG_DENSE_L2))(layers.Flatten()(x))
    return classifier(layers.Dropout(DONG_DROPOUT)(x), n_classes)


# Third seed: a U-Net (encoder levels, bottleneck, decoder with skip connections) over the
# spectrogram, then parallel convolutions with differently shaped kernels (square, along time,
# along frequency, wide), pooled and concatenated. About 3.4M parameters, as the seed reported.
UNET_LEVELS = (16, 32, 64, 128)  # filters per encoder level; the decoder mirrors them
UNET_BOTTLENECK = 256
UNET_BRANCH_POOL = (4, 4)  # the U-Net's full-resolution output is pooled before the branches
UNET_BRANCH_KERNELS = ((3, 3), (9, 1), (1, 9), (5, 5))
UNET_BRANCH_FILTERS = (64, 320)  # two convolutions per branch, a 2x2 max-pool between
UNET_HEAD = 512


def conv_bn_relu(x, filters: int, kernel=(3, 3)):
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False)(x)
    return layers.ReLU()(batch_norm()(x))


def build_unet(inputs: dict, n_classes: int, options: ModelOptions):
    (x,) = inputs.values()
    x = as_image(x)
    # Each level halves both axes: pad them to a multiple of 2**levels so skips line up (zero is the
    # mean of a normalized input).
    step = 2 ** len(UNET_LEVELS)
    x = layers.ZeroPadding2D(((0, -x.shape[1] % step), (0, -x.shape[2] % step)))(x)
    skips = []
    for filters in UNET_LEVELS:
        x = conv_bn_relu(conv_bn_relu(x, filters), filters)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = conv_bn_relu(conv_bn_relu(x, UNET_BOTTLENECK), UNET_BOTTLENECK)
    for filters, skip in zip(reversed(UNET_LEVELS), reversed(skips)):
        x = layers.Conv2DTranspose(filters, 2, strides=2)(x)
        x = conv_bn_relu(conv_bn_relu(layers.Concatenate()([x, skip]), filters), filters)
    x = layers.MaxPooling2D(UNET_BRANCH_POOL)(x)
    branches = []
    for kernel in UNET_BRANCH_KERNELS:
        b = layers.MaxPooling2D(2)(conv_bn_relu(x, UNET_BRANCH_FILTERS[0], kernel))
        branches.append(layers.GlobalAveragePooling2D()(conv_bn_relu(b, UNET_BRANCH_FILTERS[1])))
    return head(layers.Concatenate()(branches), UNET_HEAD, n_classes)


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A keras.applications network used as a frozen-then-fine-tuned feature extractor."""

    application: str  # constructor in keras.applications
    preprocess: str  # keras.applications.imagenet_utils.preprocess_input mode
    top_blocks: tuple[str, ...]  # name prefixes of the layers unfrozen for fine-tuning
    weights_url: str  # ImageNet weights without the classifier (keras.applications' own file)
    weights_hash: str
    min_size: int  # smallest image side the network accepts


_KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/"
BACKBONES = {
    "resnet50": Backbone("ResNet50", "caffe", ("conv5_",),
                         _KERAS_WEIGHTS + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                         "4d473c1dd8becc155b73f8504c6f6626", 32),
    "xception": Backbone("Xception", "tf", ("block13", "block14"),
                         _KERAS_WEIGHTS + "xception/xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                         "b0042744bf5b25fce3cb969f33bebb97", 71),
}
TRANSFER_HEAD = 256
BACKBONE_LAYER = "backbone"


def backbone_weights_file(name: str, option: str) -> str:
    """--backbone-weights 'imagenet' (Keras' download, cached in ~/.keras/models) or a path: the file."""
    if option == "imagenet":
        url = BACKBONES[name].weights_url
        try:
            return keras.utils.get_file(url.rsplit("/", 1)[1], url, cache_subdir="models",
                                        file_hash=BACKBONES[name].weights_hash)
        except Exception as e:  # no network, a proxy, a truncated download: all end the same way
            raise ModelUnavailableError(
                f"ImageNet weights for {name} could not be downloaded ({type(e).__name__}: {first_line(e, 120)}); "
                f"pass --backbone-weights PATH to a copy of {url} , or --backbone-weights none to train from scratch") from None
    path = Path(option).expanduser()
    if not path.is_file():
        raise ModelUnavailableError(f"{option}: no such backbone weights file (--backbone-weights takes a file, "
                                    "imagenet or none)")
    return str(path.resolve())


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


def build_transfer(name: str, inputs: dict, n_classes: int, options: ModelOptions):
    """Second seed: an ImageNet network on spectrogram images. With pretrained weights the backbone
    starts frozen and runs in inference mode (its batch-norm statistics stay ImageNet's); train.py
    unfreezes its top blocks later (fine_tune). From scratch, everything trains from the start."""
    backbone_spec = BACKBONES[name]
    if options.image_size < backbone_spec.min_size:
        raise GenreTfError(f"--image-size must be at least {backbone_spec.min_size} for {name}")
    weights = backbone_weights_file(name, options.backbone_weights) if options.pretrained else None
    (x,) = inputs.values()
    x = SpectrogramImage(options.image_size, backbone_spec.preprocess)(x)
    constructor = getattr(keras.applications, backbone_spec.application)
    try:
        backbone = constructor(include_top=False, weights=weights, pooling="avg", name=BACKBONE_LAYER,
                               input_shape=(options.image_size, options.image_size, 3))
    except (ValueError, OSError) as e:
        raise ModelUnavailableError(f"{weights}: not usable as {name} weights ({first_line(e)})") from None
    if options.pretrained:
        backbone.trainable = False
        x = backbone(x, training=False)
    else:
        # From scratch its batch norm must learn statistics in the few hundred steps we train: with
        # Keras' 0.99 ResNet50 reached 88% training but 10-20% validation accuracy (see BN_MOMENTUM).
        for layer in backbone.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = BN_MOMENTUM
        x = backbone(x)
    return head(x, TRANSFER_HEAD, n_classes)


def unfreeze_top_blocks(name: str, model: keras.Model) -> None:
    """Fine-tuning a pretrained backbone: its top blocks train too; batch norm stays frozen."""
    backbone = model.get_layer(BACKBONE_LAYER)
    backbone.trainable = True
    for layer in backbone.layers:
        layer.trainable = (layer.name.startswith(BACKBONES[name].top_blocks)
                           and not isinstance(layer, layers.BatchNormalization))


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
    """(x - mean) / std with fixed statistics, in training as in inference (a StandardScaler). train.py
    sets them from the training split before fitting (`calibrate_standardizers`)."""

    def build(self, shape):
        self.mean = self.add_weight(shape=(shape[-1],), initializer="zeros", trainable=False, name="mean")
        self.variance = self.add_weight(shape=(shape[-1],), initializer="ones", trainable=False, name="variance")

    def call(self, x):
        return (x - self.mean) / ops.sqrt(self.variance + 1e-6)


def pooled(inputs: dict):
    """Every input as one vector per segment, concatenated and standardized."""
    vectors = [MeanStdPooling(name=f"pool_{name}")(x) for name, x in inputs.items()]
    x = layers.Concatenate()(vectors) if len(vectors) > 1 else vectors[0]
    return Standardize(name="standardize")(x)


# Heads for small collections: few weights over pooled, pretrained features, strongly regularized.
LINEAR_L2 = 1e-2
MLP_UNITS, MLP_DROPOUT, MLP_L2 = 256, 0.5, 1e-3


def build_linear(inputs: dict, n_classes: int, options: ModelOptions):
    """Softmax regression with L2 on the pooled inputs."""
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="genre",
                        kernel_regularizer=regularizers.l2(LINEAR_L2))(pooled(inputs))


def build_mlp(inputs: dict, n_classes: int, options: ModelOptions):
    """One hidden layer with dropout on the pooled inputs."""
    x = layers.Dropout(MLP_DROPOUT / 2)(pooled(inputs))
    x = layers.Dense(MLP_UNITS, activation="relu", kernel_regularizer=regularizers.l2(MLP_L2))(x)
    x = layers.Dropout(MLP_DROPOUT)(x)
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="genre",
                        kernel_regularizer=regularizers.l2(MLP_L2))(x)


# YAMNet fine-tuned: its network over the log-mel patches, a new head on the mean embedding.
YAMNET_LAYER = "yamnet"
YAMNET_TOP_BLOCKS = ("layer13", "layer14")  # unfrozen for fine-tuning (its last two separable blocks)
YAMNET_HEAD = 256


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


def yamnet_weights_file(options: ModelOptions) -> str:
    import os

    from .params import YAMNET_WEIGHTS_ENV

    weights = options.yamnet_weights or os.environ.get(YAMNET_WEIGHTS_ENV)
    if not weights:
        raise ModelUnavailableError(f"--model yamnet needs YAMNet's weights: pass --yamnet-weights yamnet.h5 or set "
                                    f"{YAMNET_WEIGHTS_ENV} (genre-tf download-yamnet fetches it)")
    return weights


def build_yamnet(inputs: dict, n_classes: int, options: ModelOptions):
    """The raw log-mel (YAMNet's own frontend: no normalization) through pretrained YAMNet, frozen and in
    inference mode; train.py unfreezes its top blocks later (fine_tune)."""
    from .features.yamnet_keras import build_yamnet as yamnet_network, load_yamnet_weights
    from .params import LogMelParams

    p = LogMelParams()
    network = yamnet_network(p)
    load_yamnet_weights(network, yamnet_weights_file(options))
    network.trainable = False
    (x,) = inputs.values()
    patches = LogMelPatches(p.patch_frames, p.patch_hop_frames)(x)
    embeddings = layers.TimeDistributed(network, name=YAMNET_LAYER)(patches, training=False)
    return head(layers.GlobalAveragePooling1D(name="mean_embedding")(embeddings), YAMNET_HEAD, n_classes)


def unfreeze_yamnet_top(model: keras.Model) -> None:
    """Fine-tuning YAMNet: its last blocks train too; batch norm stays frozen."""
    network = model.get_layer(YAMNET_LAYER).layer
    network.trainable = True
    for layer in network.layers:
        layer.trainable = layer.name.startswith(YAMNET_TOP_BLOCKS) and not isinstance(layer, layers.BatchNormalization)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    build: Callable
    description: str
    multi_input: bool  # takes several features at once
    features: tuple[str, ...] = tuple(FEATURES)  # the features it accepts
    augment: tuple[str, ...] = ()  # default --augment
    fine_tune: Callable[[keras.Model], None] | None = None  # second training phase, if any
    # Whether the network starts pretrained (then frozen, and fine-tuned later): transfer models
    # unless --backbone-weights none; the fine-tuned YAMNet always.
    pretrained: Callable[[ModelOptions], bool] = lambda options: False
    normalize: bool = True  # inputs standardized with training statistics; YAMNet takes its own log-mel


SPECTROGRAM = ("logmel",)
SEQUENCES = tuple(CNN_TRUNK_OF_FEATURE)  # features with a time axis (musicnn's is pooled already)
MODELS: dict[str, ModelSpec] = {
    "lstm": ModelSpec(build_lstm, "two BiLSTM layers with batch norm, dense head (fourth seed)", False, SEQUENCES),
    "cnn": ModelSpec(build_cnn, "1-D CNN on embeddings, 2-D CNN on log-mel and MFCC (fourth seed)", False, SEQUENCES),
    "combined": ModelSpec(build_combined, "one CNN branch per input, concatenated into a shared head (fourth seed)",
                          True, SEQUENCES),
    "cnn5": ModelSpec(build_cnn5, "5 conv blocks with batch norm and max-pool, one dense layer (first seed)", False,
                      SPECTROGRAM, augment=("shift", "mask")),
    "dong": ModelSpec(build_dong, "Dong 2018: two conv + max-pool layers, 32-unit dense layer (fifth seed)", False,
                      SPECTROGRAM),
    "unet": ModelSpec(build_unet, "U-Net encoder-decoder, then parallel convolutions (third seed)", False, SPECTROGRAM,
                      augment=("specaugment",)),
    **{name: ModelSpec(functools.partial(build_transfer, name),
                       f"{BACKBONES[name].application} transfer learning on spectrogram images (second seed)", False,
                       SPECTROGRAM, fine_tune=functools.partial(unfreeze_top_blocks, name),
                       pretrained=lambda options: options.pretrained)
       for name in BACKBONES},
    "yamnet": ModelSpec(build_yamnet, "YAMNet fine-tuned: pretrained network on log-mel patches, new head", False,
                        SPECTROGRAM, fine_tune=unfreeze_yamnet_top, pretrained=lambda options: True, normalize=False),
    "linear": ModelSpec(build_linear, "softmax regression with L2 on pooled features (mean and std over time)", True),
    "mlp": ModelSpec(build_mlp, "one hidden layer with dropout on pooled features", True),
}


def input_choices(name: str) -> list[tuple[str, ...]]:
    """What `name` can train on: each feature it accepts alone and, for a multi-input model, all of
    them at once (the contract test and the training benchmark go through these)."""
    spec = MODELS[name]
    return [(f,) for f in spec.features] + ([spec.features] if spec.multi_input and len(spec.features) > 1 else [])


def parse_inputs(text: str) -> tuple[str, ...]:
    """'embedding', 'all', 'nospec' or a comma list -> feature names."""
    return parse_names(text, "--input", FEATURES, INPUT_PRESETS)


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


def build_model(name: str, shapes: dict[str, tuple], n_classes: int, normalization: dict | None = None,
                options: ModelOptions = ModelOptions()) -> keras.Model:
    """Inputs named by feature, each normalized with (mean, variance) from the training split, so the
    saved model takes raw features."""
    spec = get_model(name, tuple(shapes))
    raw = {n: keras.Input(shape=s, name=n) for n, s in shapes.items()}
    normalized = {}
    for n, x in raw.items():
        if normalization and spec.normalize:
            mean, variance = normalization[n]
            x = layers.Normalization(mean=mean, variance=variance, name=f"normalize_{n}")(x)
        normalized[n] = x
    return keras.Model(raw, spec.build(normalized, n_classes, options), name=f"{'_'.join(shapes)}-{name}")
