"""The hostile serve pass, rerun against a real `genre-tf serve` on 127.0.0.1: requests by kind with
their status codes, a good upload timed right after each hostile one, the server's RSS over many good
uploads, and how long SIGTERM takes to stop it while it is busy.

    python scripts/bench_serve.py --run saved_models/<run> --song ../shared/data/gtzan-sample/jazz/jazz.00000.wav

The server runs as `genre-tf serve` with its defaults (50 MB uploads, 1200 s of audio per request).

Prints a markdown table; exits non-zero if any request got a 500 or the good uploads failed.
"""
from __future__ import annotations

import argparse
import collections
import glob
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "genretfbench"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode("utf-8", "surrogateescape")
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(port: int, name: str, data: bytes, path: str = "/api/predict", timeout: float = 120) -> tuple[int, str, float]:
    body, content_type = multipart(name, data)
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request("POST", path, body, {"Content-Type": content_type})
    response = connection.getresponse()
    text = response.read().decode(errors="replace")
    connection.close()
    return response.status, text, time.perf_counter() - started


def one_hertz_wav() -> bytes:
    data = np.random.default_rng(0).integers(-3000, 3000, 47 * RATE, dtype=np.int16).tobytes()  # 1.5 MB
    return (b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
            + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (1).to_bytes(4, "little")
            + (2).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
            + b"data" + len(data).to_bytes(4, "little") + data)


def long_constant_flac(folder: Path, hours: float) -> bytes:
    path = folder / "constant.flac"
    block = np.full(600 * 8000, 0.25, np.float32)
    with sf.SoundFile(path, "w", 8000, 1, "PCM_16", format="FLAC") as f:
        for _ in range(int(hours * 6)):
            f.write(block)
    return path.read_bytes()


def chunked(port: int, megabytes: int) -> tuple[int, int, bytes]:
    """A chunked upload of `megabytes` (1 MB chunks): the status code, how many MB went before the server
    cut it off, and its answer (tests/test_serve.py sends the same)."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                       b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
    connection.sendall(b"%x\r\n%s\r\n" % (len(part), part))
    sent, chunk = 0, b"\0" * (1 << 20)
    try:
        while sent < megabytes:
            connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += 1
    except OSError:
        pass
    answer = connection.recv(65536)
    connection.close()
    return int(answer.split(b" ")[1]), sent, answer


def dropped_stream(port: int, song: bytes) -> tuple[int, str, float]:
    """A streamed request whose client leaves after the first line."""
    body, content_type = multipart("long.flac", song)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("POST", "/api/predict/stream", body, {"Content-Type": content_type})
    response = connection.getresponse()
    response.readline()
    connection.close()
    return response.status, "", 0.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--song", required=True, type=Path, help="a good song (about 30 s)")
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--max-upload-mb", type=float, default=50)
    args = parser.parse_args()
    good = args.song.read_bytes()
    port = free_port()
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "genre-tf-uploads-*")))
    server = subprocess.Popen([sys.executable, "-m", "genre_tf", "serve", "--run", args.run, "--port", str(port),
                               "--max-upload-mb", str(args.max_upload_mb)], stderr=subprocess.DEVNULL)
    codes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    after_hostile, chunked_note = [], ""
    try:
        for _ in range(600):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/api/info")
                break
            except OSError:
                time.sleep(0.5)
        samples, rate = sf.read(args.song, dtype="float32")
        long_song = np.tile(samples, int(np.ceil(600 * rate / len(samples))))[:600 * rate]  # 10 min
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "long.flac"
            sf.write(path, long_song, rate, format="FLAC")
            long_bytes = path.read_bytes()
            hostile = {"WAV whose header says 1 Hz (1.5 MB)": lambda: post(port, "one-hertz.wav", one_hertz_wav()),
                       "FLAC of 10.5 h of a constant": lambda: post(port, "constant.flac",
                                                                    long_constant_flac(Path(folder), 10.5)),
                       "chunked body of 1 GB": lambda: (lambda code, sent, _: (code, f"{sent} MB sent", 0.0))(
                           *chunked(port, 1024)),
                       **{f"file name {name[:12]!r}" + (f" ({len(name)} characters)" if len(name) > 12 else ""):
                          (lambda name=name: post(port, name, good))
                          for name in ["a\0b.wav", "x" * 256 + ".wav", ".", "..", "/", "", "../../etc/passwd"]},
                       "not audio": lambda: post(port, "notes.wav", b"these are not samples"),
                       "empty file": lambda: post(port, "empty.mp3", b""),
                       **{f"dropped stream of a 10 min song ({k})": (lambda: dropped_stream(port, long_bytes))
                          for k in range(1, 6)}}
            for kind, request in hostile.items():
                status, text, _ = request()
                codes[kind][status] += 1
                if kind.startswith("chunked"):
                    chunked_note = text
                status, _, seconds = post(port, "good.wav", good)
                codes["good upload after a hostile one"][status] += 1
                after_hostile.append((kind, seconds))
            rss = [rss_mb(server.pid)]
            for k in range(args.uploads):
                status, _, _ = post(port, "good.wav", good)
                codes["good upload (RSS run)"][status] += 1
                if (k + 1) % 25 == 0:
                    rss.append(rss_mb(server.pid))
            # Stop while busy: a 10-minute song in flight, then SIGTERM.
            busy = subprocess.Popen([sys.executable, "-c", f"""
import http.client, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from bench_serve import multipart
body, t = multipart("long.flac", open({str(path)!r}, "rb").read())
c = http.client.HTTPConnection("127.0.0.1", {port}, timeout=120)
c.request("POST", "/api/predict", body, {{"Content-Type": t}})
try:
    c.getresponse().read()
except Exception:
    pass
"""])
            time.sleep(2.0)
            started = time.perf_counter()
            server.send_signal(signal.SIGTERM)
            server.wait(120)
            stop_seconds = time.perf_counter() - started
            busy.wait(120)
    finally:
        if server.poll() is None:
            server.kill()
    left = set(glob.glob(os.path.join(tempfile.gettempdir(), "genre-tf-uploads-*"))) - before
    print("| requests | status codes |\n|---|---|")
    for kind, counter in codes.items():
        print(f"| {kind} | {', '.join(f'{code} x{n}' for code, n in sorted(counter.items()))} |")
    print("\n| hostile request | good upload right after (s) |\n|---|---|")
    for kind, seconds in after_hostile:
        print(f"| {kind} | {seconds:.2f} |")
    print(f"\nchunked body of 1 GB to --max-upload-mb {args.max_upload_mb:g}: {chunked_note} before the 413")
    print(f"RSS over {args.uploads} good uploads (MB, every 25): {', '.join(f'{r:.0f}' for r in rss)}")
    print(f"SIGTERM while a 10-minute song was being labelled: stopped in {stop_seconds:.1f} s; "
          f"upload folders left behind: {len(left)}")
    failed = any(500 in c for c in codes.values()) or set(codes["good upload after a hostile one"]) != {200}
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
