"""Time to the first answer: whole commands as a person starts them, side by side, the median of several runs.

    python scripts/bench_start.py --run RUN [--clips ../shared/data/gtzan-sample] [--repeat 5]

Rows: `genre-tf --help`; `predict` of a 3 s excerpt and of a 4-minute MP3 (44.1 kHz stereo, made of the
real clips) with TensorFlow (`--runtime tensorflow`) and with the run's LiteRT model (`--runtime litert`,
made beforehand: once per run), and both runtimes' top genres and probabilities compared on those songs and
every real clip; `serve` from its start until its answer to a first upload (the 3 s excerpt,
with the page's spectrogram), both runtimes; and `extract` of 12 real clips of 30 s into a new store (MFCC,
the cheapest network: what is left is the fixed cost) and `train` of a logistic regression on them, with
where their time goes (one run each under cProfile). Each figure is wall time of the whole process, from
its start, the median (min-max) of `--repeat` runs after one not counted.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf
from bench_library import make_songs
from bench_serve import free_port, post

GENRE_TF = str(Path(sys.executable).with_name("genre-tf"))


def timed(command: list[str], repeat: int) -> tuple[list[float], str]:
    """Wall seconds of each counted run (one more run first, not counted), and the last run's output."""
    seconds = []
    for k in range(repeat + 1):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        if k:
            seconds.append(time.perf_counter() - started)
    return seconds, done.stdout


def served(run: Path, song: Path, runtime: str, repeat: int) -> list[float]:
    """Seconds from `genre-tf serve`'s start until its answer to the first upload."""
    data = song.read_bytes()
    seconds = []
    for k in range(repeat + 1):
        port = free_port()
        started = time.perf_counter()
        server = subprocess.Popen([GENRE_TF, "serve", "--run", str(run), "--port", str(port), "--runtime", runtime],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    status, body, _ = post(port, song.name, data, "/api/predict?spectrogram=true")
                    break
                except OSError:  # not listening yet
                    time.sleep(0.02)
            if status != 200:
                raise SystemExit(f"serve answered {status}: {body[:300]}")
            if k:
                seconds.append(time.perf_counter() - started)
        finally:
            server.terminate()
            server.wait()
    return seconds


# Where a small extract's and train's time goes: each step and the functions (file, name) whose time it is.
# Decoding runs in threads a profile does not see: `extract` prints its own decode and compute times.
STEPS = {
    "import TensorFlow and Keras": [("core/tf.py", "_import_quietly")],
    "plan: find the clips, compare with the store": [("workflows/extract.py", "_plan"),
                                                     ("workflows/extract.py", "_find_work")],
    "fingerprints of the clips": [("core/files.py", "fingerprint")],
    "the features' graph traced": [("features/extractor.py", "warm_up")],
    "store writes: shards, arrays, manifest": [("io/store.py", "save_shard"), ("io/store.py", "commit")],
    "fsyncs": [("~", "<built-in method posix.fsync>")],
    "the split": [("workflows/train.py", "_splits")],
    "build the model": [("models/registry.py", "build_model")],
    "fit": [("workflows/train.py", "_fit_exact"), ("workflows/train.py", "_fit_epochs")],
    "score the test clips and save the run": [("io/runs.py", "write_fold"), ("io/runs.py", "finish"),
                                              ("keras/src/saving/saving_api.py", "save_model")],
}


def breakdown(command: list[str], profile: Path) -> tuple[float, dict[str, float]]:
    """One run of a genre-tf command under cProfile: its wall time, and the seconds of each step of STEPS
    it has."""
    import pstats

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "genre_tf", *command[1:]],
                   check=True, capture_output=True)
    wall = time.perf_counter() - started
    stats = pstats.Stats(str(profile)).stats  # (file, line, function) -> (calls, calls, own, cumulative, callers)
    seconds = {step: sum(cumulative for (file, _, function), (_, _, _, cumulative, _) in stats.items()
                         if any(file.endswith(suffix) and function == name for suffix, name in names))
               for step, names in STEPS.items()}
    return wall, {step: t for step, t in seconds.items() if t > 0}


def cell(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.2f} ({min(seconds):.2f}-{max(seconds):.2f})"


