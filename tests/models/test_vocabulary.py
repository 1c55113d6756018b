"""The shared vocabulary: requests, plans, takes, verdicts, music theory helpers."""

import numpy as np
import pytest

from songfarm.models import theory
from songfarm.models.instruments import INSTRUMENTS, ruled_out
from songfarm.models.plan import Section, SongPlan
from songfarm.models.request import RequestError, TrackRequest, normalise_name, safe_track_id, take_seed
from songfarm.models.take import decode_audio, encode_audio, encode_flac, is_pcm, pack_stems, unpack_stems
from songfarm.models.verdict import Check, Verdict


def toy_plan(**overrides) -> SongPlan:
    fields = dict(
        prompt="a calm piano piece", language="en", bpm=90.0, tonic="A", mode="minor",
        beats_per_bar=4, beat_unit=4, genre="classical", style="classical", moods=["calm"],
        instruments=["piano", "strings"],
        sections=[Section("intro", 2, 0.3, ["Am", "F"]), Section("verse", 4, 0.6, ["Am", "F", "C", "G"]),
                  Section("outro", 2, 0.2, ["E7", "Am"])],
        duration_s=21.33, sources={"bpm": "stated"}, conflicts=[], planner="test",
    )
    fields.update(overrides)
    return SongPlan(**fields)


def test_pitch_classes_and_enharmonic_keys():
    assert theory.pitch_class("F#") == 6 == theory.pitch_class("Gb")
    assert theory.pitch_class("e") == 4
    assert theory.same_key("D#", "major", "Eb", "major")
    assert not theory.same_key("A", "minor", "C", "major")
    assert theory.tonic_name(3, "major") == "Eb" and theory.tonic_name(8, "minor") == "G#"
    with pytest.raises(ValueError, match="H"):
        theory.pitch_class("H")


@pytest.mark.parametrize("symbol,pcs", [
    ("C", [0, 4, 7]), ("Am", [9, 0, 4]), ("Abmaj7", [8, 0, 3, 7]), ("Bm7b5/A", [9, 11, 2, 5]),
    ("F#", [6, 10, 1]), ("C6", [0, 4, 7, 9]), ("Gaug", [7, 11, 3]), ("F/C", [0, 5, 9]),
])
def test_chord_symbols(symbol, pcs):
    assert sorted(theory.chord_pitch_classes(symbol)) == sorted(pcs)


def test_roman_numerals():
    assert theory.roman_to_chord("vi", 0, "major") == "Am"
    assert theory.roman_to_chord("V7", 9, "minor") == "E7"
    assert theory.roman_to_chord("bVII", 9, "minor") == "G"
    assert theory.roman_to_chord("IV", 7, "major") == "C"


def test_request_validation_collects_every_problem():
    with pytest.raises(RequestError) as info:
        TrackRequest.from_dict({"id": "../escape", "prompt": "  ", "duration_s": 9999, "candidates": 0,
                                "seed": -1, "duraton_s": 3})
    fields = {e.field for e in info.value.errors}
    # the unknown field is reported first, before the values are checked
    assert fields == {"duraton_s"}
    with pytest.raises(RequestError) as info:
        TrackRequest.from_dict({"id": "../escape", "prompt": "  ", "duration_s": 9999, "candidates": 0, "seed": -1})
    assert {e.field for e in info.value.errors} == {"id", "prompt", "duration_s", "candidates", "seed"}
    assert "9999" in str(info.value)


def test_request_aliases_and_defaults():
    r = TrackRequest.from_dict({"idx": 7, "descriptions": "国风, 古筝", "gt_lyric": "[verse] 月光"},
                               defaults={"duration_s": 20, "seed": 3})
    assert (r.id, r.prompt, r.lyrics, r.duration_s, r.seed) == ("7", "国风, 古筝", "[verse] 月光", 20.0, 3)
    assert TrackRequest.from_json(r.to_json()) == r


@pytest.mark.parametrize("track_id,ok", [
    ("song_01", True), ("a-b.c", True), ("古筝-1", True), ("../x", False), ("a/b", False),
    (".hidden", False), ("a..b", False), ("x" * 129, False), ("", False), ("a b", False),
    ("abc\n", False), ("abc\r\n", False), ("a\tb", False), ("a\x00b", False), ("a\u200bb", False),
    ("古" * 80, True), ("古" * 81, False),  # 81 CJK characters are 243 bytes: too long for a file name
    ("cafe\u0301", False), ("caf\u00e9", True),  # NFD is refused here: callers normalise first
])
def test_safe_track_ids(track_id, ok):
    assert safe_track_id(track_id) is ok


def test_request_ids_are_nfc_normalised_then_checked():
    request = TrackRequest(id="cafe\u0301", prompt="x")
    assert request.validate() == [] and request.id == "caf\u00e9"
    assert normalise_name("cafe\u0301") == "caf\u00e9"


@pytest.mark.parametrize("field,value,reason", [
    ("key", "H major", "not a key"), ("key", "C##", "not a key"), ("key", "Q minor", "not a key"),
    ("time_signature", "3/5", "must look like 3/4"), ("time_signature", "3/4/4", "must look like 3/4"),
    ("instruments", ["piano", "theremin"], "unknown instrument 'theremin'"),
])
def test_request_validation_applies_the_planners_rules(field, value, reason):
    [error] = TrackRequest(id="a", prompt="x", **{field: value}).validate()
    assert error.field == field and reason in error.reason


