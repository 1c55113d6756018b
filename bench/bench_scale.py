"""Benchmark: the farm's cost as the night grows — more tracks, longer tracks.

    .venv/bin/python bench/bench_scale.py                        # 100 vs 1,000 × 10 s; 10/60/180 s tracks
    .venv/bin/python bench/bench_scale.py --small 20 --large 100 # a quick look

One local Ray (every core, 127.0.0.1) serves every run, so the figures compare like with
like; each run is the farm as `songfarm render` runs it (pipelines/farm/driver.py).

1. Flat in the number of tracks (10 s tracks): wall seconds per track at `--small` and
   `--large` tracks once the first take is in (target: within 10 %; the actors' one-time
   start is shown apart, as the first take's time), stage and driver CPU per track, the
   driver's resident memory above its level before the run, the peak object-store use,
   and the cost of flushing a manifest part at the start of the run against its end (the
   sink writes only the new rows: it never re-reads the parts already written).
2. Longer tracks (10, 60, 180 s): wall and CPU seconds per second of audio for each.

Prints a table and writes bench/results/scale.json. Ratios, never absolute times, are the
targets: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_farm import ObjectStorePeak, make_job  # noqa: E402
from results_file import write_results  # noqa: E402

from songfarm.cluster.connect import connect, disconnect  # noqa: E402
from songfarm.pipelines.delivery.sink import Sink  # noqa: E402
from songfarm.pipelines.delivery.storage import open_storage  # noqa: E402
from songfarm.pipelines.farm.driver import Farm, FarmConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_FLAT = 0.10  # time per track may grow by at most this share from --small to --large tracks


def rss_bytes() -> int:
    """This process's resident set size (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakRSS:
    """Polls this process's resident memory while the block runs and keeps the peak."""

    def __init__(self, every_s: float = 0.2):
        self.every_s, self.base, self.peak = every_s, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.wait(self.every_s):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self):
        self.base = self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class TimedSink(Sink):
    """The farm's sink, timing each manifest flush: (rows written before it, seconds). It
    keeps the first row's values, for flush_probe."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.flushes: list[tuple[int, float]] = []
        self._rows_done = 0
        self.first_values: dict | None = None

    def add_row(self, values: dict) -> bool:
        self.first_values = self.first_values or dict(values)
        return super().add_row(values)

    def flush(self) -> None:
        rows = self.buffered
        t0 = time.perf_counter()
        super().flush()
        if rows:
            self.flushes.append((self._rows_done, time.perf_counter() - t0))
            self._rows_done += rows


def run(tracks: int, duration: float, work: str, address: str) -> dict:
    job = make_job(tracks, duration, None, None, f"{work}/{tracks}x{duration:g}")
    sink = TimedSink(open_storage(job.location), job.name, job.settings.delivery)
    with ObjectStorePeak(address) as store, PeakRSS() as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        farm = Farm(job, sink, FarmConfig(progress_s=10.0, progress_bars=False), log=lambda line: None)
        result = farm.run(job.tracks)
        wall, driver_cpu = time.perf_counter() - t0, time.process_time() - c0
    audio_s = tracks * duration
    cpu = sum(result.stage_cpu_s.values())
    head, tail = sink.flushes[:10], sink.flushes[-10:]
    return {"tracks": tracks, "duration_s": duration, "wall_s": wall, "first_take_s": result.first_take_s,
            "per_track_s": wall / tracks, "per_audio_s": wall / audio_s, "stage_cpu_s": result.stage_cpu_s,
            # CPU per track: stage actors' and the driver's own (robust to other work on the machine)
            "stage_cpu_per_track_s": cpu / tracks, "driver_cpu_per_track_s": driver_cpu / tracks,
            "cpu_per_audio_s": cpu / audio_s, "counts": result.counts, "rounds": result.rounds,
            "driver_rss_growth_bytes": mem.peak - mem.base, "peak_object_store_bytes": store.peak,
            "flushes": len(sink.flushes),
            "flush_first_s": statistics.fmean(s for _, s in head) if head else None,
            "flush_last_s": statistics.fmean(s for _, s in tail) if tail else None,
            "flush_last_after_rows": tail[-1][0] if tail else None,
            "_row": (sink.first_values, job.settings.delivery)}  # for flush_probe; not in the JSON


def flush_probe(values: dict, folder: str, delivery, flushes: int = 1000, window: int = 50) -> dict:
    """A flush of one manifest row, timed `flushes` times into one job folder: the median of
    the first `window` flushes against the last (a farm run's flushes carry different numbers
    of rows, so only this compares like with like). A sink that re-read its parts would grow
    with every part; ours writes the new rows only."""
    sink = Sink(open_storage(folder), "probe", delivery)
    times = []
    for i in range(flushes):
        sink.add_row({**values, "track_id": f"probe-{i:05d}"})
        t0 = time.perf_counter()
        sink.flush()
        times.append(time.perf_counter() - t0)
    first, last = statistics.median(times[:window]), statistics.median(times[-window:])
    return {"flushes": flushes, "window": window, "first_median_s": first, "last_median_s": last,
            "growth": last / first - 1}


def steady_per_track_s(run: dict) -> float:
    """Wall seconds per track once the first take is in: the per-track cost, without the
    one-time start of the actors (which a small run spreads over fewer tracks)."""
    return (run["wall_s"] - (run["first_take_s"] or 0.0)) / run["tracks"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--small", type=int, default=100, help="tracks in the small run")
    p.add_argument("--large", type=int, default=1000, help="tracks in the large run")
    p.add_argument("--lengths", default="10,60,180", help="track lengths in seconds for part 2")
    p.add_argument("--length-audio-s", type=float, default=360.0,
                   help="seconds of audio per length in part 2 (at least 2 tracks each)")
    p.add_argument("--flushes", type=int, default=1000, help="one-row manifest flushes timed in the flush probe")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "scale.json"))
    args = p.parse_args(argv)

    os.environ.setdefault("RAY_worker_niceness", "0")
    work = tempfile.mkdtemp(prefix="songfarm-scale-")
    cluster = connect(num_cpus=os.cpu_count() or 2, node_ip="127.0.0.1")
    try:
        run(4, 10.0, work, cluster.address)  # warm Ray's worker pool and imports for a fair first run
        runs = [run(n, 10.0, work, cluster.address) for n in (args.small, args.large)]
        print(f"bench: {args.small} and {args.large} tracks done", flush=True)
        lengths = [float(x) for x in args.lengths.split(",") if x]
        by_length = [run(max(2, round(args.length_audio_s / d)), d, work, cluster.address) for d in lengths]
        values, delivery = runs[-1]["_row"]
        probe = flush_probe(values, f"{work}/flush-probe", delivery, flushes=args.flushes) if values else None
    finally:
        disconnect(cluster)
        shutil.rmtree(work, ignore_errors=True)

    small, large = runs
    growth = steady_per_track_s(large) / steady_per_track_s(small) - 1
    for r in runs:
        r["steady_per_track_s"] = steady_per_track_s(r)
    for r in [*runs, *by_length]:
        r.pop("_row")
    flush_growth = probe["growth"] if probe else None
    print(f"\n{'10 s tracks':28}{small['tracks']:>12}{large['tracks']:>12}")
    def show(r: dict, key: str, fmt: str) -> str:
        v = r[key]
        if v is None:
            return "-"
        return fmt.format(v / 2**20 if key.endswith("bytes") else v * 1000 if key.startswith("flush") else v)

    for label, key, fmt in (("wall s", "wall_s", "{:.1f}"), ("wall s per track", "per_track_s", "{:.3f}"),
                            ("... after the first take", "steady_per_track_s", "{:.3f}"),
                            ("stage CPU s per track", "stage_cpu_per_track_s", "{:.3f}"),
                            ("driver CPU s per track", "driver_cpu_per_track_s", "{:.4f}"),
                            ("driver RSS growth MiB", "driver_rss_growth_bytes", "{:.1f}"),
                            ("peak object store MiB", "peak_object_store_bytes", "{:.1f}"),
                            ("manifest flush ms, first 10", "flush_first_s", "{:.2f}"),
                            ("manifest flush ms, last 10", "flush_last_s", "{:.2f}")):
        print(f"{label:28}{show(small, key, fmt):>12}{show(large, key, fmt):>12}")
    flush_text = "" if probe is None else (
        f"; a one-row manifest flush, median of the last {probe['window']} of {probe['flushes']} vs the first "
        f"{probe['window']}: {probe['first_median_s'] * 1000:.2f} → {probe['last_median_s'] * 1000:.2f} ms "
        f"({flush_growth * 100:+.0f} %)")
    print(f"time per track after the first take: {growth * 100:+.1f} % from {small['tracks']} to "
          f"{large['tracks']} tracks "
          f"(target within ±{TARGET_FLAT * 100:.0f} %: {'PASS' if abs(growth) <= TARGET_FLAT else 'FAIL'}){flush_text}")
    print(f"\n{'track length s':16}{'tracks':>8}{'wall s':>9}{'wall s / audio s':>18}{'CPU s / audio s':>17}")
    for r in by_length:
        print(f"{r['duration_s']:<16g}{r['tracks']:>8}{r['wall_s']:>9.1f}{r['per_audio_s']:>18.4f}"
              f"{r['cpu_per_audio_s']:>17.4f}")
    out = {"cpus": os.cpu_count(), "ray_start_s": cluster.start_s, "runs": runs, "by_length": by_length,
           "per_track_growth": growth, "flush_probe": probe, "flush_growth": flush_growth, "target_flat": TARGET_FLAT,
           "passed": abs(growth) <= TARGET_FLAT}
    write_results(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
