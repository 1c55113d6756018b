"""The felt tempo: click tracks at known tempi, the verdict of a take heard at a metrical
relative of its plan, agreement with librosa's tracker, and the re-render that follows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from songfarm.models.loudness import normalise
from songfarm.models.request import TrackRequest
from songfarm.models.settings import RenderSettings
from songfarm.models.stages import new_row
from songfarm.models.take import encode_flac
from songfarm.models.verifiers import tempo
from songfarm.models.verifiers.features import FeaturesVerifier
from songfarm.pipelines.core.lifecycle import TrackLifecycle

from features_fixtures import SR, chords, drums, plan, take

ANALYSIS_SR = 11025


def clicks(bpm: float, seconds: float = 16.0, beats_per_bar: int = 4, eighths: float = 0.0) -> np.ndarray:
    """A metronome: a 1 kHz click per beat, the bar's first louder, and with `eighths` > 0
    a click of that relative level on every off-beat: (2, samples) float32 at SR."""
    n = int(seconds * SR)
    out = np.zeros(n)
    t = np.arange(int(0.03 * SR)) / SR
    click = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.005)
    beat_s = 60.0 / bpm
    for k in range(int(seconds / beat_s) + 1):
        for offset, level in ((0.0, 1.0 if k % beats_per_bar == 0 else 0.6), (0.5, eighths)):
            start = int((k + offset) * beat_s * SR)
            if level and start < n:
                out[start: start + click.size] += level * click[: n - start]
    return np.stack([out, out]).astype(np.float32) * 0.5


def felt(audio: np.ndarray) -> float:
    return tempo.estimate_tempo(resample_poly(audio.mean(axis=0), 1, SR // ANALYSIS_SR), ANALYSIS_SR).bpm


@pytest.mark.parametrize("bpm", [50.0, 60.0, 70.0, 76.0, 97.0, 120.0, 140.0, 153.0, 170.0])
def test_a_click_track_is_felt_at_its_click_rate(bpm):
    assert felt(clicks(bpm)) == pytest.approx(bpm, rel=0.002)


@pytest.mark.parametrize("bpm", [60.0, 70.0, 76.0])
def test_slow_beats_with_loud_eighths_are_felt_at_double_tempo(bpm):
    """The issue's complaint: the subdivision of a slow beat becomes the beat."""
    assert felt(clicks(bpm, eighths=0.6)) == pytest.approx(2 * bpm, rel=0.002)
    assert felt(drums(bpm, 16.0)) == pytest.approx(2 * bpm, rel=0.002)  # eighth-note hats on the off-beats


@pytest.mark.parametrize("audio_bpm,beats_per_bar,eighths", [(60.0, 4, 0.0), (97.0, 3, 0.0), (153.0, 4, 0.0),
                                                              (70.0, 4, 0.6)])
def test_librosa_hears_the_same_beat_level(audio_bpm, beats_per_bar, eighths):
    """An independent tracker (librosa.feature.tempo) agrees on the level; bench/bench_adherence.py
    compares with essentia's RhythmExtractor2013 too."""
    librosa = pytest.importorskip("librosa")
    audio = clicks(audio_bpm, beats_per_bar=beats_per_bar, eighths=eighths)
    theirs = float(librosa.feature.tempo(y=librosa.resample(audio.mean(axis=0), orig_sr=SR, target_sr=22050),
                                         sr=22050)[0])
    assert felt(audio) == pytest.approx(theirs, rel=0.04)  # librosa's tempo is quantised to its hop


def verify(audio: np.ndarray, p):
    return FeaturesVerifier().verify(take(audio), p, TrackRequest(id="t1", prompt="x"))


@pytest.mark.parametrize("audio_bpm,plan_bpm,words", [
    (140.0, 70.0, "double"), (60.0, 120.0, "half"), (120.0, 80.0, "one and a half times"),
    (80.0, 120.0, "two thirds of"), (150.0, 50.0, "three times"), (60.0, 180.0, "a third of")])
def test_a_take_felt_at_a_metrical_relative_of_the_plan_fails(audio_bpm, plan_bpm, words):
    audio = clicks(audio_bpm)
    p = plan(plan_bpm, duration_s=audio.shape[1] / SR)
    v = verify(audio, p)
    check = v.check("tempo")
    assert not check.passed and not v.accepted
    assert check.measured == pytest.approx(audio_bpm, rel=0.002) and check.expected == plan_bpm
    assert f"tempo: heard {audio_bpm:g} BPM, {words} the planned {plan_bpm:g}" in v.reason()


def test_a_take_felt_at_the_plan_passes_with_its_summary():
    audio = clicks(97.0)
    check = verify(audio, plan(97.0, duration_s=audio.shape[1] / SR)).check("tempo")
    assert check.passed and check.summary == "heard 97 BPM as planned"


def test_a_compound_metre_passes_at_its_eighths_or_its_dotted_quarters():
    """6/8 at 180 (plan.bpm counts eighths): a pulse at 60 is its dotted quarter, the
    notated beat; a pulse at 120 is no beat of it."""
    def six_eight(bpm: float, seconds: float):
        p = plan(bpm, duration_s=seconds)
        p.beats_per_bar, p.beat_unit = 6, 8
        return p

    dotted = clicks(60.0, beats_per_bar=2)
    check = verify(dotted, six_eight(180.0, dotted.shape[1] / SR)).check("tempo")
    assert check.passed and "dotted quarter of 6/8" in check.detail
    wrong = clicks(120.0, beats_per_bar=2)
    v = verify(wrong, six_eight(180.0, wrong.shape[1] / SR))
    assert not v.check("tempo").passed and "two thirds of the planned 180" in v.reason()


def verified_row(audio: np.ndarray, p, request: TrackRequest, attempt: int) -> dict:
    """The features verifier's batch interface on one mastered take row, back as a row."""
    audio = normalise(audio, SR)
    row = {**new_row(request, attempt), "plan": p.to_json(), "candidate": 0, "seed": request.seed,
           "audio": encode_flac(audio, SR), "sample_rate": SR, "generator": "test", "model": "fixture"}
    out = FeaturesVerifier()({k: np.array([v], dtype=object) for k, v in row.items()})
    return {k: v[0] for k, v in out.items()}


def test_a_double_time_take_sends_the_track_back_for_a_re_render():
    """70 BPM planned, eighth-note hats make it 140: the lifecycle re-renders (and with a
    pulse heard at 70, accepts)."""
    request = TrackRequest.from_dict({"id": "t1", "prompt": "a slow groove at 70 BPM", "seed": 7})
    life = TrackLifecycle(request, RenderSettings(max_attempts=2))
    pad = chords(["C"], 16.0)  # one held C major chord: no chord changes to mark the bars
    hats = pad + drums(70.0, 16.0)[:, : pad.shape[1]]  # kick on the beat, hats on the off-beats
    p = plan(70.0, duration_s=pad.shape[1] / SR)
    decision = life.close_round([verified_row(hats, p, request, 0)])
    assert decision.kind == "rerender"
    assert "tempo: heard 140 BPM, double the planned 70" in life.takes[0]["reason"]
    on_the_beat = pad + drums(70.0, 16.0, hats=False)[:, : pad.shape[1]]
    assert life.close_round([verified_row(on_the_beat, p, request, 1)]).kind == "accept"
