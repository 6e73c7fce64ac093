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
413 over the limit, 415 not audio, 422 audio without music (silent, damaged, no samples), each by the
AudioError's kind (STATUS_OF_AUDIO_ERROR); the server keeps running.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import queue
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from ..config import LogMelParams, ServeParams
from ..core.errors import AudioError, AudioErrorKind, GenreTfError, first_line
from ..io.audio import AUDIO_EXTENSIONS, AudioReader, check_level, load_audio
from .spectrogram import display_log_mel

if TYPE_CHECKING:  # either labels songs; TensorFlow's is imported only where the run needs it
    from ..workflows.litert import LitePredictor
    from ..workflows.predict import Predictor

PAGE = Path(__file__).parent / "web" / "index.html"
CHUNK = 1 << 20
MULTIPART_OVERHEAD = 64 << 10  # form boundaries and headers around the file in a request body
MAX_NAME = 120  # characters of a client's file name shown in messages
DISCONNECT_POLL = 0.2  # seconds between checks that a request's client is still there


# The status of an upload refused for its audio, by the error's kind.
STATUS_OF_AUDIO_ERROR = {
    AudioErrorKind.EMPTY: 400, AudioErrorKind.TOO_LONG: 413, AudioErrorKind.NOT_AUDIO: 415,
    AudioErrorKind.INACCESSIBLE: 422, AudioErrorKind.DAMAGED: 422, AudioErrorKind.NO_SAMPLES: 422,
    AudioErrorKind.SILENT: 422,
}


def _refuse(error: AudioError, name: str) -> HTTPException:
    # the user's file name, not our temporary one
    return HTTPException(STATUS_OF_AUDIO_ERROR[error.kind], f"{name}: {error.cause}")


def display_name(filename: str) -> str:
    """The client's file name as messages show it: its last part, control characters dropped, at most
    MAX_NAME characters. It never reaches a path: the upload is saved under a name of our own."""
    name = "".join(c for c in filename.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable()).strip()
    return (name[:MAX_NAME] + "…" if len(name) > MAX_NAME else name) or "upload"


class Upload:
    """An uploaded file saved in the server's upload folder as `upload<extension>` (the extension, when it
    is an audio one, tells MP3 apart), checked for size, length, being audio and not being silent before
    any work."""

    def __init__(self, file: UploadFile | None, limit_bytes: int, root: Path, limit_seconds: float):
        if file is None or not file.filename:
            raise HTTPException(400, "no file uploaded: send one as the multipart field 'file'")
        self.name = display_name(file.filename)
        suffix = Path(self.name).suffix.lower()
        self.folder = Path(tempfile.mkdtemp(prefix="upload-", dir=root))
        self.path = self.folder / ("upload" + (suffix if suffix in AUDIO_EXTENSIONS else ""))
        self.limit_seconds = limit_seconds
        try:
            self._save(file, limit_bytes)
            reader = AudioReader(self.path, limit_seconds)
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


class Cancelled(Exception):
    """The client went away, or the server is stopping: the song's work ends at the next batch."""


class SongLabeler:
    """A run's predictor (TensorFlow's or LiteRT's) behind a lock (one song at a time through the model), and
    the page's result."""

    def __init__(self, predictor: Predictor | LitePredictor, params: ServeParams):
        self.predictor, self.params = predictor, params
        self._lock = threading.Lock()

    def info(self) -> dict:
        run = self.predictor.run
        return {"run": run.name, "inputs": run.inputs, "model": run.model, "genres": run.genres,
                "folds": len(run.model_files), "window_seconds": self.predictor.segment.segment_seconds,
                "max_upload_mb": self.params.max_upload_mb, "max_audio_seconds": self.params.max_audio_seconds,
                "formats": list(AUDIO_EXTENSIONS)}

    def label(self, upload: Upload, spectrogram: bool, progress=None, cancelled: threading.Event | None = None) -> dict:
        """The result for an upload; `cancelled`, once set, stops the work at its next batch of windows."""
        def step(done: float) -> None:
            if cancelled is not None and cancelled.is_set():
                raise Cancelled()
            if progress:
                progress(done)

        try:
            with self._lock:
                step(0.0)  # cancelled while waiting for the model
                prediction = self.predictor.predict(upload.path, progress=step, limit_seconds=upload.limit_seconds)
        except AudioError as e:
            raise _refuse(e, upload.name) from None
        result = {**prediction.to_dict(), "file": upload.name, "run": self.info()}
        if spectrogram:
            result["log_mel_png"] = self.spectrogram(upload.path)
        return result

    def spectrogram(self, path: Path) -> str:
        """The song's log-mel (YAMNet's frontend; at most `spectrogram_seconds`) as a PNG data URL."""
        from ..workflows.plots import log_mel_png

        audio = load_audio(path, LogMelParams().sample_rate, self.params.spectrogram_seconds)
        seconds = len(audio.samples) / audio.sample_rate
        png = log_mel_png(display_log_mel(audio.samples), seconds)
        return "data:image/png;base64," + base64.b64encode(png).decode()


