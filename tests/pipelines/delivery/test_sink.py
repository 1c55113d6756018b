"""pipelines/delivery/sink.py and pipelines/delivery/manifest.py: files, tags, parts, newest row per track."""

import hashlib
import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from mutagen.flac import FLAC
from mutagen.wave import WAVE

from songfarm.models.settings import Delivery
from songfarm.models.take import encode_flac, pack_pcm, pack_stems
from songfarm.pipelines.delivery import manifest
from songfarm.pipelines.delivery.sink import GENERATED_NOTICE, Sink, SinkConfig, delivered_audio, read_progress
from songfarm.pipelines.delivery.storage import open_storage

TAGS = {"job": "night", "prompt": "a calm waltz", "seed": 7, "generator": "synth", "model": "synth-0.1 TimGM6mb.sf2"}


def tone(seconds=1.0, sr=44100, hz=440.0):
    """(2, samples) float32 stereo sine."""
    t = np.arange(int(seconds * sr)) / sr
    a = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.stack([a, a * 0.5])


def take_columns(stems=False):
    audio = tone()
    return {"audio": encode_flac(audio, 44100), "midi": b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0",
            "stems": pack_stems({"bass": tone(hz=110), "lead": tone(hz=880)}, 44100) if stems else b""}


def verdict_json():
    return json.dumps({"score": 0.9, "accepted": True, "verifier": "features-1", "seconds": 0.1, "checks": [
        {"name": "tempo", "measured": 119.5, "expected": 120.0, "tolerance": 0.02, "passed": True, "unit": "bpm",
         "weight": 1.0, "detail": ""},
        {"name": "key", "measured": "A minor", "expected": "C major", "tolerance": None, "passed": False,
         "unit": "", "weight": 1.0, "detail": ""},
        {"name": "novel_check", "measured": 1, "expected": 2, "tolerance": None, "passed": True, "unit": "",
         "weight": 1.0, "detail": ""}]})


def test_flac_master_midi_stems_and_provenance_tags(tmp_path):
    store = open_storage(str(tmp_path / "night"))
    sink = Sink(store, "night", Delivery(format="flac", sample_rate=44100, stems=True, midi=True))
    cols = sink.write_files("t-1", take_columns(stems=True), TAGS)
    data = (tmp_path / "night" / cols["audio_file"]).read_bytes()
    assert cols["audio_sha256"] == hashlib.sha256(data).hexdigest() and cols["audio_bytes"] == len(data)
    # Content-addressed: the name carries the file's own SHA-256, so no two takes share a name.
    assert cols["audio_file"] == f"audio/t-1.{cols['audio_sha256'][:12]}.flac"
    assert cols["audio_uri"] == str(tmp_path / "night" / cols["audio_file"])
    assert cols["sample_rate"] == 44100 and cols["channels"] == 2 and abs(cols["duration_s"] - 1.0) < 1e-6
    tags = FLAC(io.BytesIO(data))
    assert tags["SONGFARM_JOB"] == ["night"] and tags["SONGFARM_TRACK_ID"] == ["t-1"]
    assert tags["DESCRIPTION"] == ["a calm waltz"] and tags["SONGFARM_SEED"] == ["7"]
    assert tags["SONGFARM_GENERATOR"] == ["synth"] and tags["SONGFARM_MODEL"] == ["synth-0.1 TimGM6mb.sf2"]
    assert tags["GENERATED"] == [GENERATED_NOTICE] and "generated" in GENERATED_NOTICE
    assert cols["midi_file"] == f"midi/t-1.{cols['midi_sha256'][:12]}.mid"
    assert (tmp_path / "night" / cols["midi_file"]).read_bytes()[:4] == b"MThd"
    stems = json.loads(cols["stems_json"])
    assert set(stems) == {"bass", "lead"}
    bass_file = tmp_path / "night" / stems["bass"]["file"]
    bass, sr = sf.read(bass_file)
    assert sr == 44100 and stems["bass"]["bytes"] == bass_file.stat().st_size
    assert stems["bass"]["file"] == f"stems/t-1/bass.{stems['bass']['sha256'][:12]}.flac"


def test_wav_delivery_is_resampled_and_tagged(tmp_path):
    store = open_storage(str(tmp_path))
    sink = Sink(store, "night", Delivery(format="wav", sample_rate=48000, stems=False, midi=False))
    cols = sink.write_files("t2", take_columns(stems=True), TAGS)
    path = tmp_path / cols["audio_file"]
    audio, sr = sf.read(path, always_2d=True)
    assert sr == 48000 and audio.shape == (48000, 2) and cols["sample_rate"] == 48000
    assert abs(cols["duration_s"] - 1.0) < 1e-6
    assert str(WAVE(path).tags["TXXX:GENERATED"]) == GENERATED_NOTICE
    assert not (tmp_path / "midi").exists() and not (tmp_path / "stems").exists()
    assert "midi_uri" not in cols
    assert json.loads(cols["stems_json"]) == {}