def test_request_validation_accepts_what_the_planner_reads():
    request = TrackRequest(id="a", prompt="x", key="a小调", time_signature=" 6/8 ", instruments="古筝, drums")
    assert request.validate() == [] and request.instruments == ["古筝", "drums"]


def test_take_seeds_are_stable_and_distinct():
    assert take_seed(42, 0, 0) == 42
    seeds = {take_seed(42, a, c) for a in range(3) for c in range(4)}
    assert len(seeds) == 12
    assert take_seed(42, 1, 2) == take_seed(42, 1, 2)


def test_plan_round_trip_and_geometry():
    plan = toy_plan()
    plan.check()
    again = SongPlan.from_json(plan.to_json())
    assert again == plan
    assert plan.key == "A minor" and plan.time_signature == "4/4"
    assert plan.bar_s == pytest.approx(4 * 60 / 90)
    spans = plan.section_spans()
    assert spans[-1][2] == pytest.approx(plan.planned_s)
    assert "90 BPM" in plan.summary()


@pytest.mark.parametrize("bad,match", [
    (dict(bpm=5.0), "bpm"), (dict(mode="lydian"), "mode"), (dict(sections=[]), "sections"),
    (dict(sections=[Section("verse", 2, 0.5, ["C"])]), "2 bars but 1 chords"),
    (dict(sections=[Section("verse", 1, 0.5, ["Cxyz"])]), "Cxyz"),
])
def test_plan_check_names_the_bad_field(bad, match):
    with pytest.raises(ValueError, match=match):
        toy_plan(**bad).check()


def test_audio_codecs_round_trip():
    sr = 44100
    t = np.arange(sr) / sr
    audio = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)]).astype(np.float32) * 0.5
    decoded, rate = decode_audio(encode_flac(audio, sr))
    assert rate == sr and decoded.shape == audio.shape
    assert np.max(np.abs(decoded - audio)) < 1e-6  # 24-bit
    stems = unpack_stems(pack_stems({"bass": audio, "drums": audio * 0.1}, sr))
    assert set(stems) == {"bass", "drums"}
    assert pack_stems({}, sr) == b""


def test_packed_pcm_round_trips_exactly_without_a_copy():
    audio = np.random.default_rng(0).uniform(-1, 1, (2, 1000)).astype(np.float32)
    data = encode_audio(audio, 48000, "pcm")
    assert is_pcm(data) and not is_pcm(encode_audio(audio, 48000, "flac"))
    decoded, rate = decode_audio(data)
    assert rate == 48000 and decoded.shape == (2, 1000) and np.array_equal(decoded, audio)
    assert not decoded.flags.writeable  # a view of the bytes, not a copy
    with pytest.raises(ValueError, match="audio encoding 'mp3'"):
        encode_audio(audio, 48000, "mp3")


def test_verdict_round_trip_and_reason():
    v = Verdict(score=0.4, accepted=False, verifier="test", checks=[
        Check("tempo", 118.0, 120.0, 0.02, False, unit="bpm"),
        Check("loudness", -14.1, -14.0, 1.0, True, unit="LUFS")])
    assert Verdict.from_json(v.to_json()) == v
    assert v.failed == ["tempo"] and "tempo 118.0 vs 120.0 bpm" in v.reason()
    assert v.check("loudness").passed


def test_roman_numeral_quality_follows_case():
    assert theory.roman_to_chord("VII", 9, "minor") == "G"
    assert theory.roman_to_chord("ii7", 0, "major") == "Dm7"
    assert theory.roman_to_chord("viio", 0, "major") == "Bdim"
    assert theory.roman_to_chord("IV", 5, "major") == "Bb"  # flat key spells with flats
    assert theory.roman_to_chord("bVI", 0, "major") == "Ab"


@pytest.mark.parametrize("entry,out,kept", [
    ("drums", ["drum kit", "electronic drums", "percussion", "chinese percussion"], ["piano", "steelpan"]),
    ("guitar", ["acoustic guitar", "electric guitar", "distorted guitar", "nylon guitar", "bass guitar"], ["banjo"]),
    ("strings", ["violin", "viola", "cello", "contrabass", "strings", "pizzicato strings"], ["harp", "erhu"]),
    ("synth", ["synth lead", "synth pad", "synth pluck", "supersaw", "synth bass"], ["electric piano"]),
    ("brass", ["trumpet", "trombone", "tuba", "french horn", "brass"], ["saxophone"]),
    ("keys", ["piano", "electric piano", "organ", "harpsichord"], ["synth pad"]),
    ("vocals", ["voice", "choir"], ["piano"]),
    ("piano", ["piano", "electric piano"], ["organ"]),
])
def test_ruled_out_reads_names_roles_and_families(entry, out, kept):
    assert all(ruled_out(name, [entry]) for name in out), entry
    assert not any(ruled_out(name, [entry]) for name in kept), entry
    assert not ruled_out("piano", [])


def test_every_instrument_is_playable():
    for name, inst in INSTRUMENTS.items():
        assert 0 <= inst.program <= 127 and inst.low < inst.high, name
        assert inst.role in ("drums", "bass", "harmony", "melody", "pad"), name
        assert inst.is_drum == (inst.role == "drums"), name
    for name in ("morin khuur", "hulusi", "koto", "shamisen", "shakuhachi", "tuba", "ocarina", "steelpan"):
        assert name in INSTRUMENTS
