"""How close an export is to `genre-tf predict`: for each run, export it, then label songs both ways.

    python scripts/export_agreement.py --runs saved_models/*/ --songs ../shared/data/gtzan-sample/*/*.wav \
        [--yamnet-weights yamnet.h5]

Prints, per run: the LiteRT op set, and the largest absolute difference of any window or clip
probability between the SavedModel and `predict`, and between LiteRT (builtin ops only: this
Python runtime has no Flex) and the SavedModel.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from genre_tf.config import EmbeddingParams
from genre_tf.core.tf import tf
from genre_tf.io.audio import AudioReader
from genre_tf.workflows.export import export_run
from genre_tf.workflows.predict import Predictor


def largest_difference(a: dict, b: dict) -> float:
    return max(float(np.abs(np.asarray(a[k]) - np.asarray(b[k])).max())
               for k in ("window_probabilities", "clip_probabilities"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", type=Path, required=True)
    parser.add_argument("--songs", nargs="+", type=Path, required=True)
    parser.add_argument("--yamnet-weights", help="export embedding runs with YAMNet from this yamnet.h5")
    args = parser.parse_args()
    print("| run | LiteRT ops | SavedModel vs predict | LiteRT vs SavedModel |\n|---|---|---|---|")
    for run in args.runs:
        yamnet = EmbeddingParams(None, args.yamnet_weights) if args.yamnet_weights else None
        predictor = Predictor(run, yamnet)
        with tempfile.TemporaryDirectory() as folder:
            record = export_run(predictor, Path(folder) / "export").record
            saved = tf.saved_model.load(str(Path(folder) / "export" / "saved_model")).signatures["serve"]
            lite = None
            if record["tflite"]["ops"] == "builtins":
                runner = Interpreter(str(Path(folder) / "export" / "model.tflite")).get_signature_runner()
                names = record["tflite"]["outputs"]
                lite = lambda w, names=names, runner=runner: {  # noqa: E731
                    names[k]: v for k, v in runner(waveform=w).items()}
            vs_predict, vs_saved = 0.0, 0.0
            for song in args.songs:
                expected = predictor.predict(song)
                waveform = np.concatenate(list(AudioReader(song).blocks(16000)))
                out = {k: v.numpy() for k, v in saved(waveform=tf.constant(waveform)).items()}
                vs_predict = max(vs_predict, largest_difference(
                    out, {"window_probabilities": expected.window_probabilities,
                          "clip_probabilities": expected.probabilities}))
                if lite:
                    vs_saved = max(vs_saved, largest_difference(lite(waveform), out))
        print(f"| {'+'.join(predictor.run.inputs)} / {predictor.run.model} | {record['tflite']['ops']} | "
              f"{vs_predict:.2e} | {f'{vs_saved:.2e}' if lite else 'not run (needs Flex)'} |")


if __name__ == "__main__":
    main()
