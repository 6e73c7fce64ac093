"""serve: the JSON API and the page, on a run trained on real music; the page in a real browser."""
import contextlib
import importlib.util
import json
import os
import re
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from genre_tf.config import ServeParams
from genre_tf.workflows.predict import Predictor

from .helpers import write_audio

fastapi = pytest.importorskip("fastapi", reason="serve's extra is not installed (pip install 'genre-tf[serve]')")
from fastapi.testclient import TestClient  # noqa: E402

from genre_tf.serving.server import create_app  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def predictor(gtzan_runs) -> Predictor:
    return Predictor(gtzan_runs["logmel-cnn"])


@pytest.fixture(scope="module")
def client(predictor) -> TestClient:
    with TestClient(create_app(predictor, ServeParams(max_upload_mb=4.0))) as client:  # runs the app's lifespan
        yield client


def upload(client, path: Path, endpoint: str = "/api/predict", **params):
    with open(path, "rb") as f:
        return client.post(endpoint, files={"file": (path.name, f)}, params=params)


def test_api_labels_a_real_song_as_predict_does(client, predictor, gtzan_sample):
    song = gtzan_sample / "reggae" / "reggae.00000.wav"
    response = upload(client, song, spectrogram=True)
    assert response.status_code == 200, response.text
    result = response.json()
    expected = predictor.predict(song)
    assert result["file"] == song.name and len(result["windows"]) == len(expected.window_starts) == 10
    np.testing.assert_allclose([result["genres"][g] for g in expected.genres], expected.probabilities, atol=1e-6)
    assert [t["genre"] for t in result["top"]][:3] == [g for g, _ in expected.top(3)]
    assert result["log_mel_png"].startswith("data:image/png;base64,") and len(result["log_mel_png"]) > 10_000
    assert "log_mel_png" not in upload(client, song).json()  # only when asked for


def test_stream_reports_progress_then_the_result(client, gtzan_sample, tmp_path):
    from genre_tf.io.audio import load_audio

    # 120 s: 40 windows, so predict reports progress between its batches of 32.
    long_song = np.concatenate([load_audio(p).samples[:30 * 16000]
                                for p in sorted(gtzan_sample.glob("*/*.00000.wav"))[:4]])
    path = write_audio(tmp_path / "medley.ogg", long_song, 16000)
    events = [json.loads(line) for line in upload(client, path, "/api/predict/stream").text.splitlines()]
    progress = [e["progress"] for e in events if "progress" in e]
    assert progress[0] == 0.0 and 0.5 < progress[-1] < 1.0 and progress == sorted(progress)
    assert len(events[-1]["result"]["windows"]) == 40


