"""pipelines/online/http.py's body limit on hand-built starlette Requests (no Serve, no Ray).

A body over `limits.max_body_bytes` answers 413 whose error document names the limit:
refused from its Content-Length before a byte is read, or, when the header is missing or
too small, as soon as what arrives passes the limit.
"""

import asyncio
import json

import pytest
from starlette.requests import Request

from songfarm.pipelines.online import http

LIMIT = 1024


def request(chunks: list[bytes], content_length: int | None = None) -> tuple[Request, list[int]]:
    """A POST whose body arrives in `chunks`; also the list of chunks handed out so far."""
    headers = [(b"content-type", b"application/json")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {"type": "http", "method": "POST", "path": "/v1/tracks", "headers": headers, "query_string": b""}
    sent: list[int] = []

    async def receive():
        i = len(sent)
        sent.append(i)
        if i >= len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[i], "more_body": i < len(chunks) - 1}

    return Request(scope, receive), sent


def read(req: Request) -> bytes:
    return asyncio.run(http.read_body(req, LIMIT))


def assert_413(exc: http.Problem) -> None:
    assert exc.status == 413
    response = exc.response("rid-1")
    assert response.status_code == 413
    doc = json.loads(response.body)
    assert doc["request_id"] == "rid-1" and "fields" not in doc
    assert f"{LIMIT} bytes" in doc["error"] and "max_body_bytes" in doc["error"]


def test_declared_length_over_the_limit_is_refused_before_reading():
    req, sent = request([b"x" * (5 * 2**20)], content_length=5 * 2**20)  # a 5 MB body
    with pytest.raises(http.Problem) as caught:
        read(req)
    assert_413(caught.value)
    assert str(5 * 2**20) in caught.value.message
    assert sent == []  # not one chunk was asked for


@pytest.mark.parametrize("content_length", [None, 10], ids=["chunked", "understated"])
def test_streamed_body_over_the_limit_is_refused_once_it_passes(content_length):
    chunks = [b"x" * 600] * 10  # 6000 bytes; the limit is passed in the second chunk
    req, sent = request(chunks, content_length=content_length)
    with pytest.raises(http.Problem) as caught:
        read(req)
    assert_413(caught.value)
    assert len(sent) == 2  # stopped reading there


def test_body_at_the_limit_is_read_whole():
    body = json.dumps({"prompt": "a waltz", "pad": "x" * (LIMIT - 30)}).encode()[:LIMIT]
    req, _ = request([body[:100], body[100:]], content_length=len(body))
    assert read(req) == body and len(body) == LIMIT
    empty, _ = request([b""], content_length=0)
    assert read(empty) == b""
