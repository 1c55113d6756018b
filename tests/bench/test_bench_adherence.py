"""bench/bench_adherence.py at toy size: two prompts of each source, 6 s renders (first takes,
then each track through the lifecycle), analysed by librosa (the fallback), so the test
needs no essentia."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_adherence.py"

DEV_ROWS = [
    {"caption": "A calm piano piece. The tempo of this song is 90.0 beats per minute. The key is A minor.",
     "bpm": 90.0, "key": "A minor", "key_alt": None, "chords": ["Am"], "beats_per_bar": 4},
    {"caption": "Upbeat rock with drums and bass at 132 bpm in E major, the beat counts to 4.",
     "bpm": 132.0, "key": "E major", "key_alt": None, "chords": ["E"], "beats_per_bar": 4},
]
PROMPTS = [
    {"prompt": "solo piano, no drums, at 80 BPM", "lang": "en", "categories": ["exclusions", "tempo_phrasing"],
     "labels": {"excluded": ["drums"], "bpm": 80}},
    {"prompt": "一首不要人声的纯音乐，古筝和笛子", "lang": "zh", "categories": ["exclusions", "instruments"],
     "labels": {"vocals": False}},
]


def test_bench_adherence_runs_at_toy_size_without_essentia(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_adherence", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    dev, prompts, out = tmp_path / "dev.jsonl", tmp_path / "prompts.jsonl", tmp_path / "adherence.json"
    dev.write_text("\n".join(json.dumps(r) for r in DEV_ROWS) + "\n")
    prompts.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in PROMPTS) + "\n", encoding="utf-8")

    assert bench.main(["--devset", str(dev), "--prompts", str(prompts), "--limit", "2", "--duration", "6",
                       "--analyser", "librosa", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["analyser"] == "librosa" and len(doc["renders"]) == 4
    assert set(doc["planner"]["categories"]) == {"musicbench", "exclusions", "tempo_phrasing", "instruments"}
    assert set(doc["planner"]["languages"]) == {"en", "zh"}
    render = doc["render"]
    for measure in ("tempo", "tempo_slow", "key", "exclusions_plan", "instruments_plan", "loudness", "true_peak"):
        assert render[measure]["n"] >= 1, measure
    assert render["loudness"]["rate"] == 1.0 and render["true_peak"]["rate"] == 1.0
    assert {"played", "excl_plan", "named_plan", "heard_as", "felt_bpm"} <= set(doc["renders"][0])
    # the delivered take: each track through the lifecycle, beside the first take's figures
    assert render["delivered_tempo"]["n"] == 4 and render["delivered_tempo_slow"]["n"] >= 1
    assert sum(render["delivered_status"].values()) == 4 and doc["max_attempts"] >= 1
    for row in doc["renders"]:
        assert 1 <= row["delivered_rounds"] <= doc["max_attempts"] and row["delivered_bpm"] > 0
        assert row["delivered_attempt"] < row["delivered_rounds"]
