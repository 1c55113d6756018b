"""pipelines/delivery/verify.py and the manifest reader's handling of bad parts, on a job
folder written the way the sink writes it (content-addressed files, then the rows)."""

import hashlib
import json


from songfarm.pipelines.delivery import manifest
from songfarm.pipelines.delivery.storage import open_storage
from songfarm.pipelines.delivery.verify import verify_rows


def put(store, stem, suffix, data):
    """A file under its content-addressed name → its manifest columns (file, uri, bytes, sha256)."""
    digest = hashlib.sha256(data).hexdigest()
    path = f"{stem}.{digest[:12]}.{suffix}"
    return {"file": path, "uri": store.write_bytes(path, data), "bytes": len(data), "sha256": digest}


def deliver(store, track_id, audio=b"audio", midi=b"MThd", stems=None):
    a = put(store, f"audio/{track_id}", "flac", audio + track_id.encode())
    m = put(store, f"midi/{track_id}", "mid", midi + track_id.encode())
    s = {name: put(store, f"stems/{track_id}/{name}", "flac", data) for name, data in (stems or {}).items()}
    return manifest.make_row(track_id=track_id, job="j", status="accepted", audio_file=a["file"], audio_uri=a["uri"],
                             audio_format="flac", audio_bytes=a["bytes"], audio_sha256=a["sha256"],
                             midi_file=m["file"], midi_uri=m["uri"], midi_bytes=m["bytes"], midi_sha256=m["sha256"],
                             stems_json=json.dumps(s))


def test_a_good_job_verifies(store):
    rows = [deliver(store, "a", stems={"bass": b"b", "drums": b"d"}), deliver(store, "b"),
            manifest.make_row(track_id="c", job="j", status="failed", error="x")]
    store.write_bytes(manifest.part_name(), manifest.to_parquet(rows))
    current = manifest.current_rows(store)
    report = verify_rows(store, current, rehash=True)
    assert report.ok and report.files == 6 and report.tracks == 2, [p.line() for p in report.problems]
    assert "6 files of 2 tracks" in report.summary() and "sha256" in report.summary()


def test_problems_are_found(store):
    a, b, c = deliver(store, "a", stems={"bass": b"b"}), deliver(store, "b"), deliver(store, "c")
    store.write_bytes(manifest.part_name(), manifest.to_parquet([a, b, c]))
    store.delete(a["midi_file"])  # missing
    store.write_bytes(b["audio_file"], b"longer than it was")  # size mismatch
    same_size = bytearray(store.read_bytes(c["audio_file"]))
    same_size[0] ^= 1
    store.write_bytes(c["audio_file"], bytes(same_size))  # same size, other bytes: only the hash tells
    store.write_bytes("audio/d.0123456789ab.flac", b"left by a killed run")  # orphan
    if hasattr(store, "root"):  # a temp file of a write in progress is not an orphan
        (store.root / "audio" / ".tmp-x-d.flac").write_bytes(b"half")

    quick = verify_rows(store, manifest.current_rows(store), rehash=False)
    assert quick.broken_tracks == {"a", "b"} and quick.orphans == ["audio/d.0123456789ab.flac"]
    full = verify_rows(store, manifest.current_rows(store), rehash=True)
    assert full.broken_tracks == {"a", "b", "c"}
    lines = [p.line() for p in full.problems]
    assert f"missing {a['midi_file']} (track a)" in lines
    assert any(line.startswith(f"size mismatch {b['audio_file']} (track b): 18 bytes") for line in lines)
    assert any(line.startswith(f"sha256 mismatch {c['audio_file']} (track c)") for line in lines)
    assert "orphan audio/d.0123456789ab.flac: no manifest row points to it" in lines


def test_rows_of_an_older_manifest_are_verified_by_uri(tmp_path):
    """Older rows: fixed names, MIDI and stems known by URI only."""
    store = open_storage(str(tmp_path / "job"))
    audio, midi, stem = b"flac", b"MThd", b"stem"
    row = manifest.make_row(
        track_id="a", job="j", status="accepted", audio_file="audio/a.flac",
        audio_uri=store.write_bytes("audio/a.flac", audio),
        audio_bytes=4, audio_sha256=hashlib.sha256(audio).hexdigest(), midi_uri=store.write_bytes("midi/a.mid", midi),
        midi_bytes=4, midi_sha256=hashlib.sha256(midi).hexdigest(),
        stems_json=json.dumps({"bass": {"uri": store.write_bytes("stems/a/bass.flac", stem), "bytes": 4,
                                        "sha256": hashlib.sha256(stem).hexdigest()}}))
    report = verify_rows(store, [row])
    assert report.ok and report.files == 3


def test_bad_manifest_parts_are_named_and_skipped(store):
    good = manifest.part_name()
    store.write_bytes(good, manifest.to_parquet([deliver(store, "a")]))
    data = manifest.to_parquet([deliver(store, "b"), deliver(store, "c")])
    truncated, empty = "manifest/part-2-truncated.parquet", "manifest/part-3-empty.parquet"
    store.write_bytes(truncated, data[: len(data) // 2])
    store.write_bytes(empty, b"")
    read = manifest.read_manifest_parts(store)
    assert sorted(read.current()) == ["a"]
    assert [p.path for p in read.bad_parts] == [truncated, empty]
    assert read.bad_parts[1].reason == "empty file" and read.bad_parts[0].reason
    assert all("\n" not in p.line() and p.path in p.line() for p in read.bad_parts)
    assert sorted(manifest.current_rows(store)) == ["a"] and manifest.read_manifest(store).num_rows == 1