def test_bad_uploads_get_a_4xx_with_one_line_and_the_server_keeps_working(client, gtzan_sample, tmp_path):
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("these are not samples")
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    silent = write_audio(tmp_path / "silence.flac", np.zeros(16000 * 4, np.float32), 16000)
    large = write_audio(tmp_path / "large.wav", np.zeros(16000 * 90, np.float32), 16000, subtype="FLOAT")  # 5.8 MB
    no_mp3 = tmp_path / "cover.mp3"
    no_mp3.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    no_samples = write_audio(tmp_path / "header-only.wav", np.zeros(0, np.float32), 16000)
    nan = write_audio(tmp_path / "nan.wav", np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    cases = {not_audio: (415, "notes.wav: not a readable audio file"), no_mp3: (415, "cover.mp3: not an MP3 stream"),
             empty: (400, "empty.mp3: empty file"), silent: (422, "silence.flac: silent"),
             no_samples: (422, "header-only.wav: contains no audio samples"),
             nan: (422, "nan.wav: contains NaN or infinite samples"), large: (413, "larger than the limit of 4 MB")}
    for path, (status, message) in cases.items():
        for endpoint in ("/api/predict", "/api/predict/stream"):
            response = upload(client, path, endpoint)
            assert response.status_code == status and message in response.json()["detail"], (path, response.text)
            assert "\n" not in response.json()["detail"] and "Traceback" not in response.text
    assert client.post("/api/predict").status_code == 400  # no file at all
    assert upload(client, gtzan_sample / "jazz" / "jazz.00000.wav").status_code == 200


def test_each_kind_of_audio_error_has_its_status():
    """The status codes are the API's contract: chosen by the error's kind (never by its words), for every kind.
    A file that cannot be reached (not found, a directory) never comes from an upload: 422 if it ever did."""
    from genre_tf.core.errors import AudioErrorKind as Kind
    from genre_tf.serving.server import STATUS_OF_AUDIO_ERROR

    assert STATUS_OF_AUDIO_ERROR == {Kind.EMPTY: 400, Kind.TOO_LONG: 413, Kind.NOT_AUDIO: 415, Kind.DAMAGED: 422,
                                     Kind.NO_SAMPLES: 422, Kind.SILENT: 422, Kind.INACCESSIBLE: 422}


def test_an_upload_over_the_limit_without_a_declared_length_is_cut_off_while_it_streams(predictor):
    """A chunked body declares no length: on a real server (127.0.0.1), it is counted as it arrives and
    refused with 413 once over the limit (2 MB here): a client sending 1 GB is cut off after a few MB,
    which are never stored in full."""
    spec = importlib.util.spec_from_file_location("bench_serve",
                                                  Path(__file__).parents[1] / "scripts" / "bench_serve.py")
    bench_serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_serve)  # the benchmark's own hostile request
    with live(create_app(predictor, ServeParams(max_upload_mb=2))) as port:
        status, sent_mb, answer = bench_serve.chunked(port, 1024)
    assert status == 413 and b"larger than the limit of 2 MB" in answer, answer[:200]
    assert sent_mb < 32


def _wav_declaring(rate: int, seconds_of_data: float, path: Path) -> Path:
    """A 16-bit mono WAV whose header says `rate` Hz: a small file that claims hours of audio at 1 Hz."""
    frames = np.random.default_rng(0).integers(-3000, 3000, int(seconds_of_data * 16000), dtype=np.int16)
    data = frames.tobytes()
    header = (b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
              + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little")
              + (rate * 2).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
              + b"data" + len(data).to_bytes(4, "little"))
    path.write_bytes(header + data)
    return path


def test_audio_longer_than_the_cap_is_refused_from_its_header_and_while_decoding(predictor, gtzan_sample, tmp_path):
    """The per-request cap on decoded audio (`max_audio_seconds`): a 1.5 MB WAV whose header says 1 Hz
    (750,000 s) and a long constant FLAC are refused with 413 before any decoding, and a good song is
    answered right after each; a source whose header understates its length stops while decoding."""
    from genre_tf.core.errors import AudioError
    from genre_tf.io.audio import AudioReader

    one_hertz = _wav_declaring(1, 47, tmp_path / "one-hertz.wav")  # 1.5 MB of samples
    constant = write_audio(tmp_path / "constant.flac", np.full(16000 * 200, 0.25, np.float32), 16000)
    good = gtzan_sample / "jazz" / "jazz.00000.wav"
    with TestClient(create_app(predictor, ServeParams(max_audio_seconds=60))) as capped:
        for path, length in ((one_hertz, "752,000 s"), (constant, "200 s")):
            for endpoint in ("/api/predict", "/api/predict/stream"):
                response = upload(capped, path, endpoint)
                assert response.status_code == 413, response.text
                assert response.json()["detail"] == (f"{path.name}: longer than the limit of 60 s of audio (its "
                                                      f"header says {length})")
                assert upload(capped, good).status_code == 200
    reader = AudioReader(constant, limit_seconds=300)
    reader.frames = 16000 * 10  # a header that understates the length (compressed streams estimate it)
    reader.limit_seconds = 30
    with pytest.raises(AudioError, match="longer than the limit of 30 s of audio \\(found while decoding\\)"):
        for _ in reader.blocks(16000):
            pass


