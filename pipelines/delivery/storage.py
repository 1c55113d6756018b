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

Two conditional writes serve the job lease (pipelines/delivery/lease.py): `create_exclusive`
(only when the file is absent: O_EXCL locally, `If-None-Match: *` on S3) and `replace_if`
(only when the file is still the version read: a lock file locally, `If-Match: <ETag>` on
S3). A store that ignores or refuses conditional writes sets `atomic_writes = False`, and
the lease then reads back what it wrote after a settle delay.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from ...models.errors import SongfarmError

T = TypeVar("T")

# The process umask, read once: mkstemp creates 0600 files, and a delivered file should get
# the mode any other file written here gets (0644 under the usual umask 022). os.umask can
# only be read by setting it, so set it and put it back at once.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK

# Names in the job folder that are not content: temp files of an atomic write, lock files.
_HIDDEN_PREFIXES = (".tmp-", ".lock-")

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

    @classmethod
    def from_env(cls) -> "RetryConfig":
        """The defaults, with SONGFARM_STORE_RETRIES (tries per operation) and
        SONGFARM_STORE_TIMEOUT_S (connect and read timeout) where set: a test, or an operator
        who wants a run to give up sooner on a dead store."""
        config = cls()
        try:
            if os.environ.get("SONGFARM_STORE_RETRIES"):
                config.attempts = max(1, int(os.environ["SONGFARM_STORE_RETRIES"]))
            if os.environ.get("SONGFARM_STORE_TIMEOUT_S"):
                config.connect_timeout_s = config.read_timeout_s = float(os.environ["SONGFARM_STORE_TIMEOUT_S"])
        except ValueError as exc:
            raise StorageError(f"SONGFARM_STORE_RETRIES / SONGFARM_STORE_TIMEOUT_S: not a number ({exc})") from None
        return config


