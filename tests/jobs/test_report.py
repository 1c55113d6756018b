"""jobs/report: the report page of real toy jobs rendered in this process (no Ray).

Covers: a job with accepted, rejected, failed and unrendered tracks (summary, rows, plots,
pictures and their cache, failures grouped with the command that redoes them, cost and the
estimate), `songfarm report` from the folder alone, a job with no tracks, a job on S3
(moto) with relative and with presigned links, the re-render command and the cost rule.
The page in a browser is tests/jobs/test_report_browser.py.
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from songfarm.jobs.cli import main
from songfarm.jobs.jobfile import job_to_yaml, load_job
from songfarm.jobs.report import REPORT_FILE, ReportError, write_report
from songfarm.jobs.report.commands import JOB_PLACEHOLDER, render_base
from songfarm.jobs.report.links import Links
from songfarm.jobs.report.previews import PREVIEW_DIR
from songfarm.jobs.report.usage import run_cost
from songfarm.models.job import Job
from songfarm.models.prices import Prices
from songfarm.pipelines.delivery import manifest
from songfarm.pipelines.delivery.manifest import current_rows
from songfarm.pipelines.delivery.storage import open_storage

from report_fixtures import PROMPTS, mixed_job, page_json, render_in_process, write_job_file, write_run_record


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """The mixed job (tests/report_fixtures.py) rendered once for the module."""
    job, storage, path = mixed_job(tmp_path_factory.mktemp("night"))
    return job, storage, path, current_rows(storage)


def commands_in(html: str) -> dict[str, list[str]]:
    """Each re-render command on the page: its track ids → the command's argv start."""
    found = re.findall(r"<code>(songfarm render [^<]*?) --tracks ([^<\s]+)</code>", html)
    return {ids: base for base, ids in found}


def test_report_shows_every_outcome(night):
    job, storage, path, rows = night
    html = Path(write_report(storage, job, rows)).read_text(encoding="utf-8")
    tracks = {t["id"]: t for t in page_json(html, "rows-data")}
    assert list(tracks) == ["calm-0", "calm-1", "loud-0", "loud-1", "bad-key", "later"]  # the job's order
    assert tracks["later"]["status"] == "missing" and "</script>" in tracks["later"]["prompt"]
    assert "</script><script>" not in html.split('id="rows-data">', 1)[1].split("</script>", 1)[0]

    # Failed: the stage's error, no audio.
    assert tracks["bad-key"]["status"] == "failed" and tracks["bad-key"]["audio"] == ""
    assert tracks["bad-key"]["error"].startswith("planner: ") and "H#" in tracks["bad-key"]["error"]
    # Delivered: prompt, plan in brief, every check measured/expected/passed, takes, relative links.
    delivered = {tid: r for tid, r in rows.items() if r["status"] != "failed"}
    for tid, row in delivered.items():
        t = tracks[tid]
        assert t["prompt"] == row["prompt"] and t["status"] == row["status"] and t["score"] == row["score"]
        assert set(t["plan"]) == {"bpm", "key", "metre", "genre", "sections", "bars"} and t["plan"]["sections"]
        tempo = next(c for c in t["checks"] if c["name"] == "tempo")
        assert tempo["passed"] == row["check_tempo_passed"] and tempo["unit"] == "bpm"
        assert float(tempo["measured"]) == pytest.approx(row["check_tempo_measured"], abs=0.051)  # shown to 0.1 BPM
        assert t["audio"] == row["audio_file"] and storage.exists(t["audio"]) and t["audio"].startswith("audio/")
        assert t["midi"] == row["midi_file"] and t["midi"].startswith("midi/")
        assert [k["kept"] for k in t["takes"]] == [True]
    for tid in ("loud-0", "loud-1"):  # rejected: the kept take's reason names the check that failed
        assert tracks[tid]["status"] == "rejected" and "loudness" in tracks[tid]["takes"][0]["why"]

    # Pictures: one per delivered track, embedded, cached by the audio's SHA-256.
    pictures = page_json(html, "pictures-data")
    assert {tracks[t]["pic"] for t in delivered} == set(pictures)
    assert all(uri.startswith("data:image/webp;base64,") for uri in pictures.values())
    cached = {p: Path(storage.uri(p)).stat().st_mtime_ns for p in storage.list(PREVIEW_DIR)}
    assert len(cached) == len(delivered) and all(rows[t]["audio_sha256"] in " ".join(cached) for t in delivered)
    again = Path(write_report(storage, job, rows)).read_text(encoding="utf-8")
    assert page_json(again, "pictures-data") == pictures
    assert {p: Path(storage.uri(p)).stat().st_mtime_ns for p in storage.list(PREVIEW_DIR)} == cached  # not redrawn

    # Summary: counts, cost (the job has prices), the run and its estimate.
    counts = {s: sum(1 for r in rows.values() if r["status"] == s) for s in ("accepted", "rejected", "failed")}
    for status, n in counts.items():
        assert f'<span class="pill {status}">{n} {status}</span>' in html
    assert '<span class="pill missing">1 not rendered yet</span>' in html
    assert "EUR 0.05 per CPU-hour" in html and "Cost</th><td><b>EUR " in html
    assert "Estimate against actual" in html and "from calibration: 3 tracks rendered in this process" in html
    assert "<td>wall seconds, Ray start included</td><td class=\"n\">20</td>" in html
    assert "<td>CPU hours held</td><td class=\"n\">0.008</td>" in html
    for name in ("Score distribution", "Attempts", "Planned against measured tempo", "share of the time"):
        assert name in html
    assert html.count("data:image/svg+xml;base64,") >= 5

    # Failures and rejections: every one in exactly one group, each with a command for exactly
    # its tracks, built from the run's own command without its --rerender.
    commands = commands_in(html)
    assert commands["bad-key"] == f"songfarm render {path}"
    grouped = [tid for ids in commands for tid in ids.split(",")]
    assert sorted(grouped) == sorted(t for t, r in rows.items() if r["status"] in ("failed", "rejected"))

    # Offline and portable: nothing fetched from elsewhere.
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html) and "<script src" not in html
    assert "<link rel=\"stylesheet\"" not in html


