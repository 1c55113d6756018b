"""`songfarm plan` and `songfarm take`: the in-process preview commands."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from songfarm.jobs.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_prints_json(capsys):
    code, out, err = run_cli(capsys, "plan", "a waltz in F major, 96 bpm, 20 seconds")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["bpm"] == 96 and plan["tonic"] == "F" and plan["mode"] == "major"
    assert plan["beats_per_bar"] == 3


def test_take_writes_audio_midi_stems_and_prints_verdict(capsys, tmp_path):
    out_file, midi, stems = tmp_path / "t.flac", tmp_path / "t.mid", tmp_path / "stems"
    code, out, err = run_cli(capsys, "take", "calm lo-fi beat in A minor at 80 bpm", "--duration", "8",
                             "--seed", "3", "-o", str(out_file), "--midi", str(midi), "--stems", str(stems))
    assert code == 0, err
    report = json.loads(out)
    assert set(report["verdict"]) >= {"score", "accepted", "checks"}
    audio, sr = sf.read(out_file, always_2d=True)
    assert sr == 44100 and audio.shape[1] == 2 and abs(len(audio) / sr - 8.0) < 0.05
    assert midi.read_bytes()[:4] == b"MThd"
    assert any(p.suffix == ".flac" for p in stems.iterdir())


def test_take_is_deterministic(capsys, tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    for path in (a, b):
        assert run_cli(capsys, "take", "rock song 140 bpm", "--duration", "4", "--seed", "9", "-o", str(path))[0] == 0
    assert np.array_equal(sf.read(a)[0], sf.read(b)[0])


@pytest.mark.parametrize("argv,expected", [
    (["plan", "   "], "TEXT '   ': prompt must be non-empty text"),
    (["take", "", "-o", "x.flac"], "prompt must be non-empty text"),
    (["take", "pop", "--duration", "0.5", "-o", "x.flac"], "--duration 0.5"),
    (["take", "pop", "--duration", "100000", "-o", "x.flac"], "--duration 100000"),
    (["take", "pop", "-o", "x.mp3"], "unknown audio format '.mp3'"),
    (["take", "pop", "-o", "/no/such/folder/x.flac"], "folder /no/such/folder does not exist"),
    (["take", "pop", "--lyrics", "/no/such/lyrics.txt", "-o", "x.flac"], "--lyrics /no/such/lyrics.txt: cannot read"),
    (["take", "pop", "--generator", "wavenet", "-o", "x.flac"], "unknown backend 'wavenet'"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, expected):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.startswith("songfarm: error: ") and expected in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.flac").exists()


def test_unwritable_output(capsys, tmp_path):
    # /proc refuses new files even for root; a chmod'ed folder would not stop root.
    code, _, err = run_cli(capsys, "take", "pop", "-o", "/proc/x.flac")
    assert code == 2 and "/proc is not writable" in err


def test_console_script_is_installed():
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "songfarm"), "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "render" in result.stdout


def test_validate_checks_checkpoints_as_render_would(capsys, tmp_path):
    job = tmp_path / "neural.yaml"
    job.write_text("name: neural\nbackends:\n  verifier: {name: clap, options: {checkpoint: %s}}\n"
                   "tracks:\n  - {id: a, prompt: a pop song}\n" % (tmp_path / "no-clap"))
    code, _, err = run_cli(capsys, "validate", str(job))
    assert code == 2 and "backends.verifier (clap): checkpoint" in err and "does not exist" in err
    # Checkpoints that live on the cluster's workers are not looked for here.
    code, out, err = run_cli(capsys, "validate", str(job), "--remote-checkpoints")
    assert code == 0 and "ok" in out, err
