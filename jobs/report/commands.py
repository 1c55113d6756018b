"""The command that renders exactly some tracks of a job again (`songfarm render ... --tracks a,b`).

It starts from the newest run's own command line (the run record's `command`), so the job
file, `--output`, `--s3-endpoint` and `--address` stay as they were, and drops the options
that choose tracks: `--tracks` then chooses exactly the ones listed, whatever their status.
Without a run record it is built from the job: its source file, else `job.yaml` where that
is a local file (`load_job` reads it back), else a placeholder to fill in.
"""

from __future__ import annotations

import shlex
from typing import Any

from ...models.job import Job

# Options of `songfarm render` that choose which tracks render (value-taking or flags).
_CHOOSING = {"--rerender": True, "--tracks": True, "--force": False, "--keep-changed": False}
JOB_PLACEHOLDER = "JOB.yaml"


def render_base(job: Job, runs: list[dict[str, Any]], job_yaml: str | None = None) -> list[str]:
    """`songfarm render JOB [--output ...]` as argv, without any option that chooses tracks.
    `job_yaml` is a local path of the job's job.yaml (None on S3)."""
    for run in reversed(runs):
        try:
            argv = shlex.split(str(run.get("command") or ""))
        except ValueError:  # an unbalanced quote in a hand-edited record
            continue
        if argv[:2] == ["songfarm", "render"] and len(argv) > 2:
            return _without_choosing(argv)
    argv = ["songfarm", "render", job.source or job_yaml or JOB_PLACEHOLDER, "--output", job.output]
    return argv + (["--s3-endpoint", job.s3_endpoint] if job.s3_endpoint else [])


def _without_choosing(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _CHOOSING:
            skip = _CHOOSING[name] and "=" not in arg
            continue
        out.append(arg)
    return out


def rerender_command(base: list[str], track_ids: list[str]) -> str:
    """The shell command that renders exactly `track_ids` again."""
    return shlex.join([*base, "--tracks", ",".join(track_ids)])
