"""Transfer learning (second reference project): an ImageNet network (keras.applications) on spectrogram images,
frozen first, then its top blocks fine-tuned."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import ModelOptions
from ..core.errors import GenreTfError, ModelUnavailableError, first_line
from .layers import BN_MOMENTUM, SpectrogramImage, head

import keras
from keras import layers


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
                f"pass `backbone_weights` PATH to a copy of {url} , or `backbone_weights` none to train from "
                "scratch") from None
    path = Path(option).expanduser()
    if not path.is_file():
        raise ModelUnavailableError(f"{option}: no such backbone weights file (`backbone_weights` takes a file, "
                                    "imagenet or none)")
    return str(path.resolve())


def build_transfer(name: str, inputs: dict, n_classes: int, options: ModelOptions):
    """Second reference project: an ImageNet network on spectrogram images. With pretrained weights the backbone
    starts frozen and runs in inference mode (its batch-norm statistics stay ImageNet's); training
    unfreezes its top blocks later (fine_tune). From scratch, everything trains from the start."""
    backbone_spec = BACKBONES[name]
    if options.image_size < backbone_spec.min_size:
        raise GenreTfError(f"`image_size` must be at least {backbone_spec.min_size} for {name}")
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
