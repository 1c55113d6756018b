"""The report of a 5,000-track job: page size, write time, and load time in headless Chromium,
against a 50-track report built the same way in the same run (the ratio is the result).

    .venv/bin/python bench/bench_report.py [--tracks 5000] [--baseline 50]

The rows are real: the mixed toy job of the tests (accepted, rejected and failed tracks,
tests/report_fixtures.py) is rendered in this process, and each big job's rows are those
rows again under new ids, rendered_at spread over an eight-hour night. Every delivered track
gets its own 3-second audio file (its template's take, rotated in time by its own amount),
so every picture is drawn and embedded, at a real spectrogram's size. Measured:

    write cold / warm   write_report with the pictures drawn / read from previews/ (s)
    page, rows, pictures   bytes of report.html, its rows JSON and its pictures JSON
    load                Chromium, served over 127.0.0.1: navigation to DOMContentLoaded (the
                        first page of rows is drawn by then) and to the load event (ms, median)
    filter, sort        one status filter and one sort by score, redrawn (ms, median)
    heap                the page's used JS heap after load (MB)

Prints a table and writes bench/results/report.json. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # report_fixtures: the toy job and the folder server

from songfarm.jobs.jobfile import job_to_yaml  # noqa: E402
from songfarm.jobs.report import REPORT_FILE, write_report  # noqa: E402
from songfarm.models.job import Job  # noqa: E402
from songfarm.models.request import TrackRequest  # noqa: E402
from songfarm.models.take import decode_audio, encode_flac  # noqa: E402
from songfarm.pipelines.delivery import manifest  # noqa: E402
from songfarm.pipelines.delivery.sink import CONTENT_ID_CHARS, sha256  # noqa: E402
from songfarm.pipelines.delivery.storage import open_storage  # noqa: E402
from report_fixtures import mixed_job, page_json, serve_folder, write_run_record  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "report.json"
NIGHT = timedelta(hours=8)
PART_ROWS = 500  # manifest rows per part
LOADS = 3  # page loads per size (the median is kept)


def variant(audio: np.ndarray, i: int) -> np.ndarray:
    """Track i's own audio: a delivered take rotated in time by an amount of its own, so every
    picture differs and looks like music (its size is a real spectrogram's)."""
    return np.roll(audio, (i * 7919) % audio.shape[-1], axis=-1)


def big_job(folder: Path, n: int, templates: list[dict], takes: dict[str, tuple]) -> tuple[Job, object, dict]:
    """A job of `n` tracks whose rows are `templates` again under new ids, each with its own
    audio made from the template's take (`takes`: track id → (audio, sample rate))."""
    name = f"big{n}"
    job = Job(name=name, output=str(folder), tracks=[TrackRequest.from_dict(
        {"id": f"t{i:05d}", "prompt": templates[i % len(templates)]["prompt"]})
        for i in range(n)])
    storage = open_storage(job.location)
    storage.write_bytes("job.yaml", job_to_yaml(job).encode("utf-8"))
    start = datetime.now(timezone.utc) - NIGHT
    rows = []
    for i, track in enumerate(job.tracks):
        template = templates[i % len(templates)]
        row = {k: v for k, v in template.items() if k in manifest.SCHEMA.names}
        row.update(track_id=track.id, job=name, rendered_at=start + NIGHT * (i / n), stems_json="{}",
                   midi_file="", midi_uri="", midi_bytes=0, midi_sha256="")
        if row["status"] != "failed":
            audio, sr = takes[template["track_id"]]
            data = encode_flac(variant(audio, i), sr)
            path = f"audio/{track.id}.{sha256(data)[:CONTENT_ID_CHARS]}.flac"
            row.update(audio_file=path, audio_uri=storage.write_bytes(path, data), audio_bytes=len(data),
                       audio_sha256=sha256(data))
        rows.append(manifest.make_row(**row))
    for first in range(0, n, PART_ROWS):
        storage.write_bytes(manifest.part_name(), manifest.to_parquet(rows[first:first + PART_ROWS]))
    write_run_record(storage, job, f"songfarm render {name}.yaml")
    return job, storage, {r["track_id"]: r for r in rows}


def write_times(job: Job, storage, rows: dict) -> dict:
    t0 = time.perf_counter()
    write_report(storage, job, rows)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    uri = write_report(storage, job, rows)
    warm = time.perf_counter() - t0
    html = Path(uri).read_text(encoding="utf-8")
    return {"tracks": len(rows), "write_cold_s": cold, "write_warm_s": warm, "page_bytes": len(html.encode()),
            "rows_json_bytes": len(json.dumps(page_json(html, "rows-data"), ensure_ascii=False).encode()),
            "pictures_bytes": sum(len(u) for u in page_json(html, "pictures-data").values()),
            "pictures": len(page_json(html, "pictures-data"))}


INTERACT_JS = """() => {
  const time = (id, value) => { const el = document.getElementById(id); const t = performance.now();
    el.value = value; el.dispatchEvent(new Event('input')); return performance.now() - t; };
  const filter = time('f-status', 'rejected'); time('f-status', '');
  const sort = time('f-sort', 'score-'); time('f-sort', 'job');
  const nav = performance.getEntriesByType('navigation')[0];
  return {dom_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd, filter_ms: filter, sort_ms: sort,
          heap_mb: performance.memory ? performance.memory.usedJSHeapSize / 1e6 : null,
          rows_drawn: document.querySelectorAll('#tracks-body tr').length};
}"""


def browser_times(folders: dict[int, str]) -> dict[int, dict]:
    """Median load and interaction times per job size in Debian's chromium (empty without it)."""
    chromium = shutil.which("chromium")
    if not chromium:
        print("chromium not installed (apt-get install chromium): load times not measured", file=sys.stderr)
        return {}
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--enable-precise-memory-info"])
        for n, folder in folders.items():
            with serve_folder(folder) as base:
                samples = []
                for _ in range(LOADS):
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.goto(f"{base}/{REPORT_FILE}", wait_until="load")
                    samples.append(page.evaluate(INTERACT_JS))
                    page.close()
            out[n] = {k: statistics.median(s[k] for s in samples) if samples[0][k] is not None else None
                      for k in samples[0]}
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=5000, help="tracks of the big job (default 5000)")
    parser.add_argument("--baseline", type=int, default=50, help="tracks of the baseline job (default 50)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        folder = Path(scratch)
        (folder / "seed").mkdir()
        _, seed_store, _ = mixed_job(folder / "seed")
        templates = list(manifest.current_rows(seed_store).values())
        takes = {r["track_id"]: decode_audio(seed_store.read_bytes(r["audio_file"]))
                 for r in templates if r["status"] != "failed"}
        results, folders = {}, {}
        for n in (args.baseline, args.tracks):
            t0 = time.perf_counter()
            job, storage, rows = big_job(folder, n, templates, takes)
            print(f"built {n} tracks in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            results[n] = write_times(job, storage, rows)
            folders[n] = storage.location
        for n, times in browser_times(folders).items():
            results[n].update(times)
    big, base = results[args.tracks], results[args.baseline]
    ratios = {k: big[k] / base[k] for k in big if isinstance(big[k], (int, float)) and base.get(k)}
    cols = list(big)
    print(f"{'':>20}" + "".join(f"{n:>12}" for n in (args.baseline, args.tracks)) + f"{'ratio':>10}")
    for k in cols:
        def cell(v):
            return f"{v:>12.3f}" if isinstance(v, float) else f"{v:>12}"
        print(f"{k:>20}" + cell(base.get(k)) + cell(big[k]) + (f"{ratios[k]:>10.1f}" if k in ratios else ""))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"command": " ".join(sys.argv), "sizes": {str(n): r for n, r in results.items()},
                                   "ratio": ratios}, indent=1))
    print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