@pytest.mark.parametrize("filename", ["a\x00b.wav", "x" * 300 + ".wav", ".", "..", "/", "../../etc/passwd",
                                      "名前 with spaces.wav", "new\nline.flac"])
def test_an_upload_name_never_reaches_a_path(client, gtzan_sample, filename):
    """Whatever the client calls its file, the server saves it under a name of its own: a real song
    under a hostile name is labelled (never a 500), and the name shown is printable and bounded."""
    with open(gtzan_sample / "rock" / "rock.00000.wav", "rb") as f:
        response = client.post("/api/predict", files={"file": (filename, f, "audio/wav")})
    assert response.status_code == 200, response.text
    shown = response.json()["file"]
    assert shown.isprintable() and 0 < len(shown) <= 121 and "/" not in shown and "\x00" not in shown


def test_a_request_whose_client_left_stops_its_work_and_leaves_no_file(predictor, gtzan_sample, tmp_path):
    """Cancellation (the client went away, or the server is stopping) ends the song's work at its next
    batch; every upload's folder is inside one server folder, removed when the server stops."""
    import threading

    from fastapi import UploadFile

    from genre_tf.serving.server import Cancelled, SongLabeler, Upload

    root = tmp_path / "uploads"
    root.mkdir()
    with open(gtzan_sample / "rock" / "rock.00000.wav", "rb") as f:
        song = Upload(UploadFile(f, filename="rock.wav"), 10 ** 8, root, 600)
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(Cancelled):
        SongLabeler(predictor, ServeParams()).label(song, False, cancelled=cancelled)
    song.remove()
    assert not list(root.iterdir())
    before = set(Path(tempfile.gettempdir()).glob("genre-tf-uploads-*"))
    with TestClient(create_app(predictor, ServeParams())) as live:
        (folder,) = set(Path(tempfile.gettempdir()).glob("genre-tf-uploads-*")) - before
        assert upload(live, gtzan_sample / "rock" / "rock.00000.wav").status_code == 200
        assert not list(folder.iterdir())  # each request's folder goes with its answer
    assert not folder.exists()  # the server's, when it stops


def test_an_unexpected_failure_is_one_line_500_and_the_server_goes_on(predictor, gtzan_sample, monkeypatch):
    from genre_tf.serving.server import SongLabeler

    song = gtzan_sample / "rock" / "rock.00000.wav"
    real_label = SongLabeler.label
    with TestClient(create_app(predictor, ServeParams())) as live:
        monkeypatch.setattr(SongLabeler, "label", lambda *args, **kwargs: 1 / 0)
        for endpoint in ("/api/predict", "/api/predict/stream"):
            response = upload(live, song, endpoint)
            text = response.json()["detail"] if endpoint == "/api/predict" else response.text.splitlines()[-1]
            assert "internal error (ZeroDivisionError: division by zero)" in text, response.text
            assert response.status_code == (500 if endpoint == "/api/predict" else 200)
        assert response.status_code == 200 and json.loads(text)["status"] == 500  # the stream had begun
        monkeypatch.setattr(SongLabeler, "label", real_label)
        assert upload(live, song).status_code == 200


def test_serve_refuses_an_empty_host_and_out_of_range_numbers():
    from genre_tf.core.errors import GenreTfError

    for params, message in (({"host": ""}, "`host` must name an address"), ({"port": 0}, "`port` must be between"),
                            ({"port": 99999}, "`port` must be between"),
                            ({"max_upload_mb": float("inf")}, "`max_upload_mb` must be a positive number"),
                            ({"max_audio_seconds": -1}, "`max_audio_seconds` must be a positive number")):
        with pytest.raises(GenreTfError, match=message):
            ServeParams(**params)