def check_relpath(path: str) -> str:
    """Reject paths that could leave the storage root (track ids are validated earlier too)."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
        raise StorageError(f"unsafe storage path {path!r}")
    return path


def _hidden(name: str) -> bool:
    return name.startswith(_HIDDEN_PREFIXES)


class LocalStorage:
    """A folder on local disk (or a mounted network file system)."""

    atomic_writes = True  # O_EXCL and the lock file make both conditional writes atomic

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().absolute()
        self.location = str(self.root)

    def uri(self, path: str) -> str:
        return str(self.root / check_relpath(path))

    def relpath(self, uri: str) -> str | None:
        """The path relative to this folder of one of its file URIs (None when it is elsewhere)."""
        base = str(self.root) + "/"
        return uri[len(base):] if uri.startswith(base) else None

    def write_bytes(self, path: str, data: bytes) -> str:
        """Write atomically (temp file + rename); returns the file's URI."""
        target = self.root / check_relpath(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix="-" + target.name)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    os.fchmod(f.fileno(), FILE_MODE)  # mkstemp's 0600 → what the umask allows
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
        return sorted(self.list_sizes(prefix))

    def list_sizes(self, prefix: str = "") -> dict[str, int]:
        """path → size in bytes of the files under `prefix`, from one walk (temp files skipped)."""
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return {}
        out = {}
        for p in base.rglob("*"):
            if _hidden(p.name):
                continue
            try:
                st = p.stat()
            except FileNotFoundError:  # renamed or deleted while we walked
                continue
            if p.is_file():
                out[p.relative_to(self.root).as_posix()] = st.st_size
        return out

    def delete(self, path: str) -> None:
        (self.root / check_relpath(path)).unlink(missing_ok=True)

    def presign(self, path: str, expires_s: int) -> None:
        """No presigned URLs for a folder: its files are linked by relative paths (report.html)."""
        return None

    def check_writable(self) -> None:
        """Raise StorageError (before any rendering) when the folder cannot be created or written."""
        probe = ".songfarm-write-probe"
        self.write_bytes(probe, b"ok")
        self.delete(probe)

    # Conditional writes (the job lease). A local version token is a hash of the content:
    # unlike inode and mtime it cannot repeat when the file is rewritten within one clock tick.

    @staticmethod
    def _token(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()[:32]

    def read_versioned(self, path: str) -> tuple[bytes, str]:
        """(bytes, version token) of a file; FileNotFoundError when it does not exist."""
        data = self.read_bytes(path)
        return data, self._token(data)

    def create_exclusive(self, path: str, data: bytes) -> str | None:
        """Create the file only when it does not exist (O_EXCL, atomic): its version token, or
        None when it already existed."""
        target = self.root / check_relpath(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
            except FileExistsError:
                return None
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            return self._token(data)
        except OSError as exc:
            raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from exc

    def replace_if(self, path: str, data: bytes | None, token: str) -> str | None:
        """Replace the file (or delete it, `data=None`) only when it is still the version
        `token`: the new token ('' after a delete), or None when it changed or vanished.

        Every caller holds an exclusive flock on `.lock-<name>` beside the file while it
        compares and renames, so two drivers cannot both replace the same version."""
        target = self.root / check_relpath(path)
        lock = target.with_name(".lock-" + target.name)
        try:
            with open(lock, "a+b") as lf:  # never deleted: unlinking a lock file races with its users
                fcntl.flock(lf.fileno(), fcntl.LOCK_EX)
                try:
                    current = self._token(target.read_bytes())
                except FileNotFoundError:
                    return None
                if current != token:
                    return None
                if data is None:
                    target.unlink()
                    return ""
                self.write_bytes(path, data)
                return self._token(data)
        except OSError as exc:
            raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from exc


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
        self.retry = retry or RetryConfig.from_env()
        self.endpoint_url = endpoint_url
        # Conditional puts (If-None-Match / If-Match) are atomic on AWS S3 and recent MinIO,
        # Ceph and moto; a store that answers NotImplemented turns this off (see replace_if).
        self.atomic_writes = True
        # Retries are ours (with a clear final message), so botocore tries each call once.
        # SigV4 ("s3v4") for presigned URLs too: botocore would otherwise presign with the legacy
        # SigV2, which newer regions and stores refuse (requests are SigV4 either way).
        config = Config(retries={"total_max_attempts": 1}, connect_timeout=self.retry.connect_timeout_s,
                        read_timeout=self.retry.read_timeout_s, signature_version="s3v4")
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

    def relpath(self, uri: str) -> str | None:
        """The path relative to this prefix of one of its object URIs (None when it is elsewhere)."""
        base = f"s3://{self.bucket}/" + (self.prefix + "/" if self.prefix else "")
        return uri[len(base):] if uri.startswith(base) else None

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
        return sorted(self.list_sizes(prefix))

    def list_sizes(self, prefix: str = "") -> dict[str, int]:
        """path → size in bytes of the objects under `prefix`, from one listing."""
        base = self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        if prefix.endswith("/") and not base.endswith("/"):
            base += "/"
        strip = len(self.prefix) + 1 if self.prefix else 0

        def list_all() -> dict[str, int]:
            sizes, token = {}, None
            while True:
                kwargs = {"Bucket": self.bucket, "Prefix": base}
                if token:
                    kwargs["ContinuationToken"] = token
                page = self._client.list_objects_v2(**kwargs)
                sizes.update({o["Key"][strip:]: int(o["Size"]) for o in page.get("Contents", [])})
                if not page.get("IsTruncated"):
                    return sizes
                token = page["NextContinuationToken"]

        return self._call(f"list {prefix or '/'}", list_all)

    def presign(self, path: str, expires_s: int) -> str:
        """A GET URL for the object valid `expires_s` seconds (SigV4 allows at most 7 days):
        the report's links into a private bucket. Signed here, no request is sent."""
        return self._client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": self._key(path)},
                                                   ExpiresIn=int(expires_s))

    def delete(self, path: str) -> None:
        key = self._key(path)
        self._call(f"delete {path}", lambda: self._client.delete_object(Bucket=self.bucket, Key=key))

    def check_writable(self) -> None:
        """Raise StorageError (before any rendering) when the bucket is missing, denied or unreachable."""
        probe = ".songfarm-write-probe"
        self.write_bytes(probe, b"ok")
        self.delete(probe)

    # Conditional writes (the job lease). The version token is the object's ETag.

    def read_versioned(self, path: str) -> tuple[bytes, str]:
        """(bytes, ETag) of an object; FileNotFoundError when it does not exist."""
        key = self._key(path)

        def get() -> tuple[bytes, str]:
            obj = self._client.get_object(Bucket=self.bucket, Key=key)
            return obj["Body"].read(), obj["ETag"]

        return self._call(path, get)

    def _conditional_put(self, path: str, data: bytes, **condition: str) -> str | None:
        """put_object with If-None-Match / If-Match: the new ETag, None when the condition failed,
        or raise _NotSupported when the store refuses conditional writes."""
        from botocore.exceptions import ClientError

        key = self._key(path)

        def put() -> str | None:
            try:
                return self._client.put_object(Bucket=self.bucket, Key=key, Body=data, **condition)["ETag"]
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                # 412: the condition failed; 409: a concurrent conditional write to the same key won.
                if status in (409, 412) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                    return None
                if status == 501 or code == "NotImplemented":
                    raise _NotSupported() from None
                raise

        return self._call(f"put {path}", put)

    def create_exclusive(self, path: str, data: bytes) -> str | None:
        """Create the object only when it does not exist (If-None-Match: *): its ETag, or None
        when it already existed. A store without conditional puts gets exists-then-put, which
        is not atomic (`atomic_writes` turns False, and the lease reads back what it wrote)."""
        if self.atomic_writes:
            try:
                return self._conditional_put(path, data, IfNoneMatch="*")
            except _NotSupported:
                self.atomic_writes = False
        if self.exists(path):
            return None
        self.write_bytes(path, data)
        return self.read_versioned(path)[1]

    def replace_if(self, path: str, data: bytes | None, token: str) -> str | None:
        """Replace the object (or delete it, `data=None`) only when its ETag is still `token`:
        the new ETag ('' after a delete), or None when it changed or vanished. Deletes (and
        puts on a store without conditional writes) compare first and then act: a small window
        the lease covers by reading back and by each heartbeat checking the holder."""
        if data is not None and self.atomic_writes:
            try:
                return self._conditional_put(path, data, IfMatch=token)
            except _NotSupported:
                self.atomic_writes = False
        try:
            current = self.read_versioned(path)[1]
        except FileNotFoundError:
            return None
        if current != token:
            return None
        if data is None:
            self.delete(path)
            return ""
        self.write_bytes(path, data)
        return self.read_versioned(path)[1]


class _NotSupported(Exception):
    """The S3 store answered NotImplemented to a conditional put."""


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
