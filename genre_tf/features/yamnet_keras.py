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

from ..errors import ModelUnavailableError
from ..params import LogMelParams
from ..tf import tf
from .logmel import log_mel

import keras  # noqa: E402
from keras import layers  # noqa: E402

YAMNET_WEIGHTS_URL = "https://storage.googleapis.com/audioset/yamnet.h5"
BN_EPSILON = 1e-4

# (kind, stride, filters) for layer1 .. layer14; every kernel is 3x3.
YAMNET_LAYERS = (
    ("conv", 2, 32),
    ("separable", 1, 64), ("separable", 2, 128), ("separable", 1, 128), ("separable", 2, 256),
    ("separable", 1, 256), ("separable", 2, 512), ("separable", 1, 512), ("separable", 1, 512),
    ("separable", 1, 512), ("separable", 1, 512), ("separable", 1, 512), ("separable", 2, 1024),
    ("separable", 1, 1024),
)


def _conv_bn_relu(x, conv, name: str):
    """Keras names cannot hold '/': `layer2/depthwise_conv` becomes `layer2-depthwise_conv`."""
    x = conv(x)
    x = layers.BatchNormalization(center=True, scale=False, epsilon=BN_EPSILON, name=f"{name}-bn")(x)
    return layers.ReLU()(x)


def build_yamnet(p: LogMelParams = LogMelParams()) -> keras.Model:
    """(patches, 96, 64) log-mel patches -> (patches, 1024) embeddings."""
    patches = keras.Input(shape=(p.patch_frames, p.mel_bands), name="patches")
    x = layers.Reshape((p.patch_frames, p.mel_bands, 1))(patches)
    for i, (kind, stride, filters) in enumerate(YAMNET_LAYERS, start=1):
        if kind == "conv":
            x = _conv_bn_relu(x, layers.Conv2D(filters, 3, stride, padding="same", use_bias=False,
                                               name=f"layer{i}-conv"), f"layer{i}-conv")
        else:
            x = _conv_bn_relu(x, layers.DepthwiseConv2D(3, stride, padding="same", use_bias=False,
                                                        name=f"layer{i}-depthwise_conv"), f"layer{i}-depthwise_conv")
            x = _conv_bn_relu(x, layers.Conv2D(filters, 1, padding="same", use_bias=False,
                                               name=f"layer{i}-pointwise_conv"), f"layer{i}-pointwise_conv")
    embeddings = layers.GlobalAveragePooling2D(name="embeddings")(x)
    return keras.Model(patches, embeddings, name="yamnet")


def load_yamnet_weights(model: keras.Model, path: str | Path) -> None:
    """Copy weights from an official-layout yamnet.h5 (groups `layer1/conv`, `layer2/depthwise_conv`,
    ..., each with `/bn`) into the layers of build_yamnet(), matched by name."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ModelUnavailableError(f"YAMNet weights not found at '{path}': pass --yamnet-weights yamnet.h5 "
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


def embed_log_mel(yamnet: keras.Model, spectrogram, p: LogMelParams = LogMelParams(), training=False):
    """(B, frames, 64) log-mel -> (B, patches, 1024): patches folded into the batch axis, one network call."""
    patches = tf.signal.frame(spectrogram, p.patch_frames, p.patch_hop_frames, axis=1)  # (B, 6, 96, 64) at 3 s
    folded = tf.reshape(patches, (-1, p.patch_frames, p.mel_bands))
    return tf.reshape(yamnet(folded, training=training), (tf.shape(spectrogram)[0], -1, p.embedding_size))


class BatchedEmbeddingExtractor:
    """Embeddings of a batch of segments in one network call."""

    def __init__(self, params):
        self.params = params
        self.model = build_yamnet()
        load_yamnet_weights(self.model, params.weights)
        logmel = LogMelParams()

        @tf.function(reduce_retracing=True)
        def embed(segments):
            spectrogram = log_mel(segments, logmel)  # (B, 336, 64)
            return embed_log_mel(self.model, spectrogram, logmel)

        self._embed = embed

    def __call__(self, segments: np.ndarray) -> np.ndarray:
        return self._embed(tf.convert_to_tensor(segments, tf.float32)).numpy()
