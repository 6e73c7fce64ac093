"""Run musicnn's own extractor (its TF1 graph, through tf_keras) on WAV files; save its features.

Used by the equivalence test in a subprocess with TF_USE_LEGACY_KERAS=1: musicnn's code needs TF1
layers and graph mode, which must not leak into the test process.
usage: python musicnn_reference.py MODEL OUT.npz [--float32] FILE...

--float32 keeps musicnn's mel spectrogram in float32: its own cast to float16 overflows to inf on
loud music (mel power above 65504), and genre-tf does not copy that overflow.
"""
import sys

import musicnn.extractor as musicnn_extractor
import numpy as np


class _Float32Numpy:
    """numpy, except that float16 is float32."""

    float16 = np.float32

    def __getattr__(self, name):
        return getattr(np, name)


model, out, files = sys.argv[1], sys.argv[2], sys.argv[3:]
if files[0] == "--float32":
    musicnn_extractor.np, files = _Float32Numpy(), files[1:]
results = {}
for i, path in enumerate(files):
    _, _, features = musicnn_extractor.extractor(path, model=model, input_length=3, extract_features=True)
    for name in ("mean_pool", "max_pool", "penultimate"):
        results[f"{i}_{name}"] = np.asarray(features[name])
np.savez(out, **results)
