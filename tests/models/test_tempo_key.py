"""The tempo and key analysers of the features verifier, on synthesised audio."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy.signal import resample_poly

from songfarm.models import theory
from songfarm.models.verifiers import key, tempo

from features_fixtures import SR, chords, drums, song

ANALYSIS_SR = 11025


def mono(audio: np.ndarray) -> np.ndarray:
    return resample_poly(audio.mean(axis=0), 1, SR // ANALYSIS_SR)


@pytest.mark.parametrize("bpm", [97.0, 120.0, 153.0])
@pytest.mark.parametrize("beats_per_bar", [4, 3])
def test_felt_tempo_within_2_percent(bpm, beats_per_bar):
    """Kick on the beat, hats on the off-beats: the beat is what is heard, to 0.2 %."""
    est = tempo.estimate_tempo(mono(drums(bpm, 12.0, beats_per_bar)), ANALYSIS_SR)
    assert abs(est.bpm - bpm) / bpm < 0.002, est
    assert abs(est.felt_coarse_bpm - bpm) / bpm < 0.04  # the coarse level step 2 refined


def test_tempo_is_fine_grained_unlike_a_hop_quantised_tracker():
    """A 60 s track at 118.3 BPM: between frame-hop tempi, still measured to 0.1 %."""
    est = tempo.estimate_tempo(mono(drums(118.3, 60.0, 4, hats=False)), ANALYSIS_SR)
    assert abs(est.bpm - 118.3) < 0.12


def test_relation_names_metrical_relatives():
    assert tempo.relation(140.0, 70.0, 0.02) == (Fraction(2), "double")
    assert tempo.relation(35.5, 70.0, 0.02) == (Fraction(1, 2), "half")
    assert tempo.relation(80.0, 120.0, 0.02) == (Fraction(2, 3), "two thirds of")
    assert tempo.relation(180.0, 120.0, 0.02) == (Fraction(3, 2), "one and a half times")
    assert tempo.relation(60.0, 180.0, 0.02)[1] == "a third of"
    assert tempo.relation(150.0, 50.0, 0.02)[1] == "three times"
    assert tempo.relation(120.0, 118.0, 0.02) is None  # on tempo is no relative
    assert tempo.relation(100.0, 70.0, 0.02) is None
    assert tempo.relation(0.0, 120.0, 0.02) is None


def test_tempo_of_silence_and_of_a_too_short_clip():
    assert tempo.estimate_tempo(np.zeros(ANALYSIS_SR * 5, dtype=np.float32), ANALYSIS_SR).bpm == 0.0
    assert tempo.estimate_tempo(mono(drums(120, 1.0)), ANALYSIS_SR).bpm == 0.0


def test_tempo_under_sustained_chords():
    """Chords change every bar and drums play on top: the beat still wins."""
    est = tempo.estimate_tempo(mono(song(97.0, ["C", "Am", "F", "G"] * 2)), ANALYSIS_SR)
    assert abs(est.bpm - 97.0) / 97.0 < 0.005


PROGRESSIONS = [
    ("C", "major", ["C", "F", "G", "C", "Am", "F", "G", "C"]),
    ("Eb", "major", ["Eb", "Ab", "Bb", "Eb", "Cm", "Ab", "Bb7", "Eb"]),
    ("G", "major", ["G", "Em", "C", "D"] * 2 + ["G"]),
    ("A", "minor", ["Am", "Dm", "E", "Am", "F", "G", "Am", "Am"]),
    ("A", "minor", ["Am", "F", "C", "G"] * 2 + ["Am"]),  # the loop of its relative major's chords
    ("D", "minor", ["Dm", "Gm", "A7", "Dm", "Bb", "C", "F", "A", "Dm"]),
    ("F#", "minor", ["F#m", "D", "A", "E", "F#m"]),
    ("E", "minor", ["Em", "C", "G", "D"] * 2 + ["Em"]),
]


@pytest.mark.parametrize("tonic,mode,symbols", PROGRESSIONS)
@pytest.mark.parametrize("with_drums", [False, True])
def test_key_of_chord_progressions(tonic, mode, symbols, with_drums):
    audio = song(110.0, symbols, with_drums=with_drums) if with_drums else chords(symbols)
    est = key.estimate_key(mono(audio), ANALYSIS_SR)
    assert theory.same_key(est.tonic, est.mode, tonic, mode), est.ranking
    assert est.confidence > 0
    assert len(est.chroma) == 12 and max(est.chroma) == 1.0


def test_key_of_silence_is_empty():
    est = key.estimate_key(np.zeros(ANALYSIS_SR * 3, dtype=np.float32), ANALYSIS_SR)
    assert est.tonic == "" and est.ranking == []


def test_key_with_temperley_profiles():
    est = key.estimate_key(mono(chords(["D", "G", "A7", "D"])), ANALYSIS_SR, profile="temperley")
    assert (est.tonic, est.mode) == ("D", "major")
