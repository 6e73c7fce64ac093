"""genre-tf's own networks (after the fourth reference project: BiLSTM, 1-D/2-D CNN, combined) and the
architectures of the earlier projects trained from scratch: cnn5 (first reference project), dong (Dong 2018,
reproduced by the fifth) and unet (third). Each is a table of layer definitions and a builder
(inputs, n_classes, options) -> output tensor, as YAMNet's yamnet.py writes its network."""
from __future__ import annotations

from ..config import ModelOptions
from .layers import Conv, as_image, batch_norm, classifier, conv_blocks, conv_bn_relu, head

from keras import layers, regularizers

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


def cnn1d_trunk(x):
    x = conv_blocks(x, CNN1D_BLOCKS, layers.Conv1D, layers.MaxPooling1D)
    return layers.GlobalMaxPooling1D()(x)


def cnn2d_trunk(x):
    x = conv_blocks(as_image(x), CNN2D_BLOCKS, layers.Conv2D, layers.MaxPooling2D)
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


def build_lstm(inputs: dict, n_classes: int, options: ModelOptions):
    """Two bidirectional LSTM layers with batch norm over one input's frames, then the dense head."""
    (x,) = inputs.values()
    return head(lstm_trunk(x), LSTM_HEAD, n_classes)


def build_cnn(inputs: dict, n_classes: int, options: ModelOptions):
    """One input's natural CNN trunk (1-D over embedding frames, 2-D over a spectrogram or MFCCs), then the head."""
    ((name, x),) = inputs.items()
    return head(CNN_TRUNK_OF_FEATURE[name](x), CNN_HEAD_OF_FEATURE[name], n_classes)


def build_combined(inputs: dict, n_classes: int, options: ModelOptions):
    """Each input's CNN trunk as a branch, the branches concatenated into one shared head."""
    branches = [CNN_TRUNK_OF_FEATURE[name](x) for name, x in inputs.items()]
    x = layers.Concatenate()(branches) if len(branches) > 1 else branches[0]
    return head(x, COMBINED_HEAD, n_classes)


# First reference project: five conv blocks (batch norm, ReLU, 2x2 max-pool), one dense layer and softmax.
CNN5_BLOCKS = tuple(Conv(filters, (3, 3), (2, 2), 0.0) for filters in (16, 32, 64, 128, 256))
CNN5_DROPOUT = 0.3  # before the dense layer


def build_cnn5(inputs: dict, n_classes: int, options: ModelOptions):
    """Five conv blocks (batch norm, ReLU, 2x2 max-pool) over a spectrogram, dropout, one dense softmax layer."""
    (x,) = inputs.values()
    x = conv_blocks(as_image(x), CNN5_BLOCKS, layers.Conv2D, layers.MaxPooling2D)
    x = layers.Dropout(CNN5_DROPOUT)(layers.Flatten()(x))
    return classifier(x, n_classes)


# Dong (2018), as in the author's released Keras code: two valid-padded convolutions with ReLU and
# L2, each followed by max-pooling, dropout, a 32-unit dense layer. The paper's input is (mel, time);
# ours is (time, mel), so kernel and pool sizes are written transposed.
DONG_BLOCKS = (Conv(64, (3, 3), (4, 2), 0.0), Conv(64, (5, 3), (4, 2), 0.2))
DONG_CONV_L2, DONG_DENSE_L2 = 0.01, 0.02
DONG_HEAD, DONG_DROPOUT = 32, 0.2


def build_dong(inputs: dict, n_classes: int, options: ModelOptions):
    """Dong (2018): two convolutions with L2, each max-pooled, a 32-unit dense layer, dropout, softmax."""
    (x,) = inputs.values()
    x = as_image(x)
    for b in DONG_BLOCKS:
        x = layers.Conv2D(b.filters, b.kernel, activation="relu", kernel_regularizer=regularizers.l2(DONG_CONV_L2))(x)
        x = layers.MaxPooling2D(b.pool)(x)
        if b.dropout:
            x = layers.Dropout(b.dropout)(x)
    x = layers.Dense(DONG_HEAD, activation="relu",
                     kernel_regularizer=regularizers.l2(DONG_DENSE_L2))(layers.Flatten()(x))
    return classifier(layers.Dropout(DONG_DROPOUT)(x), n_classes)


# Third reference project: a U-Net (encoder levels, bottleneck, decoder with skip connections) over the
# spectrogram, then parallel convolutions with differently shaped kernels (square, along time,
# along frequency, wide), pooled and concatenated. About 3.4M parameters, as its reference project reported.
UNET_LEVELS = (16, 32, 64, 128)  # filters per encoder level; the decoder mirrors them
UNET_BOTTLENECK = 256
UNET_BRANCH_POOL = (4, 4)  # the U-Net's full-resolution output is pooled before the branches
UNET_BRANCH_KERNELS = ((3, 3), (9, 1), (1, 9), (5, 5))
UNET_BRANCH_FILTERS = (64, 320)  # two convolutions per branch, a 2x2 max-pool between
UNET_HEAD = 512


def build_unet(inputs: dict, n_classes: int, options: ModelOptions):
    """A U-Net over the spectrogram, then parallel convolutions of differently shaped kernels, pooled,
    concatenated into the head."""
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
