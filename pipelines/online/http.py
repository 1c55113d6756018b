"""The HTTP side of the online endpoint, free of Ray: body parsing and validation, API-key
checks, error documents and the X-Songfarm-* response headers.

The ingress (pipelines/online/app.py) calls these; they are plain functions so the rules
are readable in one place and testable without a Serve instance.

Error documents (every 4xx/5xx the API itself produces):

    {"request_id": "…", "error": "one line", "fields": [{"field": "duration_s", "value": 900, "reason": "…"}]}

`fields` is present on 422 only. API keys are never echoed, logged or put in an error.
Every document stays small whatever the body held (under 8 KB): field names and values are
abbreviated (`_shown`), reasons bounded, and when the fields do not all fit, the first ones
are listed and `fields_omitted` counts the rest.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import re
import uuid
from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from ...models.plan import SongPlan
from ...models.request import ALIASES, FieldError, RequestError, TrackRequest
from ...models.verdict import Verdict
from ...models.settings import RenderSettings
from .config import Limits

FORMATS = {"flac": "audio/flac", "wav": "audio/wav"}
# Body fields that are not TrackRequest fields: how to deliver and how strictly to judge.
EXTRA_FIELDS = ("format", "min_score")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# A track request is an object of scalars and lists of text: anything nested deeper is refused
# before it is looked at (no recursion over what a client sent).
MAX_DEPTH = 32
# Bounds of an error document (a body of 10**4 bad fields, or one 60 KB key, still answers
# a few KB): characters of a field name or value shown, of a reason, of the one-line error,
# fields listed, and bytes of the whole document.
MAX_SHOWN_CHARS = 80
MAX_REASON_CHARS = 800
MAX_MESSAGE_CHARS = 500
MAX_FIELDS_SHOWN = 20
MAX_DOC_BYTES = 7000


class Problem(Exception):
    """An HTTP error the API answers with a JSON error document."""

    def __init__(self, status: int, message: str, fields: list[FieldError] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.fields, self.headers = status, message, fields or [], headers or {}

    def response(self, request_id: str) -> JSONResponse:
        doc: dict[str, Any] = {"request_id": request_id, "error": _cut(_printable(self.message), MAX_MESSAGE_CHARS)}
        if self.fields:
            shown = [{"field": _shown_name(e.field), "value": _shown(e.value), "reason": _reason(e.reason)}
                     for e in self.fields[:MAX_FIELDS_SHOWN]]
            # The first field always; then as many as fit in MAX_DOC_BYTES.
            size = len(_json_bytes(doc)) + 64
            for n, entry in enumerate(shown):
                size += len(_json_bytes(entry)) + 1
                if n and size > MAX_DOC_BYTES:
                    shown = shown[:n]
                    break
            doc["fields"] = shown
            if len(shown) < len(self.fields):
                doc["fields_omitted"] = len(self.fields) - len(shown)
            # Escapes count (a control character is six bytes of JSON): halve the longest text
            # until even a document with one pathological field fits.
            while len(_json_bytes(doc)) > MAX_DOC_BYTES:
                texts = [(doc, "error")] + [(e, k) for e in shown for k in ("field", "value", "reason")
                                            if isinstance(e[k], str)]
                owner, key = max(texts, key=lambda t: len(t[0][t[1]]))
                if len(owner[key]) <= 8:
                    break
                owner[key] = _cut(owner[key], max(8, len(owner[key]) // 2))
        return JSONResponse(doc, status_code=self.status, headers=self.headers)


def invalid(fields: list[FieldError]) -> Problem:
    """422 naming every bad field (the one-line message: as many as fit in MAX_MESSAGE_CHARS)."""
    message = "invalid request: "
    for n, e in enumerate(fields):
        part = f"{_shown_name(e.field)}: {_reason(e.reason)}"
        if n and len(message) + len(part) > MAX_MESSAGE_CHARS:
            message += f"; and {len(fields) - n} more"
            break
        message += ("; " if n else "") + part
    return Problem(422, _cut(message, MAX_MESSAGE_CHARS), fields)


def request_id_of(request: Request) -> str:
    """Serve's request id (the proxy sets x-request-id, or keeps a caller's safe one)."""
    rid = request.headers.get("x-request-id", "")
    return rid if _SAFE_REQUEST_ID.match(rid) else uuid.uuid4().hex


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def authorized(authorization: str | None, digests: list[str]) -> bool:
    """True when no keys are configured, or the `Authorization: Bearer KEY` header holds one.

    Compares SHA-256 digests in constant time, so neither the keys nor their length leak.
    """
    if not digests:
        return True
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    presented = key_digest(token)
    return any(hmac.compare_digest(presented, d) for d in digests)


def unauthorized() -> Problem:
    return Problem(401, "missing or invalid API key: send 'Authorization: Bearer <key>'",
                   headers={"WWW-Authenticate": 'Bearer realm="songfarm"'})


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refusing more than `max_bytes` with 413 without reading it all into memory:
    a declared Content-Length over the limit is refused before any byte is read, and a body that
    declares less (or nothing: chunked) is refused as soon as what arrives passes the limit.
    The error names the limit (limits.max_body_bytes) so a client can size its request."""
    limit = f"the limit is {max_bytes} bytes (limits.max_body_bytes)"
    declared = request.headers.get("content-length", "").strip().lstrip("0") or "0"
    # ASCII digits only (str.isdigit takes '²', which int() refuses); a 5000-digit length is
    # over any limit without converting it (int() refuses over 4300 digits).
    if _DIGITS.fullmatch(declared) and (len(declared) > 18 or int(declared) > max_bytes):
        shown = declared if len(declared) <= 18 else f"a {len(declared)}-digit number of"
        raise Problem(413, f"request body too large: Content-Length is {shown} bytes; {limit}")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise Problem(413, f"request body too large: more than {max_bytes} bytes arrived; {limit}")
    except ClientDisconnect:  # nobody reads the answer; it is a client's doing, not a server error
        raise Problem(400, f"the client disconnected after {len(body)} bytes of the request body") from None
    return bytes(body)


