"""The reference projects' architectures: sizes as documented, transfer learning's weights and schedule."""
import numpy as np
import pytest

from genre_tf.config import FINE_TUNE_LR_FACTOR, ModelOptions, TrainConfig
from genre_tf.core.errors import ModelUnavailableError
from genre_tf.io.runs import load_run
from genre_tf.models import MODELS, build_model
from genre_tf.models.transfer import BACKBONE_LAYER

# With 10 genres on 3 s log-mel (336 x 64): the model table of docs/models.md.
from genre_tf.workflows.train import train

PARAMETERS = {"cnn5": 450_138, "dong": 607_274, "unet": 3_402_890, "resnet50": 24_114_826, "xception": 21_388_594}
# keras.applications' published sizes without the classifier.
BACKBONE_PARAMETERS = {"resnet50": 23_587_712, "xception": 20_861_480}


def build(name, shape=(336, 64), **options):
    return build_model(name, {"logmel": shape}, 10, options=ModelOptions(**{"backbone_weights": "none", **options}))


@pytest.mark.parametrize("name", PARAMETERS)
def test_parameter_counts_match_the_model_table(name):
    model = build(name)
    assert model.count_params() == PARAMETERS[name]
    if name in BACKBONE_PARAMETERS:
        assert model.get_layer(BACKBONE_LAYER).count_params() == BACKBONE_PARAMETERS[name]


def test_a_backbone_from_scratch_gets_batch_norm_that_settles_in_few_steps():
    from genre_tf.models.layers import BN_MOMENTUM

    from keras import layers

    norms = [la for la in build("resnet50", image_size=32).get_layer(BACKBONE_LAYER).layers
             if isinstance(la, layers.BatchNormalization)]
    assert norms and all(la.momentum == BN_MOMENTUM for la in norms)


def test_unet_has_the_third_seeds_size_at_any_segment_length():
    assert PARAMETERS["unet"] == pytest.approx(3.4e6, rel=0.01)  # "a model of 3.4M parameters"
    assert build("unet", (624, 64)).count_params() == PARAMETERS["unet"]  # 6 s segments: padded, same network


def test_reference_models_take_spectrograms_only():
    from genre_tf.core.errors import GenreTfError

    for name in PARAMETERS:
        assert MODELS[name].features == ("logmel",)
        with pytest.raises(GenreTfError, match=f"`model` {name} does not take mfcc"):
            build_model(name, {"mfcc": (94, 20)}, 10)


def _legacy_weights_file(path, image_size):
    """A weights file in the layout of keras.applications' downloads (legacy HDF5, by layer name)."""
    import h5py

    import keras
    from keras.src.legacy.saving import legacy_h5_format

    backbone = keras.applications.ResNet50(include_top=False, weights=None, pooling="avg",
                                           input_shape=(image_size, image_size, 3))
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, backbone)
    return {layer.name: [w.numpy() for w in layer.weights] for layer in backbone.layers}


@pytest.mark.slow
def test_transfer_loads_the_weights_file_trains_frozen_then_fine_tunes_the_top(synth_store, tmp_path):
    import keras

    file_weights = _legacy_weights_file(tmp_path / "resnet50_notop.h5", 32)
    model = build("resnet50", image_size=32, backbone_weights=str(tmp_path / "resnet50_notop.h5"))
    backbone = model.get_layer(BACKBONE_LAYER)
    np.testing.assert_array_equal(backbone.get_layer("conv1_conv").kernel.numpy(), file_weights["conv1_conv"][0])
    assert not backbone.trainable and len(model.trainable_weights) == 4  # the head's two dense layers only
    MODELS["resnet50"].fine_tune(model)
    unfrozen = {layer.name for layer in backbone.layers if layer.trainable_weights}
    assert unfrozen and all(n.startswith("conv5_") and not n.endswith("_bn") for n in unfrozen)
    assert "conv5_block3_3_conv" in unfrozen and "conv4_block6_3_conv" not in unfrozen

    result = train(TrainConfig(inputs=("logmel",), model="resnet50", store=str(synth_store),
                               runs_dir=str(tmp_path / "runs"), epochs=3, frozen_epochs=2, batch_size=8,
                               options=ModelOptions(str(tmp_path / "resnet50_notop.h5"), 32)))
    (history,) = load_run(result.run_dir).histories
    assert history.series("learning_rate") == pytest.approx([1e-3, 1e-3, 1e-3 * FINE_TUNE_LR_FACTOR])
    trained = keras.models.load_model(result.run_dir / "model.keras").get_layer(BACKBONE_LAYER)
    # Below the top blocks nothing moved, batch-norm statistics included (inference mode throughout).
    for name in ("conv1_conv", "conv1_bn", "conv4_block6_3_conv", "conv4_block6_3_bn"):
        for saved, loaded in zip(trained.get_layer(name).weights, file_weights[name]):
            np.testing.assert_array_equal(saved.numpy(), loaded)


def test_unreachable_imagenet_weights_say_what_to_do(synth_store, tmp_path, monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(ModelUnavailableError, match="ImageNet weights for xception could not be downloaded .*"
                                                    "`backbone_weights` PATH .*`backbone_weights` none"):
        build("xception", backbone_weights="imagenet")


@pytest.mark.parametrize("content,message", [(None, "no such backbone weights file"),
                                             (b"not weights", "not usable as resnet50 weights")])
def test_bad_weights_files_are_named(tmp_path, content, message):
    path = tmp_path / "weights.h5"
    if content:
        path.write_bytes(content)
    with pytest.raises(ModelUnavailableError, match=message):
        build("resnet50", image_size=32, backbone_weights=str(path))
