"""`genre-tf serve`: a local web page and a JSON API that label an uploaded song with a trained run.

FastAPI and one static page (web/index.html: plain JS and SVG, no asset from the internet, so it
works offline) rather than Gradio: the API's status codes and messages are ours to state and test,
the progress comes from `predict` itself, and it adds three small packages where Gradio adds dozens
with pins of their own.

    GET  /                     the page
    GET  /api/info             the run: inputs, model, genres; the upload limit
    POST /api/predict          multipart `file` -> JSON: top genres, probabilities for the song and
                               per 3 s window; `?spectrogram=true` adds the log-mel as a PNG data URL
    POST /api/predict/stream   the same as NDJSON lines, for the page: {"progress": fraction} while the
                               windows are classified, then {"result": ...} or {"error": message}

A bad upload is refused before any work, with a one-line `detail`: 400 no file or an empty one,
413 over the limit, 415 not audio, 422 audio without music (silent); the server keeps running.
"""
from __future__ import annotations

import base64
import json
import queue
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from ..io.audio import AUDIO_EXTENSIONS, AudioReader, check_level, load_audio
from ..core.errors import AudioError, GenreTfError
from ..config import LogMelParams, ServeParams
from ..workflows.predict import Predictor

PAGE = Path(__file__).parent / "web" / "index.html"
CHUNK = 1 << 20
MULTIPART_OVERHEAD = 64 << 10  # form boundaries and headers around the file in a request body


def _status(error: AudioError) -> int:
    if error.cause.startswith(("not a readable audio file", "not an MP3 stream")):
        return 415
    return 400 if error.cause.startswith("empty file") else 422


def _refuse(error: AudioError, name: str) -> HTTPException:
    return HTTPException(_status(error), f"{name}: {error.cause}")  # the user's file name, not our temporary one


class Upload:
    """An uploaded file saved to a temporary folder under its own name (its extension tells MP3 apart),
    checked for size, for being audio and for not being silent before any work."""

    def __init__(self, file: UploadFile | None, limit_bytes: int):
        if file is None or not file.filename:
            raise HTTPException(400, "no file uploaded: send one as the multipart field 'file'")
        self.name = Path(file.filename).name
        self.folder = Path(tempfile.mkdtemp(prefix="genre-tf-upload-"))
        self.path = self.folder / self.name
        try:
            self._save(file, limit_bytes)
            reader = AudioReader(self.path)
            check_level(self.name, reader.peak(reader.source_rate), [])  # silence: refused before any work
        except AudioError as e:
            self.remove()
            raise _refuse(e, self.name) from None
        except BaseException:
            self.remove()
            raise

    def _save(self, file: UploadFile, limit_bytes: int) -> None:
        size = 0
        with open(self.path, "wb") as out:
            while chunk := file.file.read(CHUNK):
                size += len(chunk)
                if size > limit_bytes:
                    raise HTTPException(413, f"{self.name}: larger than the upload limit of {limit_bytes / 1e6:g} MB")
                out.write(chunk)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class SongLabeler:
    """A run's Predictor behind a lock (one song at a time through the model), and the page's result."""

    def __init__(self, predictor: Predictor, params: ServeParams):
        self.predictor, self.params = predictor, params
        self._lock = threading.Lock()

    def info(self) -> dict:
        run = self.predictor.run
        return {"run": run.name, "inputs": run.inputs, "model": run.model, "genres": run.labels,
                "folds": len(self.predictor.models), "window_seconds": self.predictor.segment.segment_seconds,
                "max_upload_mb": self.params.max_upload_mb, "formats": list(AUDIO_EXTENSIONS)}

    def label(self, upload: Upload, spectrogram: bool, progress=None) -> dict:
        try:
            with self._lock:
                prediction = self.predictor.predict(upload.path, progress=progress)
        except AudioError as e:
            raise _refuse(e, upload.name) from None
        result = {**prediction.to_dict(), "file": upload.name, "run": self.info()}
        if spectrogram:
            result["log_mel_png"] = self.spectrogram(upload.path)
        return result

    def spectrogram(self, path: Path) -> str:
        """The song's log-mel (YAMNet's frontend; at most `spectrogram_seconds`) as a PNG data URL."""
        from ..features.logmel import log_mel
        from ..workflows.plots import log_mel_png

        audio = load_audio(path, self.predictor.segment.sample_rate, self.params.spectrogram_seconds)
        seconds = len(audio.samples) / audio.sample_rate
        frames = log_mel(audio.samples[None]).numpy()[0]
        png = log_mel_png(frames[:int(np.ceil(seconds / LogMelParams().stft_hop_seconds))], seconds)  # not YAMNet's padding
        return "data:image/png;base64," + base64.b64encode(png).decode()


def _events(labeler: SongLabeler, upload: Upload) -> Iterator[str]:
    """NDJSON lines: progress while `predict` works in a thread, then the result or the error."""
    events: queue.Queue = queue.Queue()

    def work():
        try:
            events.put({"result": labeler.label(upload, True, lambda done: events.put({"progress": done}))})
        except HTTPException as e:
            events.put({"error": e.detail, "status": e.status_code})
        except GenreTfError as e:
            events.put({"error": str(e), "status": 500})
        finally:
            upload.remove()
            events.put(None)

    threading.Thread(target=work, daemon=True).start()
    yield json.dumps({"progress": 0.0}) + "\n"
    while (event := events.get()) is not None:
        yield json.dumps(event) + "\n"


def create_app(predictor: Predictor, params: ServeParams = ServeParams()) -> FastAPI:
    labeler = SongLabeler(predictor, params)
    limit = int(params.max_upload_mb * 1e6)
    app = FastAPI(title="genre-tf", summary="Label a song's genre with a trained genre-tf run.")

    @app.middleware("http")
    async def refuse_large_bodies(request: Request, call_next):
        """Before the body is read: a declared length over the limit is refused at once."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            return JSONResponse({"detail": f"upload larger than the limit of {params.max_upload_mb:g} MB"}, 413)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.read_text()

    @app.get("/api/info")
    def info() -> dict:
        return labeler.info()

    @app.post("/api/predict")
    def predict(file: UploadFile | None = File(None), spectrogram: bool = False) -> dict:
        upload = Upload(file, limit)
        try:
            return labeler.label(upload, spectrogram)
        finally:
            upload.remove()

    @app.post("/api/predict/stream")
    def predict_stream(file: UploadFile | None = File(None)) -> StreamingResponse:
        return StreamingResponse(_events(labeler, Upload(file, limit)), media_type="application/x-ndjson")

    return app


def serve(predictor: Predictor, params: ServeParams = ServeParams()) -> None:
    """Run the page until Ctrl-C."""
    import uvicorn

    uvicorn.run(create_app(predictor, params), host=params.host, port=params.port, log_level="warning")