def test_songfarm_report_rewrites_the_page_from_the_folder(night, capsys):
    job, storage, path, rows = night
    storage.delete(REPORT_FILE)
    assert main(["report", storage.location]) == 0
    out, _ = capsys.readouterr()
    assert out.strip() == f"report: {storage.uri(REPORT_FILE)}"
    html = storage.read_bytes(REPORT_FILE).decode()
    # job.yaml loaded back: the track never rendered is listed; the command keeps the run's job file.
    assert [t["id"] for t in page_json(html, "rows-data")][-1] == "later"
    assert commands_in(html)["bad-key"] == f"songfarm render {path}"


def test_report_of_a_job_with_no_tracks_rendered(tmp_path, capsys):
    # Nothing at all: `songfarm report` says so (exit 2).
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no songfarm job here" in capsys.readouterr().err
    # No tracks: the page is still whole.
    storage = open_storage(str(tmp_path / "renders" / "empty"))
    html = Path(write_report(storage, Job(name="empty", output=str(tmp_path / "renders"), tracks=[]), {})).read_text()
    assert page_json(html, "rows-data") == [] and page_json(html, "pictures-data") == {}
    assert "not recorded (no run records in runs/)" in html and "None: every rendered track was accepted." in html
    assert "data:image/svg+xml" not in html  # nothing to plot
    # A job whose tracks never rendered: every track listed as not rendered yet.
    job = load_job(write_job_file(tmp_path, "later", [{"id": f"t{i}", "prompt": PROMPTS["pop"]} for i in range(3)]))
    storage = open_storage(job.location)
    storage.write_bytes("job.yaml", job_to_yaml(job).encode())
    assert main(["report", job.location]) == 0
    html = storage.read_bytes(REPORT_FILE).decode()
    assert [(t["id"], t["status"]) for t in page_json(html, "rows-data")] == [(f"t{i}", "missing") for i in range(3)]


def test_a_track_whose_audio_is_gone_gets_a_note_instead_of_a_picture(tmp_path):
    storage = open_storage(str(tmp_path / "renders" / "gone"))
    rows = {"x": manifest.make_row(track_id="x", job="gone", status="accepted", prompt="a song", score=0.9,
                                   attempts=1, audio_file="audio/x.0123456789ab.flac", audio_sha256="ab" * 32)}
    html = Path(write_report(storage, Job(name="gone", output=str(tmp_path / "renders"), tracks=[]), rows)).read_text()
    assert "x: audio/x.0123456789ab.flac is missing; no picture" in html
    assert page_json(html, "pictures-data") == {}
    assert page_json(html, "rows-data")[0]["audio"] == rows["x"]["audio_file"]  # still linked, as the row says


