"""File access for a job's location: a local folder or `s3://bucket/prefix`, one small API.

A storage object is rooted at one location (a job's `<output>/<job name>`, DESIGN.md §4)
and takes paths relative to it with `/` separators:

    store = open_storage("s3://studio/renders/night-42", s3_endpoint="http://127.0.0.1:9000")
    store.write_bytes("audio/t1.flac", data)
    store.read_bytes("job.yaml"); store.exists("audio/t1.flac"); store.list("manifest/")

Local writes go to a temporary file that is renamed into place, and an S3 put is atomic,
so a reader (or a resumed run) never sees half a file. S3 goes through boto3 with the
standard AWS credential chain (env vars, ~/.aws, instance roles) and an explicit endpoint
for MinIO / Ceph / R2 (else boto3's own AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3). Transient
S3 errors (5xx, throttling, dropped or refused connections) are retried with exponential
backoff; when the store stays down, `StorageError` names the store and the last error.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from ..models.errors import SongfarmError

T = TypeVar("T")

# S3 error codes that mean "try again later" rather than "you asked for something wrong".
_TRANSIENT_CODES = {"Throttling", "ThrottlingException", "SlowDown", "RequestTimeout", "RequestTimeoutException",
                    "InternalError", "ServiceUnavailable", "RequestLimitExceeded", "TooManyRequestsException"}


class StorageError(SongfarmError):
    """The output store cannot be used: unreachable, missing bucket, denied, not writable.

    `unavailable` marks a store that kept failing with transient errors (connection lost,
    5xx, throttling) through every retry: worth trying again later (Serve answers 503)."""

    def __init__(self, message: str, unavailable: bool = False):
        super().__init__(message)
        self.unavailable = unavailable


@dataclass
class RetryConfig:
    attempts: int = 6  # tries per operation before the store counts as down
    backoff_s: float = 0.5  # wait before the second try; doubles on each further try
    max_backoff_s: float = 8.0  # cap on one wait
    connect_timeout_s: float = 5.0  # per HTTP connection attempt
    read_timeout_s: float = 60.0  # per HTTP response


def check_relpath(path: str) -> str:
    """Reject paths that could leave the storage root (track ids are validated earlier too)."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
        raise StorageError(f"unsafe storage path {path!r}")
    return path


class LocalStorage:
    """A folder on local disk (or a mounted network file system)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().absolute()
        self.location = str(self.root)

    def uri(self, path: str) -> str:
        return str(self.root / check_relpath(path))

    def write_bytes(self, path: str, data: bytes) -> str:
        """Write atomically (temp file + rename); returns the file's URI."""
        target = self.root / check_relpath(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix="-" + target.name)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from exc
        return str(target)

    def read_bytes(self, path: str) -> bytes:
        """The file's bytes; FileNotFoundError when it does not exist."""
        target = self.root / check_relpath(path)
        try:
            return target.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot read {target}: {exc.strerror or exc}") from exc

    def exists(self, path: str) -> bool:
        return (self.root / check_relpath(path)).is_file()

    def list(self, prefix: str = "") -> list[str]:
        """Relative paths of the files under `prefix` (a folder, ending in '/'), sorted; temp files skipped."""
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return []
        out = [p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file()]
        return sorted(p for p in out if not p.rsplit("/", 1)[-1].startswith(".tmp-"))

    def delete(self, path: str) -> None:
        (self.root / check_relpath(path)).unlink(missing_ok=True)

    def check_writable(self) -> None:
        """Raise StorageError (before any rendering) when the folder cannot be created or written."""
        probe = ".songfarm-write-probe"
        self.write_bytes(probe, b"ok")
        self.delete(probe)


