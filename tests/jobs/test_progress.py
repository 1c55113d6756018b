"""What `songfarm render` shows while it runs, from FarmProgress snapshots (no Ray started):
the plain lines, the live display's text, and the run's log file (local and S3) with the
driver's Ray log lines and the native stderr routed into it."""

import logging
import os

from songfarm.cluster.connect import ray_logs
from songfarm.jobs.progress import LiveProgress, PlainProgress, RunLog, plain_line, progress_display
from songfarm.pipelines.farm.driver import FarmProgress


def snapshot(**fields) -> FarmProgress:
    base = dict(job="demo", state="running", to_render=5, counts={"accepted": 0, "rejected": 0, "failed": 0},
                round=1, max_attempts=2, elapsed_s=12.0, audio_s=0.0, tracks_per_min=None,
                audio_min_per_min=None, eta_s=None)
    return FarmProgress(**{**base, **fields})


LANDED = dict(counts={"accepted": 2, "rejected": 1, "failed": 1}, round=2, elapsed_s=95.0, audio_s=72.0,
              tracks_per_min=2.5, audio_min_per_min=0.76, eta_s=31.0)


def test_plain_line_before_and_after_tracks_land():
    assert plain_line(snapshot()) == "songfarm: job demo: done 0 / failed 0 / remaining 5 (round 1/2, 12s)"
    assert plain_line(snapshot(**LANDED)) == ("songfarm: job demo: done 3 (1 rejected) / failed 1 / remaining 1 "
                                              "(round 2/2, 1m35s, 2.5 tracks/min, 0.8 audio min/min, ETA 31s)")


def test_fused_actors_run_every_round_so_the_line_counts_re_renders():
    fused = snapshot(**{**LANDED, "round": 0, "rerendered": 1})  # FarmProgress.round is 0 where stages fuse
    assert plain_line(fused) == ("songfarm: job demo: done 3 (1 rejected) / failed 1 / remaining 1 "
                                 "(1 re-rendered, 1m35s, 2.5 tracks/min, 0.8 audio min/min, ETA 31s)")
    display = LiveProgress()
    display(fused)
    assert "4/5 tracks · 1 re-rendered · 1m35s" in display.text()


def test_plain_progress_says_a_line_every_period_while_running():
    said = []
    every = PlainProgress(said.append, every_s=0.0)
    every(snapshot())
    every(snapshot(**LANDED))
    every(snapshot(state="finished"))  # how it ended is the farm's own line
    assert said == [plain_line(snapshot()), plain_line(snapshot(**LANDED))]
    rarely = PlainProgress(said.append, every_s=3600)
    rarely(snapshot())
    assert len(said) == 2


def test_the_live_display_text():
    display = LiveProgress()  # never started: nothing drawn on the terminal
    display(snapshot())
    before = display.text()
    assert "demo" in before and "0/5 tracks · round 1/2 · 12s" in before
    assert "accepted 0 · rejected 0 · failed 0" in before and "ETA" not in before
    display(snapshot(**LANDED))
    after = display.text()
    assert "4/5 tracks · round 2/2 · 1m35s" in after
    assert "accepted 2 · rejected 1 · failed 1 · 2.5 tracks/min · 0.8 audio min/min · ETA 31s" in after


def test_without_a_terminal_the_display_falls_back_to_plain_lines():
    said = []
    with progress_display(said.append, 0.0, live=True) as show:  # pytest's stderr is no terminal
        assert isinstance(show, PlainProgress)
        show(snapshot())
    assert said == [plain_line(snapshot())]


def test_run_log_holds_our_lines_rays_lines_and_native_stderr(store, capfd):
    log = RunLog(store, stamp="20261202T000000Z")
    log.line("songfarm: before the log opened")
    assert log.close() is None and not store.list("logs/")  # a run that never opened one leaves none
    log = RunLog(store, stamp="20261202T000000Z")
    log.line("songfarm: before the log opened")
    log.open()
    log.line("songfarm: a line of ours")
    with ray_logs(log.handler, terminal=False):
        logging.getLogger("ray").info("Started a local Ray instance.")
        logging.getLogger("ray.data").info("Execution plan of Dataset d_0: ...")
        logging.getLogger("ray.data").debug("scheduler loop")  # Ray Data's own file has these; ours does not
        with log.native_stderr():
            os.write(2, b"[E core_worker.cc:2465] from native code\n")
    os.write(2, b"after: the terminal again\n")
    assert log.close() == store.uri("logs/render-20261202T000000Z.log")
    text = store.read_bytes("logs/render-20261202T000000Z.log").decode()
    lines = text.splitlines()
    assert lines[0].endswith("\tsongfarm: before the log opened") and lines[1].endswith("\tsongfarm: a line of ours")
    assert "INFO" in lines[2] and lines[2].endswith("-- Started a local Ray instance.")
    assert lines[3].endswith("-- Execution plan of Dataset d_0: ...")
    assert lines[4] == "[E core_worker.cc:2465] from native code" and len(lines) == 5
    err = capfd.readouterr().err
    assert err == "after: the terminal again\n"  # nothing of Ray's reached the terminal


def test_ray_logs_on_the_terminal_too_when_asked(tmp_path, capsys):
    handler = logging.FileHandler(tmp_path / "log")
    with ray_logs(handler, terminal=True):
        logging.getLogger("ray.data").info("Execution plan of Dataset d_1")
    handler.close()
    assert "Execution plan of Dataset d_1" in capsys.readouterr().err
    assert "Execution plan of Dataset d_1" in (tmp_path / "log").read_text()
    before = {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
              for name in ("ray", "ray.data")}
    with ray_logs(None, terminal=False):  # no handler: nothing, not logging's last resort
        logging.getLogger("ray").warning("a warning nobody asked to see")
    assert "nobody" not in capsys.readouterr().err
    # The loggers are back as they were (whatever earlier tests left them as):
    assert before == {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
                      for name in ("ray", "ray.data")}