def parse_track_body(raw: bytes, limits: Limits, render: RenderSettings,
                     default_id: str) -> tuple[TrackRequest, str, float]:
    """JSON body → (request, format, min_score); raises Problem(422) listing every bad field.

    The body uses TrackRequest's field names (and its aliases) plus `format` ("flac" or
    "wav") and `min_score`; `min_score` and `candidates` default to the render settings'
    (as in a job). `id` is optional online; it names the file only when an output location
    is configured.
    """
    body, errors = _json_body(raw)
    fmt = body.pop("format", "flac")
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        errors.append(FieldError("format", fmt, f"unknown format (use one of: {', '.join(FORMATS)})"))
    else:
        fmt = fmt.lower()
    min_score = body.pop("min_score", render.min_score)
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not 0 <= min_score <= 1:
        errors.append(FieldError("min_score", min_score, "must be a number in [0, 1]"))
    # A field given under two names (`prompt` and its alias `descriptions`): which one wins
    # would be an accident of key order; `idx` alone is the id (the default must not win over it).
    given: dict[str, str] = {}
    for name, value in body.items():
        canonical = ALIASES.get(name, name)
        if canonical in given:
            errors.append(FieldError(name, value, f"the same field as {given[canonical]!r}: give it once"))
        given.setdefault(canonical, name)
    if "id" not in given:
        body["id"] = default_id
    if "candidates" not in given:
        body["candidates"] = render.candidates
    request = None
    try:
        request = TrackRequest.from_dict(body)
    except RequestError as exc:
        errors.extend(exc.errors)
    if request is not None:
        errors.extend(limit_errors(request, limits))
    if errors:
        raise invalid(errors)
    return request, fmt, float(min_score)


