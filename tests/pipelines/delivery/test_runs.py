"""Run records (pipelines/delivery/runs.py): one JSON per run, kept beside the manifest."""

from songfarm.pipelines.delivery import runs


def test_run_records_are_written_and_read_back_oldest_first(store):
    first, second = runs.run_name(), runs.run_name()
    assert first.startswith("runs/run-") and first != second
    runs.write_run(store, second, {"state": "finished", "wall_s": 2.0})
    runs.write_run(store, first, {"state": "interrupted", "wall_s": 1.0})
    store.write_bytes("runs/run-00000000T000000-bad.json", b"{not json")  # unreadable: skipped
    got = runs.read_runs(store)
    assert [r["path"] for r in got] == sorted([first, second])
    assert {r["state"] for r in got} == {"finished", "interrupted"}
    assert runs.read_runs(store) == got  # reading changes nothing
