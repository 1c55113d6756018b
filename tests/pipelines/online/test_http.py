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


# --- Malformed bodies: parse_track_body answers 422 naming each bad field with its value ---

from songfarm.models.settings import RenderSettings  # noqa: E402
from songfarm.pipelines.online.config import Limits  # noqa: E402

MAX_DOC = 8192  # bytes of an error document, whatever the body held


def body(**fields) -> bytes:
    return json.dumps({"prompt": "a calm cue", **fields}, ensure_ascii=False).encode()


def nested(depth: int, inner: bytes = b"") -> bytes:
    return b"[" * depth + inner + b"]" * depth


# (case id, raw body, a field the answer must name)
MALFORMED = [
    # not JSON
    ("empty", b"", "body"),
    ("blank", b"  \n\t ", "body"),
    ("open-brace", b"{", "body"),
    ("trailing-comma", b'{"prompt": "a",}', "body"),
    ("single-quotes", b"{'prompt': 'a'}", "body"),
    ("bare-key", b'{prompt: "a"}', "body"),
    ("extra-data", b'{"prompt": "a"} tail', "body"),
    ("two-objects", b'{"prompt": "a"}{"prompt": "b"}', "body"),
    ("raw-control-char", b'{"prompt": "a\x01b"}', "body"),
    ("unterminated-string", b'{"prompt": "a', "body"),
    ("bad-escape", b'{"prompt": "\\x41"}', "body"),
    ("comment", b'// cue\n{"prompt": "a"}', "body"),
    ("leading-zero", b'{"prompt": "a", "seed": 01}', "body"),
    ("hex-number", b'{"prompt": "a", "seed": 0x10}', "body"),
    ("python-literals", b'{"prompt": "a", "seed": None}', "body"),
    # JSON, but not an object
    ("array", b"[]", "body"),
    ("array-of-object", b'[{"prompt": "a"}]', "body"),
    ("string", b'"a calm cue"', "body"),
    ("number", b"42", "body"),
    ("null", b"null", "body"),
    ("true", b"true", "body"),
    # nested too deep: a clean 422, never a RecursionError
    ("lists-100000-deep", nested(100000), "body"),
    ("objects-100000-deep", b'{"a":' * 100000 + b"1" + b"}" * 100000, "body"),
    ("moods-100000-deep", b'{"prompt": "a", "moods": ' + nested(100000) + b"}", "body"),
    ("unknown-900-deep", b'{"prompt": "a", "zz": ' + nested(900) + b"}", "zz"),
    ("genre-40-deep", b'{"prompt": "a", "genre": ' + nested(40) + b"}", "genre"),
    # huge numbers, NaN and Infinity
    ("duration-1e400", b'{"prompt": "a", "duration_s": 1e400}', "duration_s"),
    ("duration-minus-1e400", b'{"prompt": "a", "duration_s": -1e400}', "duration_s"),
    ("seed-1e400", b'{"prompt": "a", "seed": 1e400}', "seed"),
    ("seed-5000-digits", b'{"prompt": "a", "seed": 1' + b"0" * 5000 + b"}", "seed"),
    ("seed-minus-5000-digits", b'{"prompt": "a", "seed": -1' + b"0" * 5000 + b"}", "seed"),
    ("candidates-4000-digits", b'{"prompt": "a", "candidates": 9' + b"9" * 4000 + b"}", "candidates"),
    ("min-score-1e400", b'{"prompt": "a", "min_score": 1e400}', "min_score"),
    ("bpm-1e400", b'{"prompt": "a", "bpm": 1e400}', "bpm"),
    ("duration-NaN", b'{"prompt": "a", "duration_s": NaN}', "duration_s"),
    ("seed-Infinity", b'{"prompt": "a", "seed": Infinity}', "seed"),
    ("min-score-NaN", b'{"prompt": "a", "min_score": NaN}', "min_score"),
    ("bpm-minus-Infinity", b'{"prompt": "a", "bpm": -Infinity}', "bpm"),
    ("candidates-NaN", b'{"prompt": "a", "candidates": NaN}', "candidates"),
    ("id-5000-digits", b'{"prompt": "a", "id": 7' + b"0" * 5000 + b"}", "id"),
    # strings where numbers go, and the other way round
    ("duration-string", body(duration_s="20"), "duration_s"),
    ("seed-string", body(seed="7"), "seed"),
    ("candidates-string", body(candidates="2"), "candidates"),
    ("bpm-string", body(bpm="120"), "bpm"),
    ("min-score-string", body(min_score="0.5"), "min_score"),
    ("prompt-number", json.dumps({"prompt": 42}).encode(), "prompt"),
    ("key-number", body(key=5), "key"),
    ("time-signature-number", body(time_signature=3.4), "time_signature"),
    ("genre-number", body(genre=1), "genre"),
    ("reference-audio-number", body(reference_audio=3), "reference_audio"),
    # booleans for numbers
    ("duration-true", body(duration_s=True), "duration_s"),
    ("seed-false", body(seed=False), "seed"),
    ("candidates-true", body(candidates=True), "candidates"),
    ("min-score-true", body(min_score=True), "min_score"),
    ("bpm-true", body(bpm=True), "bpm"),
    # null for required fields
    ("prompt-null", json.dumps({"prompt": None}).encode(), "prompt"),
    ("prompt-missing", b"{}", "prompt"),
    ("id-null", body(id=None), "id"),
    ("seed-null", body(seed=None), "seed"),
    ("candidates-null", body(candidates=None), "candidates"),
    # unknown fields
    ("typo", body(duraton_s=4), "duraton_s"),
    ("capitalised", json.dumps({"Prompt": "a"}).encode(), "Prompt"),
    ("3000-unknown", body(**{f"f{i}": i for i in range(3000)}), "f0"),
    ("30000-char-name", body(**{"k" * 30000: 1}), "k" * 77 + "..."),
    ("control-char-names", body(**{"\x01" * 30000: "\x02" * 30000}), "\x01" * 77 + "..."),
    ("name-surrogate", b'{"prompt": "a", "\\udc00": 1}', "\\udc00"),
    # ids become file names
    ("id-newline", body(id="a\nb"), "id"),
    ("id-trailing-newline", body(id="abc\n"), "id"),
    ("id-slash", body(id="a/b"), "id"),
    ("id-backslash", body(id="a\\b"), "id"),
    ("id-dotdot", body(id=".."), "id"),
    ("id-dotdot-path", body(id="../../etc/passwd"), "id"),
    ("id-inner-dotdot", body(id="a..b"), "id"),
    ("id-hidden", body(id=".hidden"), "id"),
    ("id-nul", body(id="a\x00b"), "id"),
    ("id-escape", body(id="a\x1b[31m"), "id"),
    ("id-space", body(id="a b"), "id"),
    ("id-200-chars", body(id="x" * 200), "id"),
    ("id-100-cjk", body(id="音" * 100), "id"),  # 300 bytes in UTF-8
    ("id-empty", body(id=""), "id"),
    ("id-list", body(id=["a"]), "id"),
    ("id-float", body(id=1.5), "id"),
    ("id-surrogate", b'{"prompt": "a", "id": "x\\ud800"}', "id"),
    ("idx-slash", json.dumps({"prompt": "a", "idx": "a/b"}).encode(), "id"),
    # prompts and lyrics
    ("prompt-empty", json.dumps({"prompt": ""}).encode(), "prompt"),
    ("prompt-whitespace", json.dumps({"prompt": " \n\t\u3000"}).encode(), "prompt"),
    ("prompt-5000-chars", json.dumps({"prompt": "x" * 5000}).encode(), "prompt"),
    ("prompt-list", json.dumps({"prompt": ["a calm cue"]}).encode(), "prompt"),
    ("prompt-object", json.dumps({"prompt": {"text": "a"}}).encode(), "prompt"),
    ("prompt-true", json.dumps({"prompt": True}).encode(), "prompt"),
    ("prompt-surrogate", b'{"prompt": "a calm cue \\udfff"}', "prompt"),
    ("lyrics-number", body(lyrics=7), "lyrics"),
    ("lyrics-list", body(lyrics=["[verse]", "la"]), "lyrics"),
    ("lyrics-25000-chars", body(lyrics="la " * 8400), "lyrics"),
    # delivery format
    ("format-mp3", body(format="mp3"), "format"),
    ("format-number", body(format=5), "format"),
    ("format-null", body(format=None), "format"),
    ("format-empty", body(format=""), "format"),
    ("format-list", body(format=["flac"]), "format"),
    ("format-padded", body(format=" flac"), "format"),
    # min_score, candidates, duration, seed, bpm out of range or of the wrong kind
    ("min-score-negative", body(min_score=-0.1), "min_score"),
    ("min-score-over-1", body(min_score=1.5), "min_score"),
    ("min-score-list", body(min_score=[0.5]), "min_score"),
    ("candidates-0", body(candidates=0), "candidates"),
    ("candidates-over-limit", body(candidates=5), "candidates"),  # Limits().max_candidates is 4
    ("candidates-over-model-limit", body(candidates=100), "candidates"),
    ("candidates-float", body(candidates=2.5), "candidates"),
    ("candidates-negative", body(candidates=-1), "candidates"),
    ("duration-too-short", body(duration_s=1), "duration_s"),
    ("duration-over-limit", body(duration_s=121), "duration_s"),  # Limits().max_duration_s is 120
    ("duration-over-model-limit", body(duration_s=700), "duration_s"),
    ("duration-negative", body(duration_s=-5), "duration_s"),
    ("duration-word", body(duration_s="long"), "duration_s"),
    ("seed-negative", body(seed=-1), "seed"),
    ("seed-2**32", body(seed=2**32), "seed"),
    ("seed-2**64", body(seed=2**64), "seed"),
    ("seed-float", body(seed=1.5), "seed"),
    ("seed-list", body(seed=[7]), "seed"),
    ("bpm-10", body(bpm=10), "bpm"),
    # key, time signature, instruments: the planner's own rules
    ("key-H-major", body(key="H major"), "key"),
    ("key-C##", body(key="C##"), "key"),
    ("key-empty", body(key=""), "key"),
    ("key-30000-chars", body(key="H" * 30000), "key"),
    ("key-list", body(key=["C"]), "key"),
    ("time-signature-7/0", body(time_signature="7/0"), "time_signature"),
    ("time-signature-4/4/4", body(time_signature="4/4/4"), "time_signature"),
    ("time-signature-empty", body(time_signature=""), "time_signature"),
    ("time-signature-words", body(time_signature="waltz time"), "time_signature"),
    ("instruments-number", body(instruments=5), "instruments"),
    ("instruments-object", body(instruments={"piano": 1}), "instruments"),
    ("instruments-unknown", body(instruments=["qwertyphone"]), "instruments"),
    ("instruments-unknown-in-text", body(instruments="piano, qwertyphone"), "instruments"),
    ("instruments-numbers", body(instruments=[1, 2]), "instruments"),
    ("instruments-null-item", body(instruments=[None]), "instruments"),
    ("instruments-30000-chars", body(instruments=["x" * 30000]), "instruments"),
    ("instruments-200-unknown", body(instruments=[f"zzz{i}" for i in range(200)]), "instruments"),
    ("moods-number", body(moods=3), "moods"),
    ("moods-10000-numbers", body(moods=list(range(10000))), "moods"),
    # encodings
    ("utf8-bom", b'\xef\xbb\xbf{"prompt": "a"}', "body"),
    ("invalid-utf8", b'{"prompt": "a \xff b"}', "body"),
    ("overlong-utf8", b'{"prompt": "a \xc0\xaf"}', "body"),
    ("latin-1", '{"prompt": "café"}'.encode("latin-1"), "body"),
    ("utf16-le", '{"prompt": "a"}'.encode("utf-16-le"), "body"),
    ("utf16-bom", '{"prompt": "a"}'.encode("utf-16"), "body"),
    ("utf16-be", '{"prompt": "a"}'.encode("utf-16-be"), "body"),
    ("utf32", '{"prompt": "a"}'.encode("utf-32"), "body"),
    ("nul-byte", b'{"prompt": "a"}\x00', "body"),
    # keys given twice (as job files report them), or a field under two names
    ("prompt-twice", b'{"prompt": "a", "prompt": "b"}', "prompt"),
    ("seed-twice", b'{"prompt": "a", "seed": 1, "seed": 2}', "seed"),
    ("format-twice", b'{"prompt": "a", "format": "wav", "format": "flac"}', "format"),
    ("nested-twice", b'{"prompt": "a", "x": {"k": 1, "k": 2}}', "k"),
    ("prompt-and-alias", json.dumps({"prompt": "a", "descriptions": "b"}).encode(), "descriptions"),
    ("id-and-idx", json.dumps({"prompt": "a", "id": "x", "idx": "y"}).encode(), "idx"),
    ("duration-and-alias", json.dumps({"prompt": "a", "duration": 10, "duration_s": 20}).encode(), "duration_s"),
]


