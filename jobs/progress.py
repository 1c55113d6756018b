"""What `songfarm render` shows while it runs, and the run's log file.

The farm hands over where the run stands as data (pipelines.farm.driver.FarmProgress, at
every change); this module shows it:

- on a terminal, a live display per job (rich): a bar of tracks landed with the round and
  the time, and under it accepted, rejected and failed, the throughput (tracks and minutes of
  audio per minute) and the ETA;
- elsewhere (CI, `2> file`, --verbose beside Ray's own output), a plain line every
  `progress_s` seconds: "songfarm: job J: done 3 (1 rejected) / failed 0 / remaining 2 (...)",
  which the run's log gets either way.

The rates and the ETA are the farm's (one rule: the rate since the first track landed).

`RunLog` is the run's log file in the job's output, `logs/render-<UTC stamp>.log`: songfarm's
own lines, the driver's Ray and Ray Data log lines (cluster.connect.ray_logs) and what Ray's
C++ core writes to this process's stderr (`native_stderr`). On S3 it is written locally and
put when the run ends.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import threading
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.text import Text

from ..pipelines.delivery.storage import LocalStorage
from ..pipelines.farm.driver import FarmProgress, duration_text

LOGS_DIR = "logs/"
# Ray's own line format (ray_constants.LOGGER_FORMAT), so its lines read the same in our file.
RAY_LINE_FORMAT = "%(asctime)s\t%(levelname)s %(filename)s:%(lineno)s -- %(message)s"


def _rates(p: FarmProgress) -> list[str]:
    """'4.0 tracks/min', '1.6 audio min/min', 'ETA 30s' as far as they are known yet."""
    out = []
    if p.tracks_per_min is not None:
        out.append(f"{p.tracks_per_min:.1f} tracks/min")
    if p.audio_min_per_min is not None:
        out.append(f"{p.audio_min_per_min:.1f} audio min/min")
    if p.eta_s is not None:
        out.append(f"ETA {duration_text(p.eta_s)}")
    return out


def _rounds(p: FarmProgress) -> str:
    """'round 2/3' while the job runs round by round; '4 re-rendered' (tracks that took more
    than one round) where fused actors take each track through its rounds (round 0)."""
    if p.round:
        return f"round {p.round}/{p.max_attempts}"
    return f"{p.rerendered} re-rendered"


def plain_line(p: FarmProgress) -> str:
    """The progress line for a log or a non-interactive terminal."""
    rejected = p.counts.get("rejected", 0)
    done = f"done {p.delivered}" + (f" ({rejected} rejected)" if rejected else "")
    where = [_rounds(p), duration_text(p.elapsed_s), *_rates(p)]
    return f"songfarm: job {p.job}: {done} / failed {p.failed} / remaining {p.remaining} ({', '.join(where)})"


def live_lines(p: FarmProgress) -> tuple[str, str]:
    """The live display's text: beside the bar ('round 1/2 · 45s'), and under it (the counts
    and the rates)."""
    counts = [f"{status} {p.counts.get(status, 0)}" for status in ("accepted", "rejected", "failed")]
    return f"{_rounds(p)} · {duration_text(p.elapsed_s)}", " · ".join([*counts, *_rates(p)])


class PlainProgress:
    """A FarmProgress callback that says `plain_line` at most every `every_s` seconds while the
    run is running (how it ended, the farm says itself)."""

    def __init__(self, say: Callable[[str], None], every_s: float):
        self.say = say
        self.every_s = every_s
        self._last = time.monotonic()  # the first line after every_s, as the heartbeat's

    def __call__(self, p: FarmProgress) -> None:
        now = time.monotonic()
        if p.state == "running" and now - self._last >= self.every_s * 0.9:
            self._last = now
            self.say(plain_line(p))


class _TwoLines(Progress):
    """rich's Progress with the counts and rates on a line of their own under the bar (a
    narrow terminal would cut one long line short)."""

    status = ""

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        yield Text(self.status, no_wrap=True, overflow="ellipsis")


class LiveProgress:
    """A FarmProgress callback that keeps the job's bar and its counts live on the terminal
    (rich). Use it as a context manager: inside, lines printed to stderr or stdout appear
    above them."""

    def __init__(self, console: Console | None = None):
        self.progress = _TwoLines(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("tracks · {task.fields[where]}"),
                                  console=console or Console(stderr=True, soft_wrap=True), refresh_per_second=4)
        self._task = None

    def __enter__(self) -> "LiveProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()  # the last state stays on the screen

    def __call__(self, p: FarmProgress) -> None:
        where, status = live_lines(p)
        if self._task is None:
            self._task = self.progress.add_task(p.job, total=p.to_render, where=where)
        self.progress.status = status
        self.progress.update(self._task, completed=p.delivered + p.failed, where=where)

    def text(self, width: int = 100) -> str:
        """What the display shows now, as plain text (for a test, or a log)."""
        console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
        console.print(self.progress.get_renderable())
        return console.file.getvalue()


@contextlib.contextmanager
def progress_display(say: Callable[[str], None], every_s: float, live: bool,
                     record: Callable[[str], None] | None = None) -> Iterator[Callable]:
    """The FarmProgress callback for this run: the live display where `live` and stderr is a
    terminal (with the plain lines to `record` only, e.g. the run's log), else the plain lines
    every `every_s` seconds through `say`."""
    if live and Console(stderr=True).is_terminal:
        lines = PlainProgress(record or (lambda line: None), every_s)
        with LiveProgress() as display:
            def both(p: FarmProgress) -> None:
                display(p)
                lines(p)

            yield both
    else:
        yield PlainProgress(say, every_s)


def _writes_to_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # pytest's capture, a StringIO
        return False


class RunLog:
    """One run's log file, `<job>/logs/render-<UTC stamp>.log`.

    Lines given before `open()` are kept and written when it opens (a run that renders
    nothing opens none). `uri` is where it is (or, on S3, will be once closed)."""

    def __init__(self, storage, stamp: str | None = None):
        self.storage = storage
        self.path = f"{LOGS_DIR}render-{stamp or time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"
        self.uri = storage.uri(self.path)
        self.local: str | None = None  # the file written while the run goes on
        self.handler: logging.Handler | None = None  # for Ray's loggers (cluster.connect.ray_logs)
        self._early: list[str] = []
        self._file = None
        self._closed = False
        self._lock = threading.Lock()

    def open(self) -> "RunLog":
        if isinstance(self.storage, LocalStorage):
            self.local = self.uri
            os.makedirs(os.path.dirname(self.local), exist_ok=True)
        else:
            fd, self.local = tempfile.mkstemp(prefix="songfarm-render-", suffix=".log")
            os.close(fd)
        # Append mode (O_APPEND) for each writer: our lines, Ray's handler and the native stderr
        # each land whole at the end of the file, whoever writes.
        self._file = open(self.local, "a", buffering=1, encoding="utf-8")
        self.handler = logging.FileHandler(self.local, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter(RAY_LINE_FORMAT))
        self.handler.setLevel(logging.INFO)  # Ray Data logs DEBUG to its own file; INFO here
        for text in self._early:
            self.line(text)
        self._early.clear()
        return self

    @property
    def opened(self) -> bool:
        return self._file is not None

    def line(self, text: str) -> None:
        """One of songfarm's lines, with the time."""
        if self._closed:
            return
        if self._file is None:
            self._early.append(text)
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self._lock:
            self._file.write(f"{stamp}\t{text}\n")

    @contextlib.contextmanager
    def native_stderr(self) -> Iterator[None]:
        """Inside, what native code writes to this process's stderr (file descriptor 2) goes
        to the log file, while Python's sys.stderr keeps the terminal (a duplicate of the
        original descriptor). Ray's C++ core in the driver prints its ERROR lines there as
        well as into its own file (python-core-driver-*.log in the session's logs). The one
        every render gets, core_worker.cc's "constructor arguments in the object store and
        max_restarts > 0" (ray-project/ray#53727), is harmless here: Ray Data always ray.put()s
        a pool's MapTransformer and DataContext and passes the refs to each actor it starts
        (map_operator._map_transformer_ref), and its operator holds those refs until the
        round ends, so a restarted actor finds them, unless the driver's own node is lost,
        which ends the job anyway. The restarts themselves (max_restarts=-1) are what lets
        a pool survive a lost node, so the cause stays."""
        sys.stderr.flush()
        saved = os.dup(2)
        before = sys.stderr
        swapped = _writes_to_fd2(before)
        if swapped:
            sys.stderr = open(saved, "w", buffering=1, encoding=before.encoding, errors=before.errors, closefd=False)
        target = os.open(self.local, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(target, 2)
        os.close(target)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            if swapped:
                replaced, sys.stderr = sys.stderr, before
                replaced.close()
            os.close(saved)

    def close(self) -> str | None:
        """Close the file (on S3: put it in the job's output). Returns its URI, None if never opened."""
        if self._file is None:
            return self.uri if self._closed else None
        with self._lock:
            self._file.close()
            self._file, self._closed = None, True
        self.handler.close()
        if not isinstance(self.storage, LocalStorage):
            try:
                with open(self.local, "rb") as f:
                    self.storage.write_bytes(self.path, f.read())
            finally:
                os.unlink(self.local)
        return self.uri
