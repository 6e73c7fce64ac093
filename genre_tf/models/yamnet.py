"""YAMNet fine-tuned: its network over the log-mel patches, a new head on the mean embedding."""
from __future__ import annotations

import os

from ..config import YAMNET_WEIGHTS_ENV, LogMelParams, ModelOptions
from ..core.errors import ModelUnavailableError
from ..features.yamnet_keras import build_yamnet as yamnet_network
from ..features.yamnet_keras import load_yamnet_weights
from .layers import LogMelPatches, head

import keras
from keras import layers

YAMNET_LAYER = "yamnet"
YAMNET_TOP_BLOCKS = ("layer13", "layer14")  # unfrozen for fine-tuning (its last two separable blocks)
YAMNET_HEAD = 256


def yamnet_weights_file(options: ModelOptions) -> str:
    weights = options.yamnet_weights or os.environ.get(YAMNET_WEIGHTS_ENV)
    if not weights:
        raise ModelUnavailableError(f"`model` yamnet needs YAMNet's weights: pass `yamnet_weights` yamnet.h5 or set "
                                    f"{YAMNET_WEIGHTS_ENV} (genre-tf download-yamnet fetches it)")
    return weights


def build_yamnet(inputs: dict, n_classes: int, options: ModelOptions):
    """The raw log-mel (YAMNet's own frontend: no normalization) through pretrained YAMNet, frozen and in
    inference mode; training (fit.py) unfreezes its top blocks later (fine_tune)."""
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
