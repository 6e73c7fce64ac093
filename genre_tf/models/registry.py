"""The model registry: `model` names -> a builder, the features it takes, its training schedule.
Adding a model is adding one entry to MODELS."""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from ..config import ModelOptions
from ..core.errors import GenreTfError, parse_names
from ..features import FEATURES, INPUT_PRESETS
from .heads import build_linear, build_logreg, build_mlp
from .networks import CNN_TRUNK_OF_FEATURE, build_cnn, build_cnn5, build_combined, build_dong, build_lstm, build_unet
from .transfer import BACKBONES, build_transfer, unfreeze_top_blocks
from .yamnet import build_yamnet, unfreeze_yamnet_top

import keras
from keras import layers


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A model of the registry: how to build it and how it trains. Keyword fields only, so that each row of
    MODELS says what it sets."""

    build: Callable
    description: str
    multi_input: bool = False  # takes several features at once
    features: tuple[str, ...] = tuple(FEATURES)  # the features it accepts
    augment: tuple[str, ...] = ()  # default --augment
    fine_tune: Callable[[keras.Model], None] | None = None  # second training phase, if any
    # Whether the network starts pretrained (then frozen, and fine-tuned later): transfer models
    # unless --backbone-weights none; the fine-tuned YAMNet always.
    pretrained: Callable[[ModelOptions], bool] = lambda options: False
    normalize: bool = True  # inputs standardized with training statistics; YAMNet takes its own log-mel
    exact: bool = False  # weights from a convex fit (training/exact.py), not from epochs of gradient steps
    refit: bool = False  # default --refit: train again on train+valid for the best epoch's count


SPECTROGRAM = ("logmel",)
SEQUENCES = tuple(CNN_TRUNK_OF_FEATURE)  # features with a time axis (musicnn's is pooled already)
MODELS: dict[str, ModelSpec] = {
    "lstm": ModelSpec(build=build_lstm, features=SEQUENCES,
                      description="two BiLSTM layers with batch norm, dense head (fourth reference project)"),
    "cnn": ModelSpec(build=build_cnn, features=SEQUENCES,
                     description="1-D CNN on embeddings, 2-D CNN on log-mel and MFCC (fourth reference project)"),
    "combined": ModelSpec(build=build_combined, multi_input=True, features=SEQUENCES,
                          description="one CNN branch per input, concatenated into a shared head (fourth reference "
                                      "project)"),
    "cnn5": ModelSpec(build=build_cnn5, features=SPECTROGRAM, augment=("shift", "mask"),
                      description="5 conv blocks with batch norm and max-pool, one dense layer (first reference "
                                  "project)"),
    "dong": ModelSpec(build=build_dong, features=SPECTROGRAM,
                      description="Dong 2018: two conv + max-pool layers, 32-unit dense layer (fifth reference "
                                  "project)"),
    "unet": ModelSpec(build=build_unet, features=SPECTROGRAM, augment=("specaugment",),
                      description="U-Net encoder-decoder, then parallel convolutions (third reference project)"),
    **{name: ModelSpec(build=functools.partial(build_transfer, name), features=SPECTROGRAM,
                       fine_tune=functools.partial(unfreeze_top_blocks, name),
                       pretrained=lambda options: options.pretrained,
                       description=f"{BACKBONES[name].application} transfer learning on spectrogram images (second "
                                   "reference project)")
       for name in BACKBONES},
    "yamnet": ModelSpec(build=build_yamnet, features=SPECTROGRAM, fine_tune=unfreeze_yamnet_top,
                        pretrained=lambda options: True, normalize=False,
                        description="YAMNet fine-tuned: pretrained network on log-mel patches, new head"),
    "linear": ModelSpec(build=build_linear, multi_input=True, refit=True,
                        description="softmax regression with L2 on pooled features (mean and std over time)"),
    "logreg": ModelSpec(build=build_logreg, multi_input=True, exact=True,
                        description="the same softmax regression fit exactly (L-BFGS, L2 chosen by cross-validation "
                                    "over the training clips)"),
    "mlp": ModelSpec(build=build_mlp, multi_input=True, refit=True,
                     description="one hidden layer with dropout on pooled features"),
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
        raise GenreTfError(f"unknown `model` '{name}'; choose from {', '.join(MODELS)}")
    spec = MODELS[name]
    if len(inputs) > 1 and not spec.multi_input:
        raise GenreTfError(f"`model` {name} takes one input, not {'+'.join(inputs)}; use `model` combined for several")
    refused = [n for n in inputs if n not in spec.features]
    if refused:
        raise GenreTfError(f"`model` {name} does not take {', '.join(refused)}; it takes {', '.join(spec.features)}")
    return spec


def build_model(name: str, shapes: dict[str, tuple], n_classes: int, normalization: dict | None = None,
                options: ModelOptions = ModelOptions()) -> keras.Model:
    """Inputs named by feature, each normalized with (mean, variance) from the training split, so the
    saved model takes raw features.

    Args:
        name: a name of `MODELS`.
        shapes: {feature name: the shape of one segment's values, without the batch axis}; several only for a
            multi-input model.
        n_classes: genres: the width of the softmax output.
        normalization: {feature name: (mean, variance) arrays} from the training split; None: no normalization
            layers. The yamnet model takes its log-mel as it is and ignores it.
        options: what some builders read: backbone weights, image size, yamnet.h5.

    Returns:
        An uncompiled Keras model named after its inputs and `name` (`mfcc-cnn`), taking {feature name:
            (batch, *shape)} and giving (batch, n_classes) probabilities.

    Raises:
        GenreTfError: an unknown model, or inputs it does not take.
        ModelUnavailableError: pretrained weights it needs (a transfer backbone's, YAMNet's) cannot be loaded.
    """
    spec = get_model(name, tuple(shapes))
    raw = {n: keras.Input(shape=s, name=n) for n, s in shapes.items()}
    normalized = {}
    for n, x in raw.items():
        if normalization and spec.normalize:
            mean, variance = normalization[n]
            x = layers.Normalization(mean=mean, variance=variance, name=f"normalize_{n}")(x)
        normalized[n] = x
    return keras.Model(raw, spec.build(normalized, n_classes, options), name=f"{'_'.join(shapes)}-{name}")
