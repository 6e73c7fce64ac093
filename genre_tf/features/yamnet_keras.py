"""YAMNet in Keras 3, from its published architecture, for batched embeddings.

The TF-Hub model takes one waveform per call. But YAMNet's frontend has no weights and every
0.96 s patch goes through the network on its own, so a batch of segments can be framed in TF,
its patches folded into one batch axis, run through the network once, and unfolded:
(B, 48000) -> (B, 336, 64) log-mel -> (B*6, 96, 64) patches -> (B*6, 1024) -> (B, 6, 1024).

The network (tensorflow/models research/audioset/yamnet/yamnet.py) is MobileNet-v1: a 3x3
convolution and 13 depthwise-separable blocks; batch norm with a shift but no scale.
Weights load from the official Keras weights file `yamnet.h5`, by layer name.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import YAMNET_WEIGHTS_URL, LogMelParams
from ..core.errors import ModelUnavailableError
from ..core.tf import tf

import keras
from keras import layers

BN_EPSILON = 1e-4

# (kind, stride, filters) for layer1 .. layer14; every kernel is 3x3.
YAMNET_LAYERS = (
    ("conv", 2, 32),
    ("separable", 1, 64), ("separable", 2, 128), ("separable", 1, 128), ("separable", 2, 256),
    ("separable", 1, 256), ("separable", 2, 512), ("separable", 1, 512), ("separable", 1, 512),
    ("separable", 1, 512), ("separable", 1, 512), ("separable", 1, 512), ("separable", 2, 1024),
    ("separable", 1, 1024),
)


def _convolutions(i: int, kind: str, stride: int, filters: int, **options) -> list:
    """The convolution layers of table row `i`. Keras names cannot hold '/': `layer2/depthwise_conv`
    is named `layer2-depthwise_conv`."""
    if kind == "conv":
        return [layers.Conv2D(filters, 3, stride, padding="same", name=f"layer{i}-conv", **options)]
    return [layers.DepthwiseConv2D(3, stride, padding="same", name=f"layer{i}-depthwise_conv", **options),
            layers.Conv2D(filters, 1, padding="same", name=f"layer{i}-pointwise_conv", **options)]


def build_yamnet(p: LogMelParams = LogMelParams(), batch_norm: bool = True) -> keras.Model:
    """(patches, 96, 64) log-mel patches -> (patches, 1024) embeddings. With `batch_norm=False` each
    convolution has a bias and its ReLU instead of a batch norm: the form `fold_batch_norm` fills."""
    patches = keras.Input(shape=(p.patch_frames, p.mel_bands), name="patches")
    x = layers.Reshape((p.patch_frames, p.mel_bands, 1))(patches)
    options = dict(use_bias=False) if batch_norm else dict(activation="relu")
    for i, row in enumerate(YAMNET_LAYERS, start=1):
        for conv in _convolutions(i, *row, **options):
            x = conv(x)
            if batch_norm:
                x = layers.BatchNormalization(center=True, scale=False, epsilon=BN_EPSILON, name=f"{conv.name}-bn")(x)
                x = layers.ReLU()(x)
    embeddings = layers.GlobalAveragePooling2D(name="embeddings")(x)
    return keras.Model(patches, embeddings, name="yamnet")


def fold_batch_norm(network: keras.Model) -> keras.Model:
    """The same function as a build_yamnet() network in inference mode, with each batch norm folded
    into its convolution's kernel and bias. A convolution, a bias and a ReLU fuse into one oneDNN op
    on CPU: ~1.4x the speed of the network with separate batch-norm ops."""
    folded = build_yamnet(batch_norm=False)
    for conv in folded.layers:
        if not conv.weights:
            continue
        bn = network.get_layer(f"{conv.name}-bn")
        scale = 1.0 / np.sqrt(bn.moving_variance.numpy() + BN_EPSILON)
        kernel = network.get_layer(conv.name).kernel.numpy()
        # Kernels end in (in, out) for a convolution and (channels, 1) for a depthwise one.
        kernel = kernel * (scale[:, None] if isinstance(conv, layers.DepthwiseConv2D) else scale)
        conv.set_weights([kernel, bn.beta.numpy() - bn.moving_mean.numpy() * scale])
    return folded


def load_yamnet_weights(model: keras.Model, path: str | Path) -> None:
    """Copy weights from an official-layout yamnet.h5 (groups `layer1/conv`, `layer2/depthwise_conv`,
    ..., each with `/bn`) into the layers of build_yamnet(), matched by name."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ModelUnavailableError(f"YAMNet weights not found at '{path}': pass `yamnet_weights` yamnet.h5 "
                                    f"(download it from {YAMNET_WEIGHTS_URL})")
    try:
        with h5py.File(path, "r") as f:
            for layer in model.layers:
                if not layer.weights:
                    continue
                group = layer.name.replace("-", "/")
                # Keras 2 saved each variable as <group>/<group>/<variable>:0
                stored = f[group][group] if group in f and group in f[group] else f[group]
                values = {k.split(":")[0]: np.array(v) for k, v in stored.items()}
                # Keras 3 calls a depthwise kernel "kernel"; Keras 2 called it "depthwise_kernel".
                values.setdefault("kernel", values.get("depthwise_kernel"))
                layer.set_weights([values[w.name] for w in layer.weights])
    except (OSError, KeyError, ValueError) as e:
        raise ModelUnavailableError(f"{path}: not a YAMNet weights file in the official layout ({e})") from None


def log_mel_patches(spectrogram, p: LogMelParams = LogMelParams()) -> tf.Tensor:
    """(B, frames, 64) log-mel -> (B * patches, 96, 64): the network's input, patches folded into the batch."""
    patches = tf.signal.frame(spectrogram, p.patch_frames, p.patch_hop_frames, axis=1)  # (B, 6, 96, 64) at 3 s
    return tf.reshape(patches, (-1, p.patch_frames, p.mel_bands))


def embed_log_mel(yamnet: keras.Model, spectrogram, p: LogMelParams = LogMelParams(), training=False):
    """(B, frames, 64) log-mel -> (B, patches, 1024), in one network call."""
    embeddings = yamnet(log_mel_patches(spectrogram, p), training=training)
    return tf.reshape(embeddings, (tf.shape(spectrogram)[0], -1, p.embedding_size))


class YamnetEmbedding(tf.Module):
    """Embeddings of a batch of segments in one call of the network (batch norms folded)."""

    def __init__(self, params):
        super().__init__(name="yamnet_embedding")
        self.params = params
        network = build_yamnet()
        load_yamnet_weights(network, params.weights)
        self.network = fold_batch_norm(network)

    def compute(self, spectra) -> tf.Tensor:
        # YAMNet's own frontend, whatever the `logmel` feature's parameters: shared when they are equal.
        return embed_log_mel(self.network, spectra.log_mel(LogMelParams()))