def compare(outputs: dict[str, list[dict]]) -> str:
    """Top genre the same, and the largest probability difference, between the two runtimes' predictions."""
    tf_songs, lite_songs = outputs["tensorflow"], outputs["litert"]
    same = sum(a["top"][0]["genre"] == b["top"][0]["genre"] for a, b in zip(tf_songs, lite_songs))
    largest = max(abs(a["genres"][g] - b["genres"][g]) for a, b in zip(tf_songs, lite_songs) for g in a["genres"])
    return f"top genre the same on {same} of {len(tf_songs)} songs; largest probability difference {largest:.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path)
    parser.add_argument("--clips", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
                        / "gtzan-sample")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-start-"))
    try:
        (long_song, _), = make_songs(args.clips, work / "songs", 1)
        clip = next(args.clips.glob("jazz/*.wav"))
        excerpt, rate = sf.read(clip, dtype="float32")
        short_song = work / "songs" / "excerpt-3s.wav"
        sf.write(short_song, excerpt[:3 * rate], rate)
        twelve = work / "clips"
        for genre in sorted(p for p in args.clips.iterdir() if p.is_dir())[:4]:
            for source in sorted(genre.glob("*.wav"))[:3]:
                (twelve / genre.name).mkdir(parents=True, exist_ok=True)
                shutil.copy(source, twelve / genre.name / source.name)
        subprocess.run([GENRE_TF, "predict", str(short_song), "--run", str(args.run), "--runtime", "litert"],
                       check=True, capture_output=True)  # the run's LiteRT model, made once
        rows, outputs = [("genre-tf --help", "", cell(timed([GENRE_TF, "--help"], args.repeat)[0]))], {}
        for song, what in ((short_song, "3 s excerpt"), (long_song, "4-minute MP3")):
            for runtime in ("tensorflow", "litert"):
                seconds, printed = timed([GENRE_TF, "predict", str(song), "--run", str(args.run), "--runtime", runtime,
                                          "--json"], args.repeat)
                outputs.setdefault(runtime, []).extend(json.loads(printed))
                rows.append((f"predict, {what}", runtime, cell(seconds)))
        real_clips = sorted(str(c) for c in args.clips.glob("*/*.wav"))
        for runtime in ("tensorflow", "litert"):  # every real clip too, once
            done = subprocess.run([GENRE_TF, "predict", *real_clips, "--run", str(args.run), "--runtime", runtime,
                                   "--json"], check=True, capture_output=True, text=True)
            outputs[runtime].extend(json.loads(done.stdout))
        agreement = compare(outputs)
        for runtime in ("tensorflow", "litert"):
            rows.append(("serve until its first answer", runtime, cell(served(args.run, short_song, runtime,
                                                                               args.repeat))))
        store = work / "store"
        extract = [GENRE_TF, "extract", "--data", str(twelve), "--store", str(store), "--features", "mfcc"]
        seconds = []
        for _ in range(args.repeat + 1):
            shutil.rmtree(store, ignore_errors=True)
            started = time.perf_counter()
            subprocess.run(extract, check=True, capture_output=True)
            seconds.append(time.perf_counter() - started)
        rows.append(("extract, 12 clips of 30 s (mfcc)", "tensorflow", cell(seconds[1:])))
        train = [GENRE_TF, "train", "--input", "mfcc", "--model", "logreg", "--store", str(store), "--runs",
                 str(work / "runs")]
        rows.append(("train, logreg on those 12 clips", "tensorflow", cell(timed(train, args.repeat)[0])))
        shutil.rmtree(store)
        parts = {"extract": breakdown(extract, work / "extract.prof"), "train": breakdown(train, work / "train.prof")}
        print(f"Wall seconds, median (min-max) of {args.repeat} runs after one not counted; run {args.run.name}\n")
        print("| command | runtime | seconds |\n|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print(f"\nTensorFlow and LiteRT on the two songs and the {len(real_clips)} real clips: {agreement}")
        print("\nWhere the time of one extract and one train goes (seconds, one run under cProfile; decoding runs in "
              "threads the profile does not see)\n")
        print("| step | extract | train |\n|---|---|---|")
        for step in STEPS:
            if any(step in found for _, found in parts.values()):
                print(f"| {step} | " + " | ".join(f"{found[step]:.2f}" if step in found else "-"
                                                  for _, found in parts.values()) + " |")
        print("| the whole command | " + " | ".join(f"{wall:.2f}" for wall, _ in parts.values()) + " |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
