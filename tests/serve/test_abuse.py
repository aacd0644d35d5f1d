"""Bad and hostile requests: each gets a clear JSON error with the right status, and the server stays up."""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import soundfile as sf

from openclap import ClapModel
from openclap.serve import ServeLimits, create_app, serve_in_thread
from tests.serve.conftest import AUDIOCAPS, TEST_LIMITS, esc50_clips

DOG = esc50_clips()["dog"][0]
PASSWD_MARK = "root:x:0:0"


@pytest.fixture(autouse=True)
def no_unexpected_errors(caplog: pytest.LogCaptureFixture, client: httpx.Client) -> Iterator[None]:
    """Every abuse test ends with a healthy server and no 'unexpected error' (500) in its log."""
    with caplog.at_level(logging.ERROR, logger="openclap.serve"):
        yield
    assert not [r for r in caplog.records if r.name == "openclap.serve"], caplog.text
    assert client.get("/health").status_code == 200


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    message = response.json()["error"]
    assert isinstance(message, str) and "\n" not in message and "Traceback" not in message
    return message


def wav_bytes(wave: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, wave, sample_rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def classify(client: httpx.Client, name: str, data: bytes, labels: str = "dog,rain") -> httpx.Response:
    return client.post("/classify", files={"file": (name, data)}, data={"labels": labels})


def test_oversized_uploads_get_413(client: httpx.Client, server: str) -> None:
    big = b"\0" * (TEST_LIMITS.max_upload_bytes + 1)
    assert "limit of 1 MB" in error_of(classify(client, "big.wav", big), 413)
    with socket.create_connection((urlsplit(server).hostname, urlsplit(server).port), timeout=10) as sock:
        sock.sendall(b"POST /embed/audio HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n--b")
        assert _read_all(sock).startswith("HTTP/1.1 413")  # refused by its declared length, 10 GB never read

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        for _ in range(40):
            yield b"\0" * 65536

    chunked = client.post(
        "/embed/audio", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
    )
    error_of(chunked, 413)
    long_clip = sorted(AUDIOCAPS.glob("*.flac"))[0]  # 9.3 s, under the byte limit, over the 8 s limit
    seconds = sf.info(str(long_clip)).duration
    assert f"{seconds:.1f} s long; the server's limit is 8 s" in error_of(
        classify(client, long_clip.name, long_clip.read_bytes()), 413
    )


def test_non_audio_and_broken_audio(client: httpx.Client) -> None:
    data = DOG.read_bytes()
    for name, payload in {
        "notes.txt": b"just some text, not audio\n" * 20,
        "image.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "half.flac": data[: len(data) // 50],
    }.items():
        assert error_of(classify(client, name, payload), 415).startswith(f"{name}: cannot decode audio")
    assert "empty" in error_of(classify(client, "empty.wav", b""), 422)
    nan = wav_bytes(np.full(16000, np.nan, np.float32), 16000, "FLOAT")
    assert "non-finite" in error_of(classify(client, "nan.wav", nan), 422)
    slow_rate = wav_bytes(np.zeros(4000, np.float32), 4000)
    assert "outside 8000-192000 Hz" in error_of(classify(client, "low.wav", slow_rate), 422)


def test_truncated_request_body_leaves_the_server_up(server: str) -> None:
    host, port = urlsplit(server).hostname, urlsplit(server).port
    with socket.create_connection((host, port), timeout=5) as sock:
        head = "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        sock.sendall(f"{head}Content-Length: 300000\r\n\r\n--b\r\n".encode() + b"x" * 1000)
        sock.shutdown(socket.SHUT_WR)  # the client goes away in the middle of its upload
        sock.recv(4096)


def test_label_lists_are_bounded(client: httpx.Client) -> None:
    clip = DOG.read_bytes()
    too_many = ",".join(f"label {i}" for i in range(TEST_LIMITS.max_labels + 1))
    assert "33 labels; the server's limit is 32" in error_of(
        classify(client, "dog.flac", clip, too_many), 422
    )
    assert "a label of 51 characters" in error_of(classify(client, "dog.flac", clip, "dog," + "x" * 51), 422)
    assert "at least one label" in error_of(classify(client, "dog.flac", clip, " , ,\n"), 422)
    huge = ",".join(["a"] * 600_000)  # 1.2 MB of labels: refused by the body limit before parsing
    error_of(client.post("/classify", files={"file": ("dog.flac", clip)}, data={"labels": huge}), 413)
    too_long = "x" * 5000  # 5 kB in one field: refused by length before splitting
    assert "more than 32 labels can hold" in error_of(classify(client, "dog.flac", clip, too_long), 422)


def test_texts_and_queries_are_bounded(client: httpx.Client) -> None:
    assert "9 texts" in error_of(client.post("/embed/text", json={"texts": ["a"] * 9}), 422)
    assert "201 characters" in error_of(client.post("/embed/text", json={"texts": ["x" * 201]}), 422)
    assert "not valid JSON" in error_of(
        client.post("/embed/text", content=b"{", headers={"content-type": "application/json"}), 400
    )
    assert "q: must not be empty" in error_of(client.get("/search", params={"q": "   "}), 422)
    assert "top_k" in error_of(client.get("/search", params={"q": "dog", "top_k": 101}), 422)
    assert "top_k" in error_of(client.get("/search", params={"q": "dog", "top_k": "ten"}), 422)
    error_of(client.post("/search", data={"top_k": "3"}), 422)  # no file


def test_path_traversal_never_reaches_the_file_system(client: httpx.Client, server: str) -> None:
    clip = DOG.read_bytes()
    evil = "../../../../etc/passwd"
    assert classify(client, evil, clip).json()["file"] == "passwd"  # a base name for messages, nothing more
    assert (
        client.post("/embed/audio", files={"file": (evil, b"junk" * 100)})
        .json()["error"]
        .startswith("passwd:")
    )
    assert client.get("/search", params={"q": evil, "prefix": "/etc/"}).json()["hits"] == []
    assert client.get("/search", params={"q": "dog", "prefix": evil}).json()["hits"] == []
    assert classify(client, "dog.flac", clip, evil).status_code == 200  # a label is only text
    responses = [client.post("/embed/text", json={"texts": [evil]})]
    for path in (
        "/audio/..%2F..%2F..%2Fetc%2Fpasswd",
        "/audio/%2Fetc%2Fpasswd",
        "/static/..%2Fapp.py",
        "/static/app.js%00",
    ):
        responses.append(client.get(path))
        assert responses[-1].status_code in (404, 422), path
    raw = _raw_get(server, "/audio/../../../../etc/passwd") + _raw_get(
        server, "/static/../../../../etc/passwd"
    )
    assert PASSWD_MARK not in raw and " 404 " in raw
    assert all(PASSWD_MARK not in r.text for r in responses)


def _raw_get(server: str, target: str) -> str:
    """A request whose target is sent exactly as written (clients normalise '..' away)."""
    with socket.create_connection((urlsplit(server).hostname, urlsplit(server).port), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return _read_all(sock)


def _read_all(sock: socket.socket) -> str:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("latin-1")


def test_unknown_ids_and_bad_ranges(client: httpx.Client) -> None:
    assert "no item 999999" in error_of(client.get("/audio/999999"), 404)
    for bad in ("-1", "abc", str(2**70), "1.5"):
        error_of(client.get(f"/audio/{bad}"), 422)
    size = len(
        Path(client.get("/search", params={"q": "dog", "top_k": 1}).json()["hits"][0]["path"]).read_bytes()
    )
    url = client.get("/search", params={"q": "dog", "top_k": 1}).json()["hits"][0]["audio_url"]
    for header in (
        f"bytes={size}-",
        "bytes=500-100",
        "bytes=abc",
        "bytes=0-1,5-6",
        "items=0-1",
        "bytes=-0",
        "bytes=-",
    ):
        response = client.get(url, headers={"Range": header})
        error_of(response, 416)
        assert response.headers["content-range"] == f"bytes */{size}", header


def test_slow_clients_get_timeouts_while_others_are_served(server: str, client: httpx.Client) -> None:
    address = (urlsplit(server).hostname, urlsplit(server).port)
    stalled_body = socket.create_connection(address, timeout=10)
    stalled_body.sendall(
        b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 100000\r\n\r\n--b\r\n"
    )
    stalled_headers = socket.create_connection(address, timeout=10)
    stalled_headers.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
    started = time.monotonic()
    for _ in range(5):  # others are answered at once while both sockets stall
        assert client.get("/health").status_code == 200
    assert time.monotonic() - started < TEST_LIMITS.body_timeout_seconds
    reply = _read_all(stalled_body)
    assert reply.startswith("HTTP/1.1 408") and "did not arrive within 1.5 s" in reply
    assert _read_all(stalled_headers) == ""  # closed after the header timeout, without an answer
    assert time.monotonic() - started < 3 * TEST_LIMITS.header_timeout_seconds
    stalled_body.close()
    stalled_headers.close()


def test_inference_timeout_gives_503(tiny_model: ClapModel) -> None:
    app = create_app(tiny_model, None, ServeLimits(request_timeout_seconds=0.5))
    gate = threading.Event()
    app.state.engine._infer.submit(gate.wait, 30)  # the model thread is busy until the gate opens
    try:
        with serve_in_thread(app) as url:
            response = httpx.post(f"{url}/embed/text", json={"texts": ["a dog"]}, timeout=10)
            assert "did not finish within 0.5 s" in error_of(response, 503)
            assert "no index is loaded" in error_of(httpx.get(f"{url}/search", params={"q": "dog"}), 503)
            assert "no index is loaded" in error_of(httpx.get(f"{url}/audio/0"), 503)
            gate.set()
            assert httpx.post(f"{url}/embed/text", json={"texts": ["a dog"]}, timeout=10).status_code == 200
    finally:
        gate.set()