async def _until_done(request: Request, done: threading.Event, cancelled: threading.Event) -> None:
    """Waits for `done`, polling the connection: a client that went away cancels the work."""
    while not done.is_set():
        if await request.is_disconnected():
            cancelled.set()
            return
        await asyncio.sleep(DISCONNECT_POLL)


def _work(labeler: SongLabeler, upload: Upload, spectrogram: bool, stopping: threading.Event,
          progress: bool) -> tuple[queue.Queue, threading.Event, threading.Event]:
    """Labels the upload in a thread. Returns its events (progress if asked, then the result or the error,
    then None), the event that cancels it (set too once the server is `stopping`), and the one set when done."""
    events, cancelled, done = queue.Queue(), _Cancellation(stopping), threading.Event()

    def run():
        try:
            report = (lambda fraction: events.put({"progress": fraction})) if progress else None
            events.put({"result": labeler.label(upload, spectrogram, report, cancelled)})
        except Cancelled:
            events.put({"error": "cancelled", "status": 499})
        except HTTPException as e:
            events.put({"error": e.detail, "status": e.status_code})
        except Exception as e:  # ours, or a bug: one line to the client, the server keeps serving
            events.put({"error": str(e) if isinstance(e, GenreTfError) else f"internal error ({type(e).__name__}: "
                                                                             f"{first_line(e)})", "status": 500})
        finally:
            upload.remove()
            done.set()
            events.put(None)

    threading.Thread(target=run, daemon=True).start()
    return events, cancelled, done


def create_app(predictor: Predictor | LitePredictor, params: ServeParams = ServeParams()) -> FastAPI:
    labeler = SongLabeler(predictor, params)
    limit = int(params.max_upload_mb * 1e6)
    uploads = Path(tempfile.mkdtemp(prefix="genre-tf-uploads-"))  # every upload's folder, removed on shutdown
    stopping = threading.Event()  # set on shutdown: work in progress is cancelled

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            yield
        finally:
            stopping.set()
            shutil.rmtree(uploads, ignore_errors=True)

    app = FastAPI(title="genre-tf", summary="Label a song's genre with a trained genre-tf run.", lifespan=lifespan)
    app.add_middleware(BodyLimit, limit=limit + MULTIPART_OVERHEAD, max_upload_mb=params.max_upload_mb)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.read_text()

    @app.get("/api/info")
    def info() -> dict:
        return labeler.info()

    async def _upload(file: UploadFile | None) -> Upload:
        return await asyncio.to_thread(Upload, file, limit, uploads, params.max_audio_seconds)

    @app.post("/api/predict")
    async def predict(request: Request, file: UploadFile | None = File(None), spectrogram: bool = False):
        events, cancelled, done = _work(labeler, await _upload(file), spectrogram, stopping, progress=False)
        await _until_done(request, done, cancelled)
        outcome = await asyncio.to_thread(events.get)
        if "result" in outcome:
            return outcome["result"]
        return JSONResponse({"detail": outcome["error"]}, outcome["status"])

    @app.post("/api/predict/stream")
    async def predict_stream(request: Request, file: UploadFile | None = File(None)) -> StreamingResponse:
        events, cancelled, done = _work(labeler, await _upload(file), True, stopping, progress=True)

        async def lines() -> AsyncIterator[str]:
            watcher = asyncio.create_task(_until_done(request, done, cancelled))
            try:
                yield json.dumps({"progress": 0.0}) + "\n"
                while (event := await asyncio.to_thread(events.get)) is not None:
                    yield json.dumps(event) + "\n"
            finally:
                cancelled.set()  # a client that stops reading stops the work
                watcher.cancel()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return app


class _Cancellation(threading.Event):
    """A request's cancellation: set by its own watcher, or already when the server is stopping."""

    def __init__(self, stopping: threading.Event):
        super().__init__()
        self.stopping = stopping

    def is_set(self) -> bool:
        return super().is_set() or self.stopping.is_set()


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413, whether its length is declared
    (refused before reading) or not (chunked: counted while it streams, refused once over)."""

    def __init__(self, app, limit: int, max_upload_mb: float):
        self.app, self.limit, self.max_upload_mb = app, limit, max_upload_mb

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # Connection: close, so that the server stops reading (and the client stops sending) the rest.
        refusal = JSONResponse({"detail": f"upload larger than the limit of {self.max_upload_mb:g} MB"}, 413,
                               headers={"Connection": "close"})
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await refusal(scope, receive, send)
        received, over, answered = 0, False, False

        async def counted():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    over = True
                    return {"type": "http.disconnect"}  # the app stops reading; nothing more is stored
            return message

        async def guarded(message):
            nonlocal answered
            if over:  # whatever the app answers to a body cut short, the answer is 413
                if not answered:
                    answered = True
                    await refusal(scope, receive, send)
                return
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not answered:
            await refusal(scope, receive, send)


def serve(predictor: Predictor | LitePredictor, params: ServeParams = ServeParams()) -> None:
    """Run the page until Ctrl-C or SIGTERM (work in progress is cancelled after `shutdown_seconds`)."""
    import uvicorn

    uvicorn.run(create_app(predictor, params), host=params.host, port=params.port, log_level="warning",
                timeout_graceful_shutdown=params.shutdown_seconds)