def test_packed_pcm_take_is_encoded_once_as_the_delivered_file(tmp_path):
    """Serve's takes arrive as packed PCM: the sink encodes them; a FLAC take at the delivered
    rate is written as it came (the farm's case: no second encode)."""
    sink = Sink(open_storage(str(tmp_path)), "night", Delivery(format="flac", sample_rate=44100, midi=False))
    cols = sink.write_files("pcm", {"audio": pack_pcm(tone(), 44100)}, TAGS)
    audio, sr = sf.read(tmp_path / cols["audio_file"], always_2d=True)
    assert sr == 44100 and cols["channels"] == 2 and np.max(np.abs(audio.T - tone())) < 1e-6
    flac = encode_flac(tone(), 44100)
    assert delivered_audio(flac, "flac", 44100) == (flac, 2, 44100)


def test_rows_flush_in_parts_and_newest_row_wins(tmp_path):
    store = open_storage(str(tmp_path))
    sink = Sink(store, "night", Delivery(), SinkConfig(flush_rows=2, flush_s=3600))
    for i in range(3):
        assert sink.add_row({"track_id": f"t{i}", "status": "accepted", "score": 0.9, "verdict_json": verdict_json(),
                             **manifest.check_columns(verdict_json())})
    assert not sink.add_row({"track_id": "t0", "status": "failed"})  # one row per track per run
    assert len(store.list("manifest/")) == 1 and sink.buffered == 1
    sink.flush()
    assert len(store.list("manifest/")) == 2

    # A later run re-renders t1: its new row wins; t0 and t2 keep theirs.
    later = Sink(store, "night", Delivery())
    later.add_row({"track_id": "t1", "status": "failed", "error": "ValueError: x", "error_stage": "generator"})
    later.flush()
    rows = manifest.current_rows(store)
    assert sorted(rows) == ["t0", "t1", "t2"]
    assert rows["t1"]["status"] == "failed" and rows["t1"]["error_stage"] == "generator"
    assert rows["t0"]["status"] == "accepted" and rows["t0"]["job"] == "night"
    assert rows["t0"]["check_tempo_measured"] == 119.5 and rows["t0"]["check_tempo_passed"] is True
    assert rows["t0"]["check_key_measured"] == "A minor" and rows["t0"]["check_key_passed"] is False
    assert rows["t0"]["check_loudness_measured"] is None  # a check the verifier did not report

    # Typed columns, documented in the file's schema.
    table = pq.read_table(tmp_path / store.list("manifest/")[0])
    assert table.schema.field("score").type == "double"
    assert table.schema.field("attempts").type == "int32"
    assert b"doc" in table.schema.field("track_id").metadata


def test_unknown_manifest_column_is_refused():
    with pytest.raises(KeyError, match="not manifest columns"):
        manifest.make_row(track_id="x", colour="blue")


def test_empty_manifest_reads_as_empty(tmp_path):
    store = open_storage(str(tmp_path))
    assert manifest.current_rows(store) == {}
    assert manifest.read_manifest(store).num_rows == 0


def test_sink_to_s3_round_trips(s3_server, s3_bucket):
    store = open_storage(f"s3://{s3_bucket}/out/night", s3_endpoint=s3_server.endpoint)
    sink = Sink(store, "night", Delivery())
    sink.write_job_yaml("name: night\n")
    cols = sink.write_files("t1", take_columns(), TAGS)
    sink.add_row({"track_id": "t1", "status": "accepted", "score": 0.8, **cols})
    sink.flush()
    sink.write_progress({"state": "finished", "done": 1})
    assert cols["audio_uri"] == f"s3://{s3_bucket}/out/night/{cols['audio_file']}"
    body = s3_server.client().get_object(Bucket=s3_bucket, Key=f"out/night/{cols['audio_file']}")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == cols["audio_sha256"]
    assert FLAC(io.BytesIO(body))["SONGFARM_TRACK_ID"] == ["t1"]
    rows = manifest.current_rows(store)
    assert rows["t1"]["audio_sha256"] == cols["audio_sha256"] and rows["t1"]["score"] == 0.8
    assert read_progress(store)["state"] == "finished"
    assert store.read_bytes("job.yaml") == b"name: night\n"
