"""Models: `model` names -> networks over the features, built by the registry.

    registry   MODELS (name -> builder, accepted features, augmentation, fine-tuning), build_model
    layers     building blocks and the custom layers saved models hold (registered with Keras)
    networks   genre-tf's own networks and the reference projects' architectures trained from scratch (cnn5, dong, unet)
    heads      linear and mlp heads over pooled features
    transfer   ImageNet backbones on spectrogram images (resnet50, xception)
    yamnet     YAMNet fine-tuned on log-mel patches

A builder is a function (inputs, n_classes, options) -> output tensor, where `inputs` maps feature
names to Keras tensors that are already normalized. Importing this package registers genre-tf's
layers, which loading a saved model needs.
"""
from .layers import Standardize
from .registry import MODELS, ModelSpec, build_model, get_model, input_choices, parse_inputs

__all__ = ["MODELS", "ModelSpec", "Standardize", "build_model", "get_model", "input_choices", "parse_inputs"]
