"""The synth generator end to end at toy sizes, its SoundFont retuning, and models/loudness."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy.signal import resample_poly
from symusic import Note, Score, Synthesizer, Track
from synth_fixtures import toy_plan

from songfarm.models import loudness
from songfarm.models.factory import BackendError, backend_version, make_generator, preflight
from songfarm.models.generators.soundfont import _chunks, in_tune, retune
from songfarm.models.generators.synth import (DEFAULT_SOUNDFONT, SOUNDFONT_ENV, SynthConfig, SynthGenerator,
                                              choose_soundfont)
from songfarm.models.request import TrackRequest
from songfarm.models.settings import RenderSettings
from songfarm.pipelines.core.fingerprint import fingerprint
from songfarm.models.styles import STYLE_NAMES

SR = 44100


@pytest.fixture(scope="module")
def generator() -> SynthGenerator:
    return SynthGenerator(SynthConfig(stems=True, soundfont=DEFAULT_SOUNDFONT))  # not a system FluidR3


def _request(**kw) -> TrackRequest:
    return TrackRequest(id="song-1", prompt="a test song", **kw)


def _check_master(audio: np.ndarray, plan) -> None:
    assert audio.dtype == np.float32
    assert audio.shape == (2, round(plan.duration_s * SR))
    assert abs(loudness.integrated_lufs(audio, SR) - loudness.TARGET_LUFS) <= 0.5
    assert loudness.true_peak_db(audio) <= loudness.TRUE_PEAK_CEILING_DB + 1e-6
    assert np.all(np.isfinite(audio))


# ----------------------------------------------------------------------------- generator

def test_take_shape_loudness_fields_stems_and_midi(generator):
    plan = toy_plan("pop", duration_s=10.0)  # 7 bars planned (14 s): the song is cut to 10 s and still resolves
    [take] = generator.generate(plan, _request(), seeds=[42], attempt=2)
    _check_master(take.audio, plan)
    assert (take.track_id, take.attempt, take.candidate, take.seed) == ("song-1", 2, 0, 42)
    assert take.sample_rate == SR and take.generator == "synth"
    assert take.model == "synth-0.2 TimGM6mb.sf2"
    # The last half second fades to silence.
    assert np.abs(take.audio[:, -50:]).max() < 1e-3
    # Stems: one per instrument, as loud as they sit in the mix.
    assert {"drum_kit", "bass_guitar", "piano", "synth_lead", "strings"} <= set(take.stems)
    for stem in take.stems.values():
        assert stem.shape == take.audio.shape and stem.dtype == np.float32
    assert loudness.integrated_lufs(sum(take.stems.values()), SR) == pytest.approx(loudness.TARGET_LUFS, abs=1.5)
    # MIDI: tempo, time signature, key signature, one track per stem.
    score = Score.from_midi(take.midi)
    assert score.tempos[0].qpm == pytest.approx(120.0, abs=0.01)
    assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (4, 4)
    assert (score.key_signatures[0].key, score.key_signatures[0].tonality) == (0, 0)
    assert len(score.tracks) == len(take.stems)


def test_same_seed_same_samples_different_seed_different_music(generator):
    plan = toy_plan("lofi", tonic="Eb", mode="minor", duration_s=8.0)
    a, b, c = generator.generate(plan, _request(), seeds=[7, 7, 8])
    assert np.array_equal(a.audio, b.audio)
    assert a.midi == b.midi
    assert not np.array_equal(a.audio, c.audio) and a.midi != c.midi
    assert [t.candidate for t in (a, b, c)] == [0, 1, 2]


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_every_style_renders(generator, style):
    plan = toy_plan(style, bpm=110, tonic="G", mode="minor" if style in ("metal", "hiphop") else "major",
                    form=[("intro", 1, 0.3), ("verse", 2, 0.6), ("chorus", 2, 0.9)], duration_s=9.0)
    [take] = generator.generate(plan, _request(), seeds=[3])
    _check_master(take.audio, plan)
    assert take.stems and take.midi


@pytest.mark.parametrize("beats_per_bar,beat_unit,bpm", [(3, 4, 96), (6, 8, 150)])
def test_triple_and_compound_metres_render(generator, beats_per_bar, beat_unit, bpm):
    plan = toy_plan("folk", bpm=bpm, tonic="A", mode="minor", beats_per_bar=beats_per_bar, beat_unit=beat_unit,
                    form=[("verse", 3, 0.6), ("chorus", 3, 0.85)])
    [take] = generator.generate(plan, _request(), seeds=[1])
    _check_master(take.audio, plan)
    score = Score.from_midi(take.midi)
    ts = score.time_signatures[0]
    assert (ts.numerator, ts.denominator) == (beats_per_bar, beat_unit)
    # plan.bpm counts 1/beat_unit notes; MIDI tempo counts quarters.
    assert score.tempos[0].qpm == pytest.approx(bpm * 4 / beat_unit, abs=0.01)
    assert (score.key_signatures[0].key, score.key_signatures[0].tonality) == (0, 1)  # A minor: no sharps


def test_without_stems_option_takes_carry_none():
    generator = make_generator("synth", {"stems": False})
    assert generator.keep_stems is False
    [take] = generator.generate(toy_plan("rock", duration_s=6.0), _request(), seeds=[1])
    assert take.stems == {} and take.midi


def test_batch_interface_returns_flac_of_the_right_length():
    generator = make_generator("synth", {"stems": True})
    plan = toy_plan("reggae", duration_s=6.0)
    request = _request(seed=5, candidates=2)
    batch = {"track_id": np.array(["song-1"], dtype=object), "request": np.array([request.to_json()], dtype=object),
             "attempt": np.array([0]), "status": np.array(["ok"], dtype=object), "error": np.array([""], dtype=object),
             "error_stage": np.array([""], dtype=object), "plan": np.array([plan.to_json()], dtype=object)}
    out = generator(batch)
    assert list(out["status"]) == ["ok", "ok"] and list(out["candidate"]) == [0, 1]
    audio, sr = sf.read(io.BytesIO(out["audio"][0]), always_2d=True)
    assert sr == SR and audio.shape == (6 * SR, 2)
    assert out["stems"][0] and out["midi"][0] and out["model"][0].startswith("synth-")
    assert json.loads(plan.to_json())["style"] == "reggae"


def test_missing_or_bad_soundfont_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.sf2"
    with pytest.raises(BackendError, match=f"option soundfont: {missing}: no such file"):
        SynthGenerator(SynthConfig(soundfont=str(missing)))
    with pytest.raises(BackendError, match=f"option soundfont: {missing}: no such file"):
        preflight("generator", "synth", {"soundfont": str(missing)})  # found before any rendering
    junk = tmp_path / "junk.sf2"
    junk.write_bytes(b"not a soundfont at all")
    with pytest.raises(BackendError, match=f"soundfont: {junk}: not a SoundFont 2"):
        make_generator("synth", {"soundfont": str(junk)})
    with pytest.raises(BackendError, match="sample_rate"):
        make_generator("synth", {"sample_rate": 100})
    with pytest.raises(BackendError, match="unknown option 'sound_font'"):
        make_generator("synth", {"sound_font": "x"})


def test_soundfont_choice_option_then_environment_then_standard_place_then_bundled(tmp_path):
    fluid, other = tmp_path / "FluidR3_GM.sf2", tmp_path / "Other.sf2"
    absent = str(tmp_path / "absent" / "FluidR3_GM.sf2")
    assert choose_soundfont("", {}, [absent]) == (DEFAULT_SOUNDFONT, "bundled with pretty_midi")
    fluid.write_bytes(b"")  # only whether the file is there decides the lookup
    assert choose_soundfont("", {}, [absent, str(fluid)]) == (str(fluid), "its standard place")
    env = {SOUNDFONT_ENV: str(other)}
    assert choose_soundfont("", env, [str(fluid)]) == (str(other), f"${SOUNDFONT_ENV}")
    assert choose_soundfont("/x/GM.sf2", env, [str(fluid)]) == ("/x/GM.sf2", "option soundfont")


def test_the_chosen_soundfont_is_in_the_version_model_and_fingerprint(tmp_path, monkeypatch):
    """A SoundFont from $SONGFARM_SOUNDFONT is nowhere in the job's options, yet it changes the
    audio: the generator's version carries it, so the track's fingerprint changes."""
    request = TrackRequest(id="t1", prompt="a pop song")
    monkeypatch.setenv(SOUNDFONT_ENV, DEFAULT_SOUNDFONT)
    assert backend_version("generator", "synth") == "0.2"
    bundled = fingerprint(request, RenderSettings())
    font = tmp_path / "MyGM.sf2"
    font.write_bytes(open(DEFAULT_SOUNDFONT, "rb").read())
    monkeypatch.setenv(SOUNDFONT_ENV, str(font))
    generator = make_generator("synth")
    assert generator.soundfont == str(font)
    assert generator.version == f"0.2+MyGM.{font.stat().st_size}" == backend_version("generator", "synth")
    assert generator.model == f"synth-{generator.version} MyGM.sf2"
    assert fingerprint(request, RenderSettings()) != bundled
    missing = tmp_path / "gone.sf2"
    monkeypatch.setenv(SOUNDFONT_ENV, str(missing))
    with pytest.raises(BackendError, match=rf"\${SOUNDFONT_ENV}: {missing}: no such file"):
        preflight("generator", "synth")
    assert backend_version("generator", "synth") == "0.2+gone"  # a fingerprint never raises


def _pdta(parts: dict[bytes, bytes]) -> bytes:
    body = b"pdta" + b"".join(cid + struct.pack("<I", len(b)) + b for cid, b in parts.items())
    content = b"sfbk" + b"LIST" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", len(content)) + content


def test_retune_moves_a_global_zones_tuning_into_its_zones():
    """FluidR3_GM's drawbar organ: coarse tune -24 in the instrument's global zone, root key
    72 in the zone. The retuned copy says the same in the sample header (root 96) and
    clears the global zone's tuning (root -1 = the sample's own, coarse 0)."""
    def gen(op, amount):
        return struct.pack("<Hh", op, amount)

    def header(name, pitch):
        return name.ljust(20, b"\0") + struct.pack("<5I", 0, 100, 10, 90, 44100) + struct.pack("<BbHH", pitch, 0, 0, 1)

    font = _pdta({b"inst": b"Organ".ljust(20, b"\0") + struct.pack("<H", 0) + b"EOI".ljust(20, b"\0")
                  + struct.pack("<H", 2),
                  b"ibag": struct.pack("<6H", 0, 0, 2, 0, 4, 0),
                  b"igen": gen(51, -24) + gen(58, 60) + gen(58, 72) + gen(53, 0) + gen(0, 0),
                  b"shdr": header(b"organ", 60) + header(b"EOS", 0)})
    out = retune(font)
    pdta = next(out[o: o + n] for cid, o, n in _chunks(out, 12, len(out)) if cid == b"LIST")
    parts = {cid: pdta[o: o + n] for cid, o, n in _chunks(pdta, 4, len(pdta))}
    igen = [struct.unpack_from("<Hh", parts[b"igen"], i) for i in range(0, len(parts[b"igen"]), 4)]
    assert igen[:2] == [(51, 0), (58, -1)]  # the global zone no longer tunes
    (_, root), (_, sample) = igen[2], igen[3]
    assert root == 96 and parts[b"shdr"][46 * sample + 40] == 96  # 72 played two octaves down


def test_retuned_soundfont_plays_in_tune():
    """symusic 0.5.8 ignores the zones' root keys: untouched, TimGM6mb's piano plays MIDI 60
    twenty semitones sharp. The retuned copy plays A4 at 440 Hz."""
    synth = Synthesizer(sf_path=str(in_tune(DEFAULT_SOUNDFONT)), sample_rate=SR, quality=0)
    for program in (0, 40, 16, 33):  # piano, violin, organ, bass
        pitch = 45 if program == 33 else 69
        score = Score(480, ttype="second")
        track = Track("x", program, False, ttype="second")
        track.notes.append(Note(0.0, 1.0, pitch, 100, ttype="second"))
        score.tracks.append(track)
        audio = synth.render(score, stereo=True).mean(axis=0)[int(0.1 * SR): int(0.9 * SR)]
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size), n=1 << 18))
        freqs = np.fft.rfftfreq(1 << 18, 1 / SR)
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        # Harmonic sum over candidate fundamentals within ±1.5 semitones of the note.
        candidates = f0 * 2 ** (np.linspace(-1.5, 1.5, 301) / 12)
        scores = [sum(spectrum[int(round(h * c / freqs[1]))] for h in range(1, 5)) for c in candidates]
        cents = 1200 * np.log2(candidates[int(np.argmax(scores))] / f0)
        assert abs(cents) < 25, (program, cents)


# ----------------------------------------------------------------------------- loudness

def _test_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """A quiet section, a loud one with near-Nyquist content (inter-sample overs) and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.6 * np.sin(2 * np.pi * 11025 * t + 0.5) * (t > seconds / 2)
    right = 0.2 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)
    audio = np.stack([left, right])
    audio[:, : t.size // 4] *= 0.05
    return audio.astype(np.float32)


@pytest.mark.parametrize("seconds", [0.3, 2.0, 9.7])
def test_integrated_lufs_matches_pyloudnorm(seconds):
    audio = _test_signal(seconds)
    padded = audio if audio.shape[1] >= 0.4 * SR else np.pad(audio, ((0, 0), (0, int(0.4 * SR) - audio.shape[1] + 1)))
    reference = pyloudnorm.Meter(SR).integrated_loudness(padded.T.astype(np.float64))
    assert loudness.integrated_lufs(audio, SR) == pytest.approx(reference, abs=0.01)
    assert loudness.integrated_lufs(np.zeros((2, SR)), SR) == -np.inf


@pytest.mark.parametrize("seconds", [0.01, 1.0, 6.3])
def test_true_peak_equals_oversampling_everything(seconds):
    audio = _test_signal(seconds, seed=1)
    reference = 20 * np.log10(np.abs(resample_poly(audio.astype(np.float64), 4, 1, axis=-1)).max())
    assert loudness.true_peak_db(audio) == pytest.approx(reference, abs=1e-9)
    assert loudness.true_peak_db(audio) > 20 * np.log10(np.abs(audio).max())  # the overs are real


@pytest.mark.parametrize("scale", [0.02, 1.0, 4.0])
def test_normalise_hits_loudness_and_peak_targets(scale):
    audio = _test_signal(6.0, seed=2) * scale
    out, gain = loudness.normalise_with_gain(audio, SR)
    assert out.dtype == np.float32 and out.shape == audio.shape
    assert loudness.integrated_lufs(out, SR) == pytest.approx(-14.0, abs=0.5)
    assert loudness.true_peak_db(out) <= -1.0
    assert gain > 0
    quiet = loudness.normalise(audio, SR, target_lufs=-40.0, ceiling_db=-1.0)  # far from the ceiling: gain only
    assert loudness.integrated_lufs(quiet, SR) == pytest.approx(-40.0, abs=0.01)
    silence = np.zeros((2, SR), dtype=np.float32)
    assert np.array_equal(loudness.normalise(silence, SR), silence)