class S3Storage:
    """A prefix in an S3 bucket on AWS or any S3-compatible store."""

    def __init__(self, location: str, endpoint_url: str | None = None, retry: RetryConfig | None = None):
        import boto3
        from botocore.config import Config

        if not location.startswith("s3://"):
            raise StorageError(f"not an s3:// location: {location!r}")
        bucket, _, prefix = location[len("s3://"):].partition("/")
        if not bucket:
            raise StorageError(f"{location!r}: missing bucket name (use s3://bucket/prefix)")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.retry = retry or RetryConfig()
        self.endpoint_url = endpoint_url
        # Retries are ours (with a clear final message), so botocore tries each call once.
        config = Config(retries={"total_max_attempts": 1}, connect_timeout=self.retry.connect_timeout_s,
                        read_timeout=self.retry.read_timeout_s)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        session = boto3.session.Session()
        self._client = session.client("s3", endpoint_url=endpoint_url, config=config,
                                      region_name=region or session.region_name or "us-east-1")
        self.endpoint_url = self._client.meta.endpoint_url

    def _key(self, path: str) -> str:
        check_relpath(path)
        return f"{self.prefix}/{path}" if self.prefix else path

    def uri(self, path: str) -> str:
        return f"s3://{self.bucket}/{self._key(path)}"

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one S3 call, retrying transient errors with exponential backoff."""
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, NoCredentialsError

        wait, started = self.retry.backoff_s, time.monotonic()
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return fn()
            except ClientError as exc:
                err = exc.response.get("Error", {})
                code = str(err.get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                if code in ("NoSuchKey", "404") or (status == 404 and code != "NoSuchBucket"):
                    raise FileNotFoundError(f"{self.location}: {what}: not found") from None
                if code == "NoSuchBucket":
                    raise StorageError(f"{self.location}: bucket {self.bucket!r} does not exist"
                                       f"{self._at()}") from None
                if status < 500 and code not in _TRANSIENT_CODES:
                    raise StorageError(f"{self.location}: {what}: {code or status} "
                                       f"{err.get('Message', '')}{self._at()}".rstrip()) from None
                last = f"{code or status} {err.get('Message', '')}".strip()
            except NoCredentialsError:
                raise StorageError(f"{self.location}: no AWS credentials found (set AWS_ACCESS_KEY_ID and "
                                   "AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws)") from None
            except (ConnectionError, HTTPClientError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < self.retry.attempts:
                time.sleep(wait)
                wait = min(wait * 2, self.retry.max_backoff_s)
        raise StorageError(f"{self.location}{self._at()}: store unavailable, {what} failed {self.retry.attempts} "
                           f"times over {time.monotonic() - started:.1f} s; last error: {last}", unavailable=True)

    def _at(self) -> str:
        return f" (endpoint {self.endpoint_url})" if self.endpoint_url else ""

    def write_bytes(self, path: str, data: bytes) -> str:
        key = self._key(path)
        self._call(f"put {path}", lambda: self._client.put_object(Bucket=self.bucket, Key=key, Body=data))
        return self.uri(path)

    def read_bytes(self, path: str) -> bytes:
        key = self._key(path)
        return self._call(path, lambda: self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def exists(self, path: str) -> bool:
        key = self._key(path)
        try:
            self._call(path, lambda: self._client.head_object(Bucket=self.bucket, Key=key))
            return True
        except FileNotFoundError:
            return False

    def list(self, prefix: str = "") -> list[str]:
        base = self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        if prefix.endswith("/") and not base.endswith("/"):
            base += "/"
        strip = len(self.prefix) + 1 if self.prefix else 0

        def list_all() -> list[str]:
            keys, token = [], None
            while True:
                kwargs = {"Bucket": self.bucket, "Prefix": base}
                if token:
                    kwargs["ContinuationToken"] = token
                page = self._client.list_objects_v2(**kwargs)
                keys += [o["Key"][strip:] for o in page.get("Contents", [])]
                if not page.get("IsTruncated"):
                    return keys
                token = page["NextContinuationToken"]

        return sorted(self._call(f"list {prefix or '/'}", list_all))

    def delete(self, path: str) -> None:
        key = self._key(path)
        self._call(f"delete {path}", lambda: self._client.delete_object(Bucket=self.bucket, Key=key))

    def check_writable(self) -> None:
        """Raise StorageError (before any rendering) when the bucket is missing, denied or unreachable."""
        probe = ".songfarm-write-probe"
        self.write_bytes(probe, b"ok")
        self.delete(probe)


Storage = LocalStorage | S3Storage


def open_storage(location: str, s3_endpoint: str | None = None, retry: RetryConfig | None = None) -> Storage:
    """A storage object for a local folder, `file://` path or `s3://bucket/prefix`."""
    if location.startswith("s3://"):
        return S3Storage(location, endpoint_url=s3_endpoint, retry=retry)
    if location.startswith("file://"):
        return LocalStorage(location[len("file://"):])
    if "://" in location:
        scheme = location.split("://", 1)[0]
        raise StorageError(f"output {location!r}: unsupported scheme {scheme!r} (use a local folder or s3://)")
    return LocalStorage(location)
