"""The HTTP side of the online endpoint, free of Ray: body parsing and validation, API-key
checks, error documents and the X-Songfarm-* response headers.

The ingress (pipelines/online/app.py) calls these; they are plain functions so the rules
are readable in one place and testable without a Serve instance.

Error documents (every 4xx/5xx the API itself produces):

    {"request_id": "…", "error": "one line", "fields": [{"field": "duration_s", "value": 900, "reason": "…"}]}

`fields` is present on 422 only. API keys are never echoed, logged or put in an error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import uuid
from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import JSONResponse

from ...models.plan import SongPlan
from ...models.request import FieldError, RequestError, TrackRequest
from ...models.verdict import Verdict
from ...models.settings import RenderSettings
from .config import Limits

FORMATS = {"flac": "audio/flac", "wav": "audio/wav"}
# Body fields that are not TrackRequest fields: how to deliver and how strictly to judge.
EXTRA_FIELDS = ("format", "min_score")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class Problem(Exception):
    """An HTTP error the API answers with a JSON error document."""

    def __init__(self, status: int, message: str, fields: list[FieldError] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.fields, self.headers = status, message, fields or [], headers or {}

    def response(self, request_id: str) -> JSONResponse:
        doc: dict[str, Any] = {"request_id": request_id, "error": self.message}
        if self.fields:
            doc["fields"] = [{"field": e.field, "value": _shown(e.value), "reason": e.reason} for e in self.fields]
        return JSONResponse(doc, status_code=self.status, headers=self.headers)


def invalid(fields: list[FieldError]) -> Problem:
    """422 naming every bad field."""
    return Problem(422, "invalid request: " + "; ".join(f"{e.field}: {e.reason}" for e in fields), fields)


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
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise Problem(413, f"request body too large: Content-Length is {int(declared)} bytes; {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise Problem(413, f"request body too large: more than {max_bytes} bytes arrived; {limit}")
    return bytes(body)


def parse_track_body(raw: bytes, limits: Limits, render: RenderSettings,
                     default_id: str) -> tuple[TrackRequest, str, float]:
    """JSON body → (request, format, min_score); raises Problem(422) listing every bad field.

    The body uses TrackRequest's field names (and its aliases) plus `format` ("flac" or
    "wav") and `min_score`; `min_score` and `candidates` default to the render settings'
    (as in a job). `id` is optional online; it names the file only when an output location
    is configured.
    """
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise invalid([FieldError("body", f"byte {exc.start}", "not UTF-8 text")]) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise invalid([FieldError("body", where, f"invalid JSON: {exc.msg}")]) from None
    if not isinstance(body, dict):
        raise invalid([FieldError("body", type(body).__name__, "must be a JSON object of track request fields")])
    errors: list[FieldError] = []
    fmt = body.pop("format", "flac")
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        errors.append(FieldError("format", fmt, f"unknown format (use one of: {', '.join(FORMATS)})"))
    else:
        fmt = fmt.lower()
    min_score = body.pop("min_score", render.min_score)
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not 0 <= min_score <= 1:
        errors.append(FieldError("min_score", min_score, "must be a number in [0, 1]"))
    body.setdefault("id", default_id)
    body.setdefault("candidates", render.candidates)
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
    """A field's value as echoed in a 422: short scalars as they are, the rest abbreviated."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # NaN is not JSON
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
