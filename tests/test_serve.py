"""serve: the JSON API and the page, on a run trained on real music; the page in a real browser."""
import io
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
    return TestClient(create_app(predictor, ServeParams(max_upload_mb=4.0)))


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
    np.testing.assert_allclose([result["genres"][g] for g in expected.labels], expected.probabilities, atol=1e-6)
    assert [t["genre"] for t in result["top"]][:3] == [g for g, _ in expected.top(3)]
    assert result["log_mel_png"].startswith("data:image/png;base64,") and len(result["log_mel_png"]) > 10_000
    assert "log_mel_png" not in upload(client, song).json()  # only when asked for


def test_stream_reports_progress_then_the_result(client, gtzan_sample, tmp_path):
    from genre_tf.io.audio import load_audio

    # 120 s: 40 windows, so predict reports progress between its batches of 32.
    long_song = np.concatenate([load_audio(p).samples[:30 * 16000] for p in sorted(gtzan_sample.glob("*/*.00000.wav"))[:4]])
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
    cases = {not_audio: (415, "notes.wav: not a readable audio file"), empty: (400, "empty.mp3: empty file"),
             silent: (422, "silence.flac: silent"), large: (413, "larger than the limit of 4 MB")}
    for path, (status, message) in cases.items():
        for endpoint in ("/api/predict", "/api/predict/stream"):
            response = upload(client, path, endpoint)
            assert response.status_code == status and message in response.json()["detail"], (path, response.text)
            assert "\n" not in response.json()["detail"] and "Traceback" not in response.text
    assert client.post("/api/predict").status_code == 400  # no file at all
    assert upload(client, gtzan_sample / "jazz" / "jazz.00000.wav").status_code == 200


def test_an_upload_over_the_limit_without_a_declared_length_is_cut_off(tmp_path):
    """A chunked body declares no length: the upload is counted as it is saved, and refused past the limit."""
    from fastapi import HTTPException, UploadFile

    from genre_tf.serving.server import Upload

    with pytest.raises(HTTPException) as refused:
        Upload(UploadFile(io.BytesIO(b"x" * 3000), filename="big.wav"), limit_bytes=2000)
    assert refused.value.status_code == 413
    assert not list(Path(tempfile.gettempdir()).glob("genre-tf-upload-*/big.wav"))  # nothing left behind


def test_page_and_info(client, predictor):
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//|fetch\(["'`]https?:""", page.text)  # works offline
    info = client.get("/api/info").json()
    assert info["genres"] == predictor.labels and info["max_upload_mb"] == 4.0


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
        pytest.fail("the browser test is required here (GENRE_TF_REQUIRE_BROWSER) but chromium or playwright is missing")
    pytest.skip("no browser: apt install chromium, and pip install playwright (make test installs playwright)")


@pytest.fixture(scope="module")
def server(gtzan_runs):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(Predictor(gtzan_runs["combined"]), ServeParams(port=port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


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