def parse(raw: bytes):
    return http.parse_track_body(raw, Limits(), RenderSettings(), "online-x")


def refused(raw: bytes) -> tuple[http.Problem, dict, int]:
    """The Problem parse_track_body raises for `raw` (nothing else may escape), its error
    document and that document's size in bytes."""
    try:
        parse(raw)
    except http.Problem as problem:
        response = problem.response("rid-1")
        assert response.status_code == problem.status
        return problem, json.loads(response.body), len(response.body)
    raise AssertionError(f"accepted: {raw[:200]!r}")


def given(raw: bytes) -> dict:
    """The body's top-level fields as far as a lenient reader sees them."""
    try:
        data = json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def test_enough_malformed_bodies():
    assert len(MALFORMED) >= 80 and len({case for case, _, _ in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize("raw, field", [(raw, field) for _, raw, field in MALFORMED],
                         ids=[case for case, _, _ in MALFORMED])
def test_malformed_body_gets_422_naming_the_field_and_its_value(raw, field):
    problem, doc, size = refused(raw)
    assert problem.status == 422
    assert size < MAX_DOC, size
    assert doc["request_id"] == "rid-1" and doc["error"].startswith("invalid request: ")
    assert doc["fields"], doc
    names = [f["field"] for f in doc["fields"]]
    assert field in names, doc
    fields = given(raw)
    for entry in doc["fields"]:
        assert isinstance(entry["field"], str) and entry["field"], entry
        assert isinstance(entry["reason"], str) and entry["reason"].strip(), entry
        value = entry["value"]
        assert value is None or isinstance(value, (bool, int, float, str)), entry
        assert not isinstance(value, str) or len(value) <= http.MAX_SHOWN_CHARS, entry
        assert not isinstance(value, int) or abs(value) < 10**18, entry
        if entry["field"] == "body" or fields.get(entry["field"]) is not None:
            assert value is not None, entry  # the body gave a value: it is shown


def test_values_are_shown_as_given_and_abbreviated():
    def value_of(raw, field):
        return next(f["value"] for f in refused(raw)[1]["fields"] if f["field"] == field)

    assert value_of(b'{"prompt": "a", "duration_s": 1e400}', "duration_s") == "inf"
    assert value_of(b'{"prompt": "a", "min_score": NaN}', "min_score") == "nan"
    assert value_of(b'{"prompt": "a", "seed": 1' + b"0" * 5000 + b"}", "seed") == \
        "1" + "0" * 19 + "... (5001 digits)"
    assert value_of(body(seed=2**64), "seed") == "18446744073709551616"[:20] + "... (20 digits)"
    assert value_of(body(seed=-1), "seed") == -1
    assert value_of(body(candidates=2.5), "candidates") == 2.5
    assert value_of(body(duration_s=True), "duration_s") is True
    assert value_of(body(format=None), "format") is None  # null as given
    assert value_of(body(id="a\nb"), "id") == "a\nb"
    assert value_of(body(key="H major"), "key") == "H major"
    assert value_of(body(instruments=[1, None, "x"]), "instruments") == '[1, null, "x"]'  # JSON, not repr
    assert value_of(body(key="H" * 30000), "key") == "H" * 77 + "..."
    assert value_of(b'{"prompt": "a", "id": "x\\ud800"}', "id") == "x\\ud800"  # encodable
    assert value_of(b'{"prompt": "a", "seed": 1, "seed": 2}', "seed") == 2  # the one JSON keeps
    assert value_of(b"[1, 2]", "body") == "[1, 2]"
    assert value_of(b"null", "body") == "null"
    assert value_of(b"", "body") == "line 1 column 1"
    assert value_of(b'{"prompt": "\xff"}', "body") == "byte 12"


def test_reasons_say_what_is_wrong():
    def reason_of(raw, field="body"):
        return next(f["reason"] for f in refused(raw)[1]["fields"] if f["field"] == field)

    assert "nested too deeply" in reason_of(nested(100000))
    assert "nested more than 32 levels" in reason_of(b'{"prompt": "a", "genre": ' + nested(40) + b"}", "genre")
    assert "byte order mark" in reason_of(b'\xef\xbb\xbf{"prompt": "a"}')
    assert "UTF-16" in reason_of('{"prompt": "a"}'.encode("utf-16-le"))
    assert reason_of(b"[]") == "must be a JSON object of track request fields (found an array)"
    assert "given twice" in reason_of(b'{"prompt": "a", "prompt": "b"}', "prompt")
    assert "same field as 'prompt'" in reason_of(json.dumps({"prompt": "a", "descriptions": "b"}).encode(),
                                                 "descriptions")
    assert "unknown field" in reason_of(body(duraton_s=4), "duraton_s")
    long_word = reason_of(body(instruments=["x" * 30000]), "instruments")
    assert long_word.startswith("unknown instrument 'xxx") and "...'" in long_word and "(known: " in long_word


def test_error_document_stays_small_and_counts_what_it_leaves_out():
    problem, doc, size = refused(body(**{f"f{i}": i for i in range(3000)}))
    assert len(problem.fields) == 3000 and size < MAX_DOC
    assert len(doc["fields"]) + doc["fields_omitted"] == 3000
    assert doc["error"].endswith("more") and len(doc["error"]) <= http.MAX_MESSAGE_CHARS
    # Escapes (a control character is six bytes of JSON) and long reasons count too.
    worst = http.invalid([http.FieldError("\x01" * 5000, "\x02" * 5000, "\x03" * 5000)] * 50)
    assert len(worst.response("r").body) < MAX_DOC
    assert len(json.loads(worst.response("r").body)["fields"]) >= 1


def test_uppercase_format_idx_and_instrument_text_are_fine():
    request, fmt, min_score = parse(body(format="WAV", min_score=0, instruments="piano, drums"))
    assert fmt == "wav" and min_score == 0.0 and request.id == "online-x" and request.instruments == ["piano", "drums"]
    request, fmt, _ = parse(json.dumps({"descriptions": "a calm cue", "idx": "my-cue", "format": "Flac"}).encode())
    assert request.id == "my-cue" and request.prompt == "a calm cue" and fmt == "flac"  # idx wins over the default
    request, _, _ = parse(body(seed=2.0, candidates=2.0, duration_s=20))
    assert request.seed == 2 and request.candidates == 2 and request.duration_s == 20.0


def test_content_length_that_is_no_ascii_number():
    # '²' passes str.isdigit but int() refuses it; Starlette reads header bytes as latin-1.
    for value in (b"\xb2", b"\xd9\xa1", b"abc", b"-5", b"1e9", b""):
        req, _ = request([b'{"prompt": "a"}'])
        req.scope["headers"].append((b"content-length", value))
        assert read(req) == b'{"prompt": "a"}'
    over, _ = request([b"x" * 2000])
    over.scope["headers"].append((b"content-length", b"\xb2"))
    with pytest.raises(http.Problem) as caught:
        read(over)  # not trusted: refused as the bytes pass the limit
    assert_413(caught.value)


def test_content_length_of_5000_digits_is_over_the_limit():
    req, sent = request([b"x"], content_length=None)
    req.scope["headers"].append((b"content-length", b"9" * 5000))
    with pytest.raises(http.Problem) as caught:
        read(req)
    assert_413(caught.value)
    assert "5000-digit" in caught.value.message and sent == []
    padded, _ = request([b"{}"], content_length=None)
    padded.scope["headers"].append((b"content-length", b"0" * 5000 + b"2"))
    assert read(padded) == b"{}"


def test_client_disconnecting_mid_body_is_no_server_error():
    headers = [(b"content-type", b"application/json"), (b"content-length", b"100")]
    scope = {"type": "http", "method": "POST", "path": "/v1/tracks", "headers": headers, "query_string": b""}
    messages = iter([{"type": "http.request", "body": b'{"prompt"', "more_body": True}, {"type": "http.disconnect"}])

    async def receive():
        return next(messages)

    with pytest.raises(http.Problem) as caught:
        read(Request(scope, receive))
    assert caught.value.status == 400 and "disconnected after 9 bytes" in caught.value.message


@pytest.mark.parametrize("raw", [b"x" * (LIMIT + 1), nested(LIMIT), body(prompt="x" * LIMIT)],
                         ids=["junk", "nested", "long-prompt"])
def test_over_the_limit_is_413_before_parsing(raw):
    req, _ = request([raw[:500], raw[500:]])
    with pytest.raises(http.Problem) as caught:
        read(req)
    assert_413(caught.value)
    assert len(caught.value.response("rid-1").body) < MAX_DOC


def test_mutated_bodies_never_escape_as_another_exception():
    """Seeded byte mutations of a full valid body: each is accepted or a bounded Problem."""
    import random

    valid = body(key="A minor", time_signature="3/4", instruments=["piano", "drums"], moods=["calm"],
                 duration_s=20, seed=7, format="wav", min_score=0.5, lyrics="[verse] la", bpm=90, id="cue-1")
    parse(valid)
    rng = random.Random(7)
    alphabet = list(b'{}[]",:0123456789.eE-+ntfalsu\\\x00\xff\xc3\xa9')
    for _ in range(2000):
        raw = bytearray(valid)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(raw))
            op = rng.random()
            if op < 0.4:
                raw[at] = rng.choice(alphabet)
            elif op < 0.7:
                del raw[at]
            else:
                raw.insert(at, rng.choice(alphabet))
        try:
            parse(bytes(raw))
        except http.Problem as problem:
            assert problem.status == 422
            doc = problem.response("rid-1")
            assert len(doc.body) < MAX_DOC and all(f["reason"] for f in json.loads(doc.body)["fields"])
