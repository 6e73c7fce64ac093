"""YAMNet embeddings through the TF-Hub model (`hub.load`; hub.KerasLayer does not work with Keras 3).

The hub model takes one 1-D waveform per call, so a batch is a `tf.map_fn` over its segments, in the
graph with the other features (twice the speed of a Python loop of calls).
"""
from __future__ import annotations

from pathlib import Path

from ..config import YAMNET_HANDLE_ENV, EmbeddingParams, LogMelParams
from ..core.errors import ModelUnavailableError, first_line
from ..core.tf import tf


def load_yamnet(handle: str):
    """Load the YAMNet SavedModel from a TF-Hub handle or a local directory."""
    import tensorflow_hub as hub

    if "://" not in handle and not Path(handle).exists():
        raise ModelUnavailableError(f"YAMNet not found at '{handle}': pass `yamnet_handle` DIR (a SavedModel folder) "
                                    f"or set {YAMNET_HANDLE_ENV}")
    try:
        return hub.load(handle)
    except Exception as e:  # network errors, a folder that is no SavedModel, ...
        cause = first_line(e)
        raise ModelUnavailableError(
            f"cannot load YAMNet from '{handle}' ({cause}). Offline? Run `genre-tf download-yamnet` where there "
            f"is internet and pass `yamnet_handle` DIR or set {YAMNET_HANDLE_ENV}=DIR") from None


def download_yamnet(handle: str, weights_url: str, out: str | Path) -> tuple[Path, Path]:
    """Fetch the hub SavedModel and the Keras weights file into `out`, for offline use."""
    import shutil
    import urllib.request

    import tensorflow_hub as hub

    out = Path(out)
    try:
        cached = hub.resolve(handle)
        shutil.copytree(cached, out / "savedmodel", dirs_exist_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        urllib.request.urlretrieve(weights_url, out / "yamnet.h5.part")
        (out / "yamnet.h5.part").replace(out / "yamnet.h5")
    except Exception as e:
        raise ModelUnavailableError(f"cannot download YAMNet ({first_line(e)}); "
                                    "this needs internet access") from None
    return out / "savedmodel", out / "yamnet.h5"


class HubEmbedding(tf.Module):
    def __init__(self, params: EmbeddingParams):
        super().__init__(name="hub_embedding")
        self.params = params
        self.model = load_yamnet(params.handle)

    def compute(self, spectra) -> tf.Tensor:
        # (patches, 1024) per segment; the number of patches follows the segment length.
        return tf.map_fn(lambda segment: self.model(segment)[1], spectra.waveforms,
                         fn_output_signature=tf.TensorSpec((None, LogMelParams().embedding_size), tf.float32))
