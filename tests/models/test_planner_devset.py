"""The `rules` planner on the MusicBench dev set (../shared/eval/musicbench_dev.jsonl).

Each caption states some of tempo (a number or an Italian term), key and beats per bar;
the plan must contain them. The rates go into the assertion messages and into
<pytest tmp dir>/planner_devset.json, so they are visible without `-s`.

Targets (issue 2): a stated numeric tempo is planned exactly (100 %), a tempo term gives
a tempo inside that term's range (100 %), a stated key is planned, enharmonics equal
(≥ 98 % of rows with a key), the stated beats per bar (≥ 95 %).
"""

import json
import re
import time
from pathlib import Path

import pytest

from songfarm.models import theory
from songfarm.models.planners import harmony, lexicon
from songfarm.models.planners.rules import RulesPlanner
from songfarm.models.request import TrackRequest

DEVSET = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "musicbench_dev.jsonl"
# A caption states a numeric tempo when a number goes with "beats per minute" or "bpm".
_NUMERIC = re.compile(r"\d+(?:\.\d+)?\s*beats per minute|\bbpm is \d", re.I)
_ITALIAN = {t.name.lower(): t for t in lexicon.TEMPO_TERMS if t.italian}
_TERM = re.compile(r"\b(" + "|".join(sorted(_ITALIAN, key=len, reverse=True)) + r")\b", re.I)


def _rows() -> list[dict]:
    if not DEVSET.exists():
        pytest.skip(f"dev set not found at {DEVSET}")
    return [json.loads(line) for line in DEVSET.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_devset_rates(tmp_path):
    rows = _rows()
    planner = RulesPlanner()
    counts = {name: [0, 0] for name in ("numeric_tempo_exact", "tempo_term_in_range", "key_planned",
                                        "beats_per_bar_planned")}  # name → [hits, rows]
    misses: list[str] = []
    t0 = time.perf_counter()
    for i, row in enumerate(rows):
        caption = row["caption"]
        plan = planner.plan(TrackRequest(id=f"dev{i}", prompt=caption))
        if _NUMERIC.search(caption):
            ok = plan.bpm == row["bpm"]
            counts["numeric_tempo_exact"][0] += ok
            counts["numeric_tempo_exact"][1] += 1
            if not ok:
                misses.append(f"row {i}: bpm {plan.bpm} != {row['bpm']}")
        elif _TERM.search(caption):
            term = _ITALIAN[_TERM.search(caption).group(1).lower()]
            ok = term.low <= plan.bpm <= term.high
            counts["tempo_term_in_range"][0] += ok
            counts["tempo_term_in_range"][1] += 1
            if not ok:
                misses.append(f"row {i}: {term.name} planned {plan.bpm}, outside {term.low:g}-{term.high:g}")
        if row["key"]:
            tonic, mode = row["key"].split()
            ok = theory.same_key(plan.tonic, plan.mode, tonic, mode)
            counts["key_planned"][0] += ok
            counts["key_planned"][1] += 1
            if not ok:
                misses.append(f"row {i}: key {plan.key} != {row['key']}")
        ok = plan.beats_per_bar == row["beats_per_bar"]
        counts["beats_per_bar_planned"][0] += ok
        counts["beats_per_bar_planned"][1] += 1
        if not ok:
            misses.append(f"row {i}: beats per bar {plan.beats_per_bar} != {row['beats_per_bar']}")
    seconds = time.perf_counter() - t0

    rates = {name: (hits / total if total else 1.0) for name, (hits, total) in counts.items()}
    report = {"rows": len(rows), "rates": rates, "counts": {k: {"hits": h, "rows": n} for k, (h, n) in counts.items()},
              "misses": misses, "ms_per_prompt": 1000 * seconds / len(rows)}  # timing is reported, never asserted
    (tmp_path / "planner_devset.json").write_text(json.dumps(report, indent=2))
    summary = ", ".join(f"{k} {100 * v:.1f}% ({counts[k][0]}/{counts[k][1]})" for k, v in rates.items())
    print(f"\nplanner dev set: {summary}")

    # every category must actually be exercised by the dev set
    assert all(total > 0 for _, total in counts.values()), summary
    assert rates["numeric_tempo_exact"] == 1.0, f"{summary}; {misses}"
    assert rates["tempo_term_in_range"] == 1.0, f"{summary}; {misses}"
    assert rates["key_planned"] >= 0.98, f"{summary}; {misses}"
    assert rates["beats_per_bar_planned"] >= 0.95, f"{summary}; {misses}"


def test_devset_plans_are_well_formed():
    planner = RulesPlanner()
    adopted = 0
    for i, row in enumerate(_rows()):
        plan = planner.plan(TrackRequest(id=f"dev{i}", prompt=row["caption"]))
        plan.check()
        assert abs(plan.planned_s - plan.duration_s) <= plan.bar_s / 2 + 1e-9
        tonic_pc = theory.pitch_class(plan.tonic)
        readable = [c for c in row["chords"] if _readable(c)]
        verse_like = [s for s in plan.sections if s.name in ("verse", "chorus")] or plan.sections
        if readable and harmony.fit_to_key(readable, tonic_pc, plan.mode).fits:
            # the caption's chords fit the key: they are the plan's main progression
            assert plan.sources["chords"] == "stated", i
            assert set(verse_like[0].chords) <= set(readable) | set(plan.sections[-1].chords[-2:]), i
            adopted += 1
        elif readable:
            # they do not: the style's progression plays, and the plan says why
            assert plan.sources["chords"] == "inferred", i
            assert any(c.startswith("chords: the prompt's") and "do not fit" in c for c in plan.conflicts), i
        # the key is audible: the tonic chord in the plan's mode opens the verse and holds
        # at least a quarter of the bars, and the song ends on it
        assert harmony.is_tonic_chord(verse_like[0].chords[0], tonic_pc, plan.mode), (i, verse_like[0].chords)
        chords = [c for s in plan.sections for c in s.chords]
        assert harmony.tonic_share(chords, tonic_pc, plan.mode) >= 0.25, (i, chords)
        assert harmony.is_tonic_chord(chords[-1], tonic_pc, plan.mode)
    assert adopted >= 30  # the captions' chords are used where they can be


def _readable(symbol: str) -> bool:
    try:
        theory.parse_chord(symbol)
        return True
    except ValueError:
        return False
