"""export: a run as a waveform-in SavedModel (and LiteRT) that gives `predict`'s probabilities."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from typer.testing import CliRunner

from genre_tf.cli import app
from genre_tf.config import EmbeddingParams, SegmentParams
from genre_tf.core.errors import GenreTfError
from genre_tf.core.tf import tf
from genre_tf.features.extractor import round_to_float16
from genre_tf.io.audio import AudioReader, iter_windows, load_audio
from genre_tf.workflows.export import export_run, segment_windows
from genre_tf.workflows.predict import Predictor
from genre_tf.workflows.songs import PROBABILITY_TOLERANCE

from .conftest import GTZAN_RUNS
from .helpers import write_audio

runner = CliRunner()
LITERT_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def songs(gtzan_sample, tmp_path_factory) -> list:
    """Real music in the shapes that matter: a 2-minute song (40 windows: more than one batch of 32 in
    predict, one call in the export), a file at GTZAN's 22050 Hz, a 7.6 s and a 4 s excerpt (a tail
    padded, a tail dropped) and a song louder than full scale."""
    folder = tmp_path_factory.mktemp("songs")
    genres = ["blues", "classical", "metal", "reggae"]
    clips = [load_audio(gtzan_sample / g / f"{g}.00000.wav").samples[:30 * 16000] for g in genres]
    long_song = np.concatenate(clips)
    return [write_audio(folder / "medley.flac", long_song, 16000),
            gtzan_sample / "jazz" / "jazz.00000.wav",
            write_audio(folder / "excerpt.wav", clips[2][:int(7.6 * 16000)], 16000),
            write_audio(folder / "short.ogg", clips[3][:4 * 16000], 16000),
            write_audio(folder / "loud.wav", 3 * clips[1], 16000, subtype="FLOAT")]


def decoded(song) -> np.ndarray:
    """The song as a user would hand it to the exported model: decoded at 16 kHz, level untouched."""
    return np.concatenate(list(AudioReader(song).blocks(16000)))


def serve_saved_model(folder, waveform: np.ndarray) -> dict:
    model = tf.saved_model.load(str(folder / "saved_model"))
    return {k: v.numpy() for k, v in model.signatures["serve"](waveform=tf.constant(waveform)).items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(GTZAN_RUNS))
def test_export_gives_predicts_probabilities_on_real_music(name, gtzan_runs, songs, tmp_path):
    predictor = Predictor(gtzan_runs[name])
    record = export_run(predictor, tmp_path / "export", formats=("saved_model",)).record
    assert record["inputs"] == predictor.run.inputs and record["folds"] == len(predictor.models)
    for song in songs:
        expected = predictor.predict(song)
        out = serve_saved_model(tmp_path / "export", decoded(song))
        np.testing.assert_array_equal(out["window_starts"], expected.window_starts)
        np.testing.assert_allclose(out["window_probabilities"], expected.window_probabilities, rtol=0,
                                   atol=PROBABILITY_TOLERANCE, err_msg=f"{name} on {song.name}")
        np.testing.assert_allclose(out["clip_probabilities"], expected.probabilities, rtol=0,
                                   atol=PROBABILITY_TOLERANCE)
    assert len(out["window_starts"]) == 10  # the loud 30 s song: ten windows


@pytest.mark.slow
def test_plain_tensorflow_loads_and_runs_the_export_without_genre_tf(gtzan_runs, gtzan_sample, tmp_path):
    predictor = Predictor(gtzan_runs["combined"])
    export_run(predictor, tmp_path / "export", formats=("saved_model",))
    song = gtzan_sample / "metal" / "metal.00000.wav"
    np.save(tmp_path / "waveform.npy", load_audio(song).samples)
    script = textwrap.dedent(f"""
        import json, sys
        sys.modules["genre_tf"] = None  # any attempt to import genre_tf fails
        import numpy as np, tensorflow as tf
        model = tf.saved_model.load({str(tmp_path / "export" / "saved_model")!r})
        labels = open(model.class_map_path().numpy().decode()).read().split()
        out = model.signatures["serve"](waveform=tf.constant(np.load({str(tmp_path / "waveform.npy")!r})))
        print(json.dumps({{"labels": labels, "clip": out["clip_probabilities"].numpy().tolist()}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["labels"] == predictor.genres
    np.testing.assert_allclose(result["clip"], predictor.predict(song).probabilities, atol=PROBABILITY_TOLERANCE)


@pytest.mark.parametrize("name, yamnet, ops", [("logmel-cnn", False, "builtins"), ("embedding-cnn", True, "builtins"),
                                               ("embedding-cnn", False, "builtins+select_tf_ops"),
                                               ("mfcc-lstm", False, None)])
@pytest.mark.slow
def test_litert_converts_where_the_ops_allow(name, yamnet, ops, gtzan_runs, gtzan_sample, yamnet_weights, tmp_path):
    """YAMNet from yamnet.h5 is plain convolutions (builtin ops); the TF-Hub model runs once per window
    in a tf.map_fn, whose tensor lists need TF's own ops (Flex), which this Python runtime lacks. Keras'
    LSTM assigns a variable in its loop: its weights cannot be frozen, so there is no LiteRT file."""
    predictor = Predictor(gtzan_runs[name], EmbeddingParams(None, yamnet_weights) if yamnet else None)
    record = export_run(predictor, tmp_path / "export").record
    assert record["tflite"]["ops"] == ops
    assert (tmp_path / "export" / "model.tflite").exists() == (ops is not None)
    if ops is None:
        assert "AssignVariableOp" in record["tflite"]["not_converted"]["freezing the weights"]
        return
    if ops != "builtins":
        assert "tf.TensorListReserve" in record["tflite"]["not_converted"]["builtins"]
        return
    interpreter = Interpreter(model_path=str(tmp_path / "export" / "model.tflite"))
    waveform = load_audio(gtzan_sample / "disco" / "disco.00000.wav").samples
    lite = interpreter.get_signature_runner(record["tflite"]["signature"])(waveform=waveform)
    lite = {record["tflite"]["outputs"][k]: v for k, v in lite.items()}
    saved = serve_saved_model(tmp_path / "export", waveform)
    np.testing.assert_array_equal(lite["window_starts"], saved["window_starts"])
    # Not the same kernels (XNNPACK's), and a float16 rounding may go the other way: the closest ulp.
    np.testing.assert_allclose(lite["window_probabilities"], saved["window_probabilities"], atol=LITERT_TOLERANCE)


def test_export_cli_writes_and_refuses(gtzan_runs, tmp_path):
    run = str(gtzan_runs["mfcc-lstm"])
    result = runner.invoke(app, ["export", "--run", run, "--out", str(tmp_path / "lstm"), "--format", "saved_model"])
    assert result.exit_code == 0, result.output
    assert "SavedModel:" in result.stdout and not (tmp_path / "lstm" / "model.tflite").exists()
    assert json.loads((tmp_path / "lstm" / "export.json").read_text())["labels"] == Predictor(run).genres
    result = runner.invoke(app, ["export", "--run", run, "--out", str(tmp_path / "x"), "--format", "onnx"])
    assert result.exit_code == 1 and "unknown --format 'onnx'" in result.stderr
    (tmp_path / "mine").mkdir()
    result = runner.invoke(app, ["export", "--run", run, "--out", str(tmp_path / "mine")])
    assert result.exit_code == 1 and "is not a genre-tf export" in result.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".incomplete")]


@pytest.mark.parametrize("samples", [0, 1, 23_999, 24_000, 48_000, 71_999, 72_000, 96_000, 130_000])
def test_graph_windows_follow_the_segment_rule(samples):
    params = SegmentParams()
    waveform = np.arange(1, samples + 1, dtype=np.float32)
    expected = list(iter_windows([waveform], params))
    windows, starts = segment_windows(tf.constant(waveform), params)
    assert windows.shape == (len(expected), params.segment_samples)
    np.testing.assert_array_equal(windows.numpy(), np.reshape([w for _, w in expected], windows.shape))
    np.testing.assert_array_equal(starts.numpy(), [s / params.sample_rate for s, _ in expected])


def test_float16_rounding_in_the_graph_equals_a_float16_store():
    x = np.random.default_rng(0).standard_normal(1_000_000).astype(np.float32) * np.float32(30)
    x = x[np.abs(x) > 6.2e-5]  # float16's normal range
    np.testing.assert_array_equal(round_to_float16(tf.constant(x)).numpy(), x.astype(np.float16).astype(np.float32))


def test_export_refuses_an_unknown_format(gtzan_runs, tmp_path):
    with pytest.raises(GenreTfError, match="unknown `formats`"):
        export_run(Predictor(gtzan_runs["logmel-cnn"]), tmp_path / "e", ("pickle",))


def test_the_export_flags_what_predict_refuses_the_same_in_savedmodel_and_litert(pair_runs, tmp_path, request):
    """The contract for bad input (the hostile pass found finite, confident probabilities for all-NaN
    input, NaN or zeros for an empty one, a confident class for silence): a `status` and a `peak`, and
    for a flagged input probabilities of 0, in both formats."""
    from genre_tf.workflows.export import NO_AUDIO, NOT_FINITE, OK, SILENT

    predictor = Predictor(pair_runs.get("cnn", "logmel", request).run_dir)
    record = export_run(predictor, tmp_path / "export").record
    assert record["tflite"]["ops"] == "builtins", record["tflite"]
    runner = Interpreter(str(tmp_path / "export" / "model.tflite")).get_signature_runner()
    tone = np.sin(np.arange(7 * 16000) * 2 * np.pi * 440 / 16000).astype(np.float32) * 0.5
    cases = {"music": (tone, OK), "empty": (np.zeros(0, np.float32), NO_AUDIO),
             "all NaN": (np.full(48000, np.nan, np.float32), NOT_FINITE),
             "one inf": (np.where(np.arange(len(tone)) == 5, np.inf, tone).astype(np.float32), NOT_FINITE),
             "silence": (np.zeros(48000, np.float32), SILENT), "-90 dBFS": (tone * 6e-5, SILENT)}
    for name, (waveform, status) in cases.items():
        saved = serve_saved_model(tmp_path / "export", waveform)
        lite = {record["tflite"]["outputs"][k]: v for k, v in runner(waveform=waveform).items()}
        for out in (saved, lite):
            assert int(out["status"]) == status, name
            windows = {0: 0, 48000: 1}.get(len(waveform), 2)  # the segment rule, as always
            assert out["window_probabilities"].shape == (windows, 3) and out["window_starts"].shape == (windows,), name
            assert np.isfinite(out["window_probabilities"]).all() and np.isfinite(out["clip_probabilities"]).all()
            assert np.isfinite(out["peak"]), name
            if status == OK:
                np.testing.assert_allclose(out["window_probabilities"].sum(1), 1, atol=1e-5)
            else:  # flagged: nothing labelled
                assert not out["window_probabilities"].any() and not out["clip_probabilities"].any(), name
        np.testing.assert_allclose(lite["clip_probabilities"], saved["clip_probabilities"], atol=LITERT_TOLERANCE)
    assert float(saved["peak"]) == pytest.approx(0.5 * 6e-5, rel=1e-3)