def test_report_on_s3_with_relative_and_presigned_links(s3_server, s3_bucket, tmp_path, capsys):
    path = write_job_file(tmp_path, "cloud", [{"id": "c0", "prompt": PROMPTS["pop"]}])
    job = load_job(path, output=f"s3://{s3_bucket}/renders", s3_endpoint=s3_server.endpoint)
    storage = open_storage(job.location, s3_endpoint=s3_server.endpoint)
    render_in_process(job, storage, job.tracks)
    write_run_record(storage, job, f"songfarm render {path} --output s3://{s3_bucket}/renders")
    rows = current_rows(storage)

    assert write_report(storage, job, rows) == f"s3://{s3_bucket}/renders/cloud/{REPORT_FILE}"
    html = storage.read_bytes(REPORT_FILE).decode()
    [track] = page_json(html, "rows-data")
    assert track["audio"] == rows["c0"]["audio_file"]  # relative: the page works where the folder is served
    assert storage.list(PREVIEW_DIR) and track["pic"] in page_json(html, "pictures-data")

    # --presign: URLs into the private bucket that fetch the very file, with the lifetime stated.
    assert main(["report", job.location, "--s3-endpoint", s3_server.endpoint, "--presign", "2"]) == 0
    capsys.readouterr()
    html = storage.read_bytes(REPORT_FILE).decode()
    [track] = page_json(html, "rows-data")
    assert track["audio"].startswith(s3_server.endpoint + "/") and "X-Amz-Expires=7200" in track["audio"]
    with urllib.request.urlopen(track["audio"], timeout=10) as response:  # noqa: S310 - moto on 127.0.0.1
        assert response.read() == storage.read_bytes(rows["c0"]["audio_file"])
    assert "presigned URLs valid 2 h" in html


def test_presign_hours_are_checked_and_a_folder_keeps_relative_paths(tmp_path):
    storage = open_storage(str(tmp_path / "job"))
    for hours in (0, -1, 24 * 7 + 1):
        with pytest.raises(ReportError, match=r"--presign .*at most 168 hours"):
            Links(storage, hours)
    links = Links(storage, 2)
    assert links.src("audio/a.flac") == "audio/a.flac" and "relative paths" in links.note


def test_rerender_command_keeps_the_run_options_and_drops_the_choosing_ones(tmp_path):
    job = Job(name="n", output="s3://b/renders", tracks=[], s3_endpoint="http://127.0.0.1:9000")
    run = {"command": "songfarm render 'my job.yaml' --output s3://b/renders --rerender failed,rejected --force "
                      "--tracks=a,b --address auto --keep-changed --verbose"}
    assert render_base(job, [run]) == ["songfarm", "render", "my job.yaml", "--output", "s3://b/renders",
                                       "--address", "auto", "--verbose"]
    # Without a run record: the job's file, else its local job.yaml, else a placeholder.
    tail = ["--output", "s3://b/renders", "--s3-endpoint", "http://127.0.0.1:9000"]
    assert render_base(job, [], job_yaml="/r/n/job.yaml") == ["songfarm", "render", "/r/n/job.yaml", *tail]
    assert render_base(job, [{"command": "songfarm status x"}]) == ["songfarm", "render", JOB_PLACEHOLDER, *tail]
    job.source = "jobs/n.yaml"
    assert render_base(job, [])[2] == "jobs/n.yaml"


def test_cost_of_a_run_bills_what_its_pools_and_whole_nodes_held():
    prices = Prices(per_hour={"CPU": 0.10, "GPU": 2.0}, node_types={"gpu_worker": 3.0})
    run = {"wall_s": 1800.0,
           "nodes": {"n1": {"ip": "10.0.0.1", "resources": {"CPU": 8, "GPU": 1, "gpu_worker": 1}},
                     "n2": {"ip": "10.0.0.2", "resources": {"CPU": 4}}},
           # the generator lives on the whole-priced GPU node (it asks for its resource)
           "pools": {"generator": {"actors": 1, "num_cpus": 1, "num_gpus": 1, "resources": {"gpu_worker": 1}},
                     "verifier": {"actors": 2, "num_cpus": 1, "num_gpus": 0}}}
    # half an hour: n1 as a node (3.0 / 2), and the verifiers' 2 CPUs at 0.10 per CPU-hour
    assert run_cost(run, prices) == pytest.approx(1.5 + 2 * 0.5 * 0.10)
    assert run_cost(run, Prices()) is None
