"""Labelling a library fast: how few windows per song give the same answer, and what each choice costs.

Speed: songs per hour on this CPU, after start-up (labelling one 3 s clip; given apart and taken off), labelling
twelve 4-minute MP3s (44.1 kHz stereo, made of real GTZAN excerpts, one genre each) through `label_songs`:
every window (today's `--max-windows 0`), and K windows for K in a range, each with the windows decoded by
seeking where the format allows and with the whole song decoded.

Accuracy: on the real clips of a bench_real.py work folder (its feature store and its 5-fold CV runs), each
fold model's test clips of more than one window labelled from every window and from the K windows `predict`
chooses: clip accuracy, and top-1 agreement with every window. (Those are the 30 GTZAN clips of 30 s: 10
windows, 8 of them inside the edges that are skipped, so K stops mattering at 8; the songs of the speed
part are 80 windows long.)

    python scripts/bench_library.py --work /tmp/bench-real --runs RUN[,RUN...] [--ks 1,2,3,5,8,16]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from ai_edge_litert.interpreter import Interpreter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genre_tf.io.audio import AudioReader, spread_windows, window_starts  # noqa: E402
from genre_tf.io.runs import TEST_CLIPS_FILE, ScoredClips, load_run  # noqa: E402
from genre_tf.io.store import FeatureStore  # noqa: E402
from genre_tf.workflows.library import label_songs  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SONG_SECONDS = 240
SONG_RATE = 44100


def make_songs(clips: Path, folder: Path, count: int) -> list[tuple[Path, str]]:
    """`count` 4-minute MP3s at 44.1 kHz stereo, each of one genre's 30 s clips end to end (repeated to fill it;
    a genre's second song takes them in the reverse order)."""
    genres = sorted(p for p in clips.iterdir() if p.is_dir())
    folder.mkdir(parents=True, exist_ok=True)
    songs = []
    for k in range(count):
        genre = genres[k % len(genres)]
        path = folder / f"{k:02d}-{genre.name}.mp3"
        songs.append((path, genre.name))
        if path.exists():
            continue
        mine = sorted(c for c in genre.iterdir() if c.suffix in (".wav", ".flac"))[:: -1 if k >= len(genres) else 1]
        parts = [soxr.resample(x.mean(1) if x.ndim > 1 else x, rate, SONG_RATE)
                 for x, rate in (sf.read(c, dtype="float32") for c in mine)]
        audio = np.tile(np.concatenate(parts), SONG_SECONDS * SONG_RATE // sum(map(len, parts)) + 1)
        sf.write(path, np.stack([audio, audio], axis=1)[: SONG_SECONDS * SONG_RATE], SONG_RATE, format="MP3")
    return songs


def time_labelling(run: Path, songs: list[Path], max_windows: int, seek: bool, first: Path, repeat: int) -> dict:
    """Songs per hour after start-up, labelling the songs `repeat` times over (so that the fast settings take
    seconds, not a start-up's noise); the start-up (labelling one 3 s clip: loading the run, tracing the graph,
    a first batch), its median of three, is taken off. Each song's top genre."""
    real_windows_at = AudioReader.windows_at
    if not seek:
        AudioReader.windows_at = lambda self, starts, params: None  # the whole-song decode, as without seeking
    try:
        startups, top = [], {}
        for paths in ([first], [first], [first], songs * repeat):
            started = time.perf_counter()
            with label_songs(run, paths, max_windows=max_windows) as labelled:
                for item, prediction, error in labelled:
                    assert not error, error
                    top[item] = prediction.top(1)[0][0]
            startups.append(time.perf_counter() - started)
    finally:
        AudioReader.windows_at = real_windows_at
    startup, labelling = float(np.median(startups[:3])), startups[3] - float(np.median(startups[:3]))
    return {"startup": startup, "songs_per_hour": len(songs) * repeat / labelling * 3600,
            "top": [top[k] for k in range(len(songs))]}


def window_accuracy(run_dir: Path, store: FeatureStore, ks: list[int]) -> dict[int, tuple[float, float, int]]:
    """{K: (clip accuracy, top-1 agreement with every window, clips)} over the run's folds' test clips; K 0 is
    every window."""
    from genre_tf import models  # noqa: F401  (genre-tf's layers, for loading)

    import keras

    run = load_run(run_dir)
    segment = run.segment
    arrays = {name: store.array(name) for name in run.inputs}
    index = {genre: k for k, genre in enumerate(run.genres)}
    right, agree, clips = {k: 0 for k in [0, *ks]}, {k: 0 for k in ks}, 0
    for model_file in run.model_files:
        model = keras.models.load_model(model_file)
        test = ScoredClips.read(model_file.parent / TEST_CLIPS_FILE, run.genres)
        rows = store.index.rows_of(test.clip_ids)
        probabilities = model.predict({name: np.asarray(arrays[name][rows], np.float32) for name in run.inputs},
                                      verbose=0, batch_size=256)
        ids, segments = store.index.clip_ids[rows], store.index.segments[rows]
        for clip in np.unique(ids):
            mine = np.flatnonzero(ids == clip)
            if len(mine) <= min(ks):  # a clip of fewer windows is labelled from all of them, whatever K
                continue
            mine = mine[np.argsort(segments[mine])]
            truth = index[store.index.genres[rows[mine[0]]]]
            samples = len(mine) * segment.segment_samples
            starts = window_starts(samples, segment)[: len(mine)]
            every = int(np.argmax(probabilities[mine].mean(0)))
            right[0] += every == truth
            for k in ks:
                top = int(np.argmax(probabilities[mine[spread_windows(starts, samples, segment, k)]].mean(0)))
                right[k] += top == truth
                agree[k] += top == every
            clips += 1
    return {k: (right[k] / clips, (agree[k] / clips) if k else 1.0, clips) for k in right}


def inference(run: Path, songs: list[Path], clips: list[Path], folder: Path) -> list[tuple]:
    """The run's whole network (features and model, waveform in) through TF, LiteRT (XNNPACK) and LiteRT with
    dynamic-range int8 weights: windows per second on the songs' windows (one song a call, every window), and
    top-1 agreement with TF per window and per song or clip."""
    from genre_tf.workflows.export import TFLITE_FILE, convert_tflite, export_run
    from genre_tf.workflows.predict import Predictor

    predictor = Predictor(run)
    export = export_run(predictor, folder / run.name)
    if export.record["tflite"]["ops"] != "builtins":
        return [("LiteRT", f"not converted to builtin ops ({export.record['tflite']['not_converted']})")]
    quantized, _ = convert_tflite(export.path / "saved_model", dynamic_range=True)
    (folder / f"{run.name}.int8.tflite").write_bytes(quantized)
    output = {v: k for k, v in export.record["tflite"]["outputs"].items()}["window_probabilities"]
    waveforms = [np.concatenate(list(AudioReader(path).blocks(16000))) for path in songs + clips]

    def lite(model_file: Path):
        interpreter = Interpreter(str(model_file), num_threads=2)  # XNNPACK: its default delegate
        runner = interpreter.get_signature_runner()
        return lambda waveform: runner(waveform=waveform)[output]

    def tf_path(waveform: np.ndarray) -> np.ndarray:
        from genre_tf.io.audio import window_view
        _, windows = window_view(waveform, predictor.segment)
        return np.concatenate([predictor.classify(windows[k:k + 32]) for k in range(0, len(windows), 32)])

    paths = {"TF": tf_path, "LiteRT float32": lite(export.path / TFLITE_FILE),
             "LiteRT dynamic-range int8": lite(folder / f"{run.name}.int8.tflite")}
    results, reference = [], None
    for name, classify in paths.items():
        classify(waveforms[0][:48000 * 2])  # warm-up: tracing, allocation
        outputs, seconds = [], 0.0
        for k, waveform in enumerate(waveforms):
            started = time.perf_counter()
            outputs.append(classify(waveform))
            seconds += (time.perf_counter() - started) if k < len(songs) else 0.0
        rate = sum(len(o) for o in outputs[:len(songs)]) / seconds
        reference = reference or outputs
        window_agreement = np.mean(np.concatenate([o.argmax(1) == r.argmax(1) for o, r in zip(outputs, reference)]))
        song_agreement = np.mean([o.mean(0).argmax() == r.mean(0).argmax() for o, r in zip(outputs, reference)])
        results.append((name, f"{rate:.1f}", f"{window_agreement:.1%}", f"{song_agreement:.1%}"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-real"), help="a bench_real.py work folder")
    parser.add_argument("--runs", required=True, help="run folders (names in <work>/runs, or paths), commas")
    parser.add_argument("--ks", default="1,2,3,5,8,16")
    parser.add_argument("--songs", type=int, default=12)
    parser.add_argument("--parts", default="accuracy,speed,inference")
    parser.add_argument("--clips", type=Path, default=SHARED / "gtzan-sample", help="<genre>/<30 s clip>")
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    runs = [p if p.is_dir() else args.work / "runs" / p for p in map(Path, args.runs.split(","))]
    store = FeatureStore(args.work / "features")

    parts = args.parts.split(",")
    if "accuracy" in parts:
        print_accuracy(runs, store, ks)
    if "speed" in parts:
        print_speed(runs, args, ks)
    if "inference" in parts:
        print_inference(runs, args)


def print_accuracy(runs: list[Path], store: FeatureStore, ks: list[int]) -> None:
    print("## accuracy on the real clips (each fold model on its test clips)\n")
    print("| run | windows | clips | clip accuracy | top-1 agreement with every window |")
    print("|---|---|---|---|---|")
    for run in runs:
        for k, (accuracy, agreement, clips) in window_accuracy(run, store, ks).items():
            print(f"| {run.name} | {k or 'every'} | {clips} | {accuracy:.1%} | {agreement:.1%} |", flush=True)


def print_speed(runs: list[Path], args, ks: list[int]) -> None:
    paths = [p for p, _ in make_songs(args.clips, args.work / "songs", args.songs)]
    first = args.work / "songs" / "first.wav"  # 3 s: what start-up costs, taken off each timing
    sf.write(first, sf.read(paths[0], frames=3 * SONG_RATE, dtype="float32")[0], SONG_RATE)
    print(f"\n## speed: {len(paths)} songs of {SONG_SECONDS} s, MP3 {SONG_RATE} Hz stereo, after start-up\n")
    for run in runs:
        print(f"run {run.name}\n")
        print("| windows | decoding | songs/hour | x every window | start-up s | top genre as every window's |")
        print("|---|---|---|---|---|---|")
        every = time_labelling(run, paths, 0, seek=False, first=first, repeat=1)
        print(f"| every (80) | whole song | {every['songs_per_hour']:,.0f} | 1.0 | {every['startup']:.1f} | - |",
              flush=True)
        for k in ks:
            for seek in (True, False):
                timed = time_labelling(run, paths, k, seek, first, repeat=max(1, 40 // k))
                same = sum(a == b for a, b in zip(timed["top"], every["top"]))
                print(f"| {k} | {'seeking' if seek else 'whole song'} | {timed['songs_per_hour']:,.0f} | "
                      f"{timed['songs_per_hour'] / every['songs_per_hour']:.1f} | {timed['startup']:.1f} | "
                      f"{same} of {len(paths)} |", flush=True)
        print()


def print_inference(runs: list[Path], args) -> None:
    paths = [p for p, _ in make_songs(args.clips, args.work / "songs", args.songs)]
    print("## inference: TF against LiteRT, every window of the songs and the 30 s clips\n")
    clips = sorted(p for p in args.clips.rglob("*") if p.suffix in (".wav", ".flac"))
    for run in runs:
        print(f"run {run.name}\n\n| path | windows/s | top-1 agreement with TF: windows | songs and clips |\n"
              "|---|---|---|---|")
        for row in inference(run, paths, clips, args.work / "exports"):
            print("| " + " | ".join(row) + " |", flush=True)
        print()


if __name__ == "__main__":
    main()
