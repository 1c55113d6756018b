"""How the page links a job's files: relative paths (the default), or presigned URLs.

Relative paths (`audio/<id>.<sha12>.flac`) work wherever the job folder is opened, copied or
served from a public bucket. A private bucket serves nothing without a signature, so
`--presign HOURS` links each file by a presigned GET URL that expires after that lifetime;
a local folder has no such thing and keeps relative paths (the page says so).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ...models.errors import SongfarmError

MAX_PRESIGN_HOURS = 7 * 24  # the longest lifetime an S3 (SigV4) signature may have


class ReportError(SongfarmError):
    """A bad report option, or a location without a songfarm job."""


class Links:
    """Turns a job-relative file path into what the page's href/src holds."""

    def __init__(self, storage, presign_hours: float | None = None):
        self.storage = storage
        self.expires_s: int | None = None
        self.note = ""
        if presign_hours is None:
            return
        if not 0 < presign_hours <= MAX_PRESIGN_HOURS:
            raise ReportError(f"--presign {presign_hours:g}: must be more than 0 and at most {MAX_PRESIGN_HOURS} "
                              "hours (the longest an S3 signature lasts)")
        if storage.presign("report.html", 1) is None:
            self.note = "--presign is for S3 buckets; this folder's files are linked by relative paths."
            return
        self.expires_s = int(presign_hours * 3600)
        until = datetime.now(timezone.utc) + timedelta(seconds=self.expires_s)
        self.note = (f"Audio, stems and MIDI are linked by presigned URLs valid {presign_hours:g} h, until "
                     f"{until.isoformat(timespec='minutes')}; write the report again for new ones.")

    def src(self, path: str) -> str:
        """What links to `path` ('' for no file)."""
        if not path:
            return ""
        return self.storage.presign(path, self.expires_s) if self.expires_s else path