def test_page_and_info(client, predictor):
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//|fetch\(["'`]https?:""", page.text)  # works offline
    info = client.get("/api/info").json()
    assert info["genres"] == predictor.genres and info["max_upload_mb"] == 4.0
    assert info["max_audio_seconds"] == ServeParams.max_audio_seconds


# --- the page in a real browser -------------------------------------------------------------------

def _browser_or_skip():
    """Debian's chromium driven by Playwright; CI installs both (GENRE_TF_REQUIRE_BROWSER makes them required)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright and CHROMIUM.exists():
        return sync_playwright
    if os.environ.get("GENRE_TF_REQUIRE_BROWSER"):
        pytest.fail("the browser test is required here (GENRE_TF_REQUIRE_BROWSER) but chromium or playwright "
                    "is missing")
    pytest.skip("no browser: apt install chromium, and pip install playwright (make test installs playwright)")


@contextlib.contextmanager
def live(app):
    """`app` served by uvicorn on 127.0.0.1 (a free port) in a thread: yields the port."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(gtzan_runs):
    with live(create_app(Predictor(gtzan_runs["combined"]))) as port:
        yield f"http://127.0.0.1:{port}/"


@pytest.mark.slow
def test_the_page_labels_a_real_song_in_chromium(server, gtzan_sample, tmp_path):
    sync_playwright = _browser_or_skip()
    song = gtzan_sample / "metal" / "metal.00000.wav"
    not_audio = tmp_path / "cover.mp3"
    not_audio.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1100, "height": 1100})
        page.goto(server)
        page.wait_for_function("document.getElementById('run').textContent.startsWith('run ')")
        page.set_input_files("#file", str(song))
        page.wait_for_selector("#result:not([hidden])", timeout=120_000)
        assert page.inner_text("#title").startswith("metal.00000.wav: 10 windows")
        top = page.locator("#top li .genre").all_inner_texts()
        genres = page.evaluate("fetch('api/info').then(r => r.json()).then(info => info.genres)")
        assert len(top) == 5 and set(top) <= set(genres) and len(genres) == 10
        assert page.locator("#chart polyline.genre-line").count() == 10  # one line per genre
        assert page.eval_on_selector("#chart polyline", "e => e.getAttribute('points').split(' ').length") == 10
        page.wait_for_function("document.getElementById('spectrogram').naturalWidth > 500")
        if os.environ.get("GENRE_TF_SCREENSHOT"):
            page.screenshot(path=os.environ["GENRE_TF_SCREENSHOT"], full_page=True)  # docs/img/serve.png
        page.set_input_files("#file", str(not_audio))
        page.wait_for_function("document.getElementById('error').textContent.length > 0")
        assert page.inner_text("#error") == "cover.mp3: not an MP3 stream (no MPEG audio frames at its start)"
        assert page.locator("#result").is_hidden()
        page.set_input_files("#file", str(gtzan_sample / "classical" / "classical.00000.wav"))  # still serving
        page.wait_for_selector("#result:not([hidden])", timeout=120_000)
        assert page.inner_text("#title").startswith("classical.00000.wav")
        browser.close()


def test_the_pages_spectrogram_is_yamnets_log_mel(gtzan_sample):
    """The server draws YAMNet's log-mel without TensorFlow: frame for frame the model's own frontend."""
    from genre_tf.features.logmel import log_mel
    from genre_tf.io.audio import load_audio
    from genre_tf.serving.spectrogram import LOG_MEL_TOLERANCE, display_log_mel

    samples = load_audio(gtzan_sample / "pop" / "pop.00001.wav").samples[:10 * 16000]
    shown = display_log_mel(samples)
    assert shown.shape == (998, 64)  # 25 ms frames every 10 ms, none past the end (YAMNet pads for its patches)
    np.testing.assert_allclose(shown, log_mel(samples[None]).numpy()[0][:len(shown)], atol=LOG_MEL_TOLERANCE)
    assert display_log_mel(samples[:399]).shape == (0, 64)
