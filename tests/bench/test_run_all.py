"""bench/run_all.py (`make bench`): one table from every benchmark's JSON, and the README's
performance section rewritten between its markers. Fed with results files of the shape
each benchmark writes; the benchmarks themselves are not run here."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_run_all():
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "bench" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_and_the_readme_section_come_from_the_results(tmp_path, monkeypatch):
    run_all = load_run_all()
    monkeypatch.setattr(run_all, "RESULTS", tmp_path)
    (tmp_path / "farm.json").write_text(json.dumps({"farm_over_pool": {"farm": 0.9, "farm_separate": 0.7},
                                                    "farm_over_pool_with_ray_start": {"farm": 0.8}}))
    (tmp_path / "startup.json").write_text(json.dumps({"median_s": {"farm: Ray start + first take": 6.2}}))
    rows = run_all.summary_rows(["farm", "startup", "engine"], {"engine": {"ok": False}})
    assert ("farm (fused pools) vs a process pool, same work", "90.0 %", ">= 85 %", "pass", "bench_farm.py") in rows
    assert ("Ray start + first verified take", "6.2 s", "<= 5 s", "FAIL", "bench_startup.py") in rows
    assert rows[-1][0] == "engine" and rows[-1][3] == "FAIL"  # a benchmark that failed is shown failed

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{run_all.BEGIN}\nold figures\n{run_all.END}\n\nafter\n")
    monkeypatch.setattr(run_all, "README", readme)
    assert run_all.update_readme(run_all.markdown(rows, "a 2-core box, no GPU", "make bench", "2026-12-02"))
    text = readme.read_text()
    assert "old figures" not in text and text.endswith("after\n")
    assert "| farm (fused pools) vs a process pool, same work | 90.0 % | >= 85 % | pass | `bench_farm.py` |" in text
    assert "2026-12-02, on a 2-core box, no GPU; produced by `make bench`" in text

    # `--only farm`: the farm's rows are new, every other benchmark's row stays as it was
    kept = run_all.readme_rows(text, ["farm"])
    assert sorted(kept) == ["engine", "startup"] and kept["startup"] == [
        "| Ray start + first verified take | 6.2 s | <= 5 s | FAIL | `bench_startup.py` |"]
    farm_again = [r for r in rows if r[4] == "bench_farm.py"]
    assert run_all.update_readme(run_all.markdown(farm_again, "a 2-core box", "make bench", "2026-12-03", kept))
    text = readme.read_text()
    assert "| Ray start + first verified take | 6.2 s | <= 5 s | FAIL | `bench_startup.py` |" in text
    assert text.count("`bench_farm.py`") == 3 and "rows of the other benchmarks are from an earlier run" in text
    order = [line.rsplit(" | ", 1)[-1] for line in text.splitlines() if line.startswith("| ") and "bench_" in line]
    assert order.index("`bench_engine.py` |") < order.index("`bench_farm.py` |")  # each where BENCHES has it


def test_the_projects_readme_has_the_section_make_bench_rewrites():
    run_all = load_run_all()
    text = (ROOT / "README.md").read_text()
    assert text.count(run_all.BEGIN) == 1 and text.count(run_all.END) == 1