def _json_body(raw: bytes) -> tuple[dict[str, Any], list[FieldError]]:
    """The body as a JSON object, and the problems found in it that do not stop the field
    checks (keys given twice); raises Problem(422) when it is no JSON object of fields
    whose values can safely be looked at."""
    def refuse(value: Any, reason: str) -> Problem:
        return invalid([FieldError("body", value, reason)])

    if raw.startswith(b"\xef\xbb\xbf"):
        raise refuse("byte 0", "starts with a UTF-8 byte order mark: send UTF-8 JSON without one")
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw:
        at = 0 if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.index(b"\x00")
        raise refuse(f"byte {at}", "not UTF-8 text (a byte order mark or NUL byte: UTF-16 or UTF-32?): send UTF-8 JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"byte {exc.start}", "not UTF-8 text") from None
    repeated: list[tuple[str, Any]] = []
    try:
        body = json.loads(text, object_pairs_hook=functools.partial(_json_object, repeated=repeated),
                          parse_int=_json_int)
    except json.JSONDecodeError as exc:
        raise refuse(f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}") from None
    except RecursionError:  # [[[[... 10**5 deep
        raise refuse(text, "invalid JSON: nested too deeply "
                     f"(a track request nests at most {MAX_DEPTH} levels)") from None
    if not isinstance(body, dict):
        raise refuse(text, f"must be a JSON object of track request fields (found {_json_kind(body)})")
    errors = []
    for name, value in body.items():
        if _unicode_error(name):
            errors.append(FieldError(name, value, "the field name is not valid Unicode (a lone surrogate escape)"))
        trouble = _value_trouble(value)
        if trouble:
            errors.append(FieldError(name, value, trouble))
    repeats = [FieldError(k, v, "given twice in one JSON object; JSON keeps only the last")
               for k, v in dict(reversed(repeated)).items()]
    if errors:
        raise invalid(repeats + errors)
    return body, repeats


def _json_object(pairs: list[tuple[str, Any]], repeated: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object_pairs_hook: a dict, noting each key given more than once (as jobs do)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            repeated.append((key, value))
        data[key] = value
    return data


class _LongInt(float):
    """An integer literal with more digits than int() converts (sys.get_int_max_str_digits):
    ±inf to every check (no field takes it), shown abbreviated with its digit count."""

    def __new__(cls, digits: str) -> "_LongInt":
        number = super().__new__(cls, "-inf" if digits.startswith("-") else "inf")
        number.digits = digits
        return number

    def __repr__(self) -> str:
        return f"{self.digits[:20]}... ({len(self.digits.lstrip('-'))} digits)"

    __str__ = __repr__


def _json_int(digits: str) -> int | float:
    try:
        return int(digits)
    except ValueError:
        return _LongInt(digits)


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "true/false", type(None): "null"}.get(type(value), "a number")


def _unicode_error(text: str) -> bool:
    """A lone surrogate ("\\ud800" in JSON): not text any encoder, file name or header takes."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _value_trouble(value: Any) -> str | None:
    """Why a field's value cannot be looked at safely, walking it without recursion: nested
    deeper than MAX_DEPTH, or holding text that is not valid Unicode."""
    stack = [(value, 2)]  # (item, its level): the body object is level 1
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            if _unicode_error(item):
                return "not valid Unicode text (a lone surrogate escape)"
        elif isinstance(item, (list, dict)):
            if level > MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} levels deep"
            stack.extend((v, level + 1) for v in item)  # an object's keys, then its values
            if isinstance(item, dict):
                stack.extend((v, level + 1) for v in item.values())
    return None


def limit_errors(request: TrackRequest, limits: Limits) -> list[FieldError]:
    """What this server will render, on top of the request's own checks."""
    errors = []
    if request.duration_s is not None and not limits.min_duration_s <= request.duration_s <= limits.max_duration_s:
        errors.append(FieldError("duration_s", request.duration_s,
                                 f"this server renders {limits.min_duration_s:g} to {limits.max_duration_s:g} seconds"))
    if request.candidates > limits.max_candidates:
        errors.append(FieldError("candidates", request.candidates,
                                 f"this server renders at most {limits.max_candidates} candidates a request"))
    return errors


def check_planned_duration(request: TrackRequest, plan: SongPlan, limits: Limits) -> None:
    """A length read from the prompt ("a ten-minute epic") must respect the limits too."""
    if request.duration_s is None and not limits.min_duration_s <= plan.duration_s <= limits.max_duration_s:
        raise invalid([FieldError("duration_s", plan.duration_s,
                                  f"the prompt asks for {plan.duration_s:g} s; this server renders "
                                  f"{limits.min_duration_s:g} to {limits.max_duration_s:g} seconds: give duration_s")])


def header_value(text: Any) -> str:
    """Printable ASCII kept; anything else percent-encoded (Chinese genres, '·')."""
    return "".join(c if 32 <= ord(c) < 127 else quote(c) for c in str(text))


def track_headers(track: dict[str, Any], plan: SongPlan, verdict: Verdict, uri: str | None) -> dict[str, str]:
    """The X-Songfarm-* headers of an audio response: verdict and plan summary."""
    headers = {
        "X-Songfarm-Track-Id": track["track_id"],
        "X-Songfarm-Status": track["status"],
        "X-Songfarm-Accepted": "true" if track["status"] == "accepted" else "false",
        "X-Songfarm-Score": f"{verdict.score:.4f}",
        "X-Songfarm-Failed-Checks": ",".join(verdict.failed),
        "X-Songfarm-Attempts": str(track["attempts"]),
        "X-Songfarm-Attempt": str(track["attempt"]),
        "X-Songfarm-Candidate": str(track["candidate"]),
        "X-Songfarm-Seed": str(track["seed"]),
        "X-Songfarm-Duration-S": f"{track['duration_s']:.3f}",
        "X-Songfarm-Sample-Rate": str(track["sample_rate"]),
        "X-Songfarm-Generator": f"{track['generator']} ({track['model']})",
        "X-Songfarm-Plan": plan.summary(),
        "X-Songfarm-Bpm": f"{plan.bpm:g}",
        "X-Songfarm-Key": plan.key,
        "X-Songfarm-Time-Signature": plan.time_signature,
        "X-Songfarm-Style": plan.style,
        # Compact verdict: check name → pass/fail and the measured value.
        "X-Songfarm-Verdict": json.dumps({c.name: {"passed": c.passed, "measured": c.measured}
                                          for c in verdict.checks}, separators=(",", ":")),
    }
    if uri:
        headers["X-Songfarm-Uri"] = uri
    return {k: header_value(v) for k, v in headers.items()}


def track_body_schema() -> dict[str, Any]:
    """OpenAPI schema of the POST body: TrackRequest's fields plus format and min_score."""
    schema = TypeAdapter(TrackRequest).json_schema()
    schema["title"] = "TrackBody"
    schema["required"] = ["prompt"]
    schema["properties"]["id"]["description"] = "optional; names the file when an output location is configured"
    schema["properties"]["format"] = {"type": "string", "enum": list(FORMATS), "default": "flac"}
    schema["properties"]["min_score"] = {"type": "number", "minimum": 0, "maximum": 1,
                                         "description": "accept a take at or above this verifier score"}
    return schema


def _shown(value: Any) -> Any:
    """A field's value as echoed in a 422: short scalars as they are, the rest abbreviated
    (lists and objects as JSON text, at most MAX_SHOWN_CHARS characters)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # NaN is not JSON
    if isinstance(value, int):
        text = str(value)
        return value if len(text) <= 18 else f"{text[:20]}... ({len(text.lstrip('-'))} digits)"
    text = value if isinstance(value, str) else _preview(value)
    return _cut(_printable(text), MAX_SHOWN_CHARS)


def _shown_name(name: Any) -> str:
    return _cut(_printable(str(name)), MAX_SHOWN_CHARS)


def _reason(reason: str) -> str:
    """A reason, bounded; a long value it quotes ('unknown instrument ...') abbreviated."""
    reason = _LONG_QUOTE.sub(lambda m: m.group(0)[:MAX_SHOWN_CHARS - 4] + "...'", _printable(str(reason)))
    return _cut(reason, MAX_REASON_CHARS)


_LONG_QUOTE = re.compile(rf"'[^']{{{MAX_SHOWN_CHARS},}}'")
_DIGITS = re.compile(r"[0-9]+")


def _preview(value: Any, depth: int = 0) -> str:
    """A list or object as JSON text, abbreviated: a few items a level, a few levels."""
    if depth > 3:
        return "..."
    if isinstance(value, list):
        items = [_preview(v, depth + 1) for v in value[:8]] + (["..."] if len(value) > 8 else [])
        return "[" + ", ".join(items) + "]"
    if isinstance(value, dict):
        items = [f"{json.dumps(k[:MAX_SHOWN_CHARS], ensure_ascii=False)}: {_preview(v, depth + 1)}"
                 for k, v in list(value.items())[:8]] + (["..."] if len(value) > 8 else [])
        return "{" + ", ".join(items) + "}"
    if isinstance(value, str):
        return json.dumps(value[:MAX_SHOWN_CHARS], ensure_ascii=False)
    if isinstance(value, _LongInt) or isinstance(value, int) and not isinstance(value, bool):
        return str(_shown(value))
    return json.dumps(value)  # true, false, null, numbers (NaN, Infinity as written)


def _printable(text: str) -> str:
    """Text any UTF-8 encoder takes: lone surrogates written as \\udXXX escapes."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _json_bytes(doc: Any) -> bytes:
    """As JSONResponse renders it."""
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
