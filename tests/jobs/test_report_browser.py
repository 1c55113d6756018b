"""The report in a real browser: Debian's headless Chromium driven by Playwright.

The job folder is served from a local HTTP server on 127.0.0.1 (as a bucket or a file
server would serve it), and the page must load without console errors, play every audio
element it shows (the browser decodes the FLAC and knows its length), and filter its rows.
A screenshot is kept under the test's tmp path and, with SONGFARM_ARTIFACTS set, there too.

Chromium comes from the Debian package `chromium` (installed here with apt-get when missing
and running as root); Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from songfarm.jobs.report import write_report
from songfarm.pipelines.delivery.manifest import current_rows

from report_fixtures import mixed_job, serve_folder

APT_TIMEOUT_S = 900


def chromium_path() -> str:
    """Debian's chromium, installed with apt-get when it is missing and this runs as root."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Debian's chromium is not installed and this is not root with apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run("apt-get update && apt-get install -y chromium", shell=True, env=env, check=True,
                       capture_output=True, timeout=APT_TIMEOUT_S)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"could not install chromium with apt-get: {exc}")
    return shutil.which("chromium") or pytest.skip("apt-get installed no chromium binary")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The mixed job's report, served over HTTP: (base URL, job folder, rows)."""
    folder = tmp_path_factory.mktemp("browser")
    job, storage, _ = mixed_job(folder)
    rows = current_rows(storage)
    write_report(storage, job, rows)
    with serve_folder(storage.location) as base:
        yield base, Path(storage.location), rows


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    with sync_api.sync_playwright() as p:
        # --no-sandbox: Chromium refuses to start its sandbox as root (a container's test run).
        chromium = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


DURATIONS_JS = """() => Promise.all([...document.querySelectorAll('audio')].map(a => new Promise(resolve => {
  const done = () => resolve({src: a.currentSrc, duration: a.duration, error: a.error && a.error.code});
  if (a.readyState >= 1 || a.error) return done();
  a.addEventListener('loadedmetadata', done, {once: true});
  a.addEventListener('error', done, {once: true});
  a.load();
})))"""


def test_report_in_chromium(served, browser, tmp_path):
    base, folder, rows = served
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # A redraw drops the rows' audio elements, cancelling their loads (net::ERR_ABORTED): not a failure.
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} {req.failure}")
            if "ERR_ABORTED" not in (req.failure or "") else None)
    page.goto(f"{base}/report.html", wait_until="load")
    page.wait_for_selector("#tracks-body tr")

    # Every track has a row, and the hostile prompt stayed text.
    body_rows = page.locator("#tracks-body tr")
    assert body_rows.count() == len(rows) + 1  # + the track not rendered yet
    assert page.title() == "songfarm report: night"
    assert "</script>" in page.locator("tr[data-id=later]").inner_text()

    # Every audio element resolves and decodes: its duration is known and matches the row.
    durations = page.evaluate(DURATIONS_JS)
    delivered = {tid: r for tid, r in rows.items() if r["status"] != "failed"}
    assert len(durations) == len(delivered)
    for d in durations:
        assert d["error"] is None and d["duration"] > 0, d
        tid = d["src"].rsplit("/", 1)[-1].split(".")[0]
        assert abs(d["duration"] - delivered[tid]["duration_s"]) < 0.1, d
    assert page.evaluate("[...document.querySelectorAll('img.spec')].every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("img.spec").count() == len(delivered)
    assert page.evaluate("[...document.querySelectorAll('figure img')].every(i => i.complete && i.naturalWidth > 0)")

    # The filters change the visible rows.
    page.select_option("#f-status", "failed")
    assert [r.get_attribute("data-id") for r in body_rows.all()] == ["bad-key"]
    page.select_option("#f-status", "rejected")
    rejected = sorted(t for t, r in rows.items() if r["status"] == "rejected")
    assert sorted(r.get_attribute("data-id") for r in body_rows.all()) == rejected
    page.select_option("#f-status", "")
    page.select_option("#f-check", "loudness:fail")
    loud_failed = sorted(t for t, r in rows.items() if r["check_loudness_passed"] is False)
    assert sorted(r.get_attribute("data-id") for r in body_rows.all()) == loud_failed
    page.select_option("#f-check", "")
    best = max(r["score"] for r in delivered.values())
    page.fill("#f-min", f"{best - 1e-9:.9f}")
    assert body_rows.count() >= 1 and all(float(r["score"]) >= best - 1e-9 for t, r in delivered.items()
                                          if t in [x.get_attribute("data-id") for x in body_rows.all()])
    page.fill("#f-min", "")
    page.select_option("#f-sort", "score-")
    first = body_rows.first.get_attribute("data-id")
    assert delivered[first]["score"] == best
    page.select_option("#f-sort", "job")
    assert body_rows.count() == len(rows) + 1

    shot = page.screenshot(full_page=True)
    (tmp_path / "report.png").write_bytes(shot)
    if os.environ.get("SONGFARM_ARTIFACTS"):
        out = Path(os.environ["SONGFARM_ARTIFACTS"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.png").write_bytes(shot)
    page.close()
    assert not problems, problems
