"""The `rules` planner on the labelled prompt set bench/data/adherence_prompts.jsonl.

Each row is `{"prompt", "lang", "categories", "labels"}` (the format in the file's own
rows; the adherence benchmark reads the same file). A row counts as right in a category
when every label that category looks at holds for the plan (CATEGORY_LABELS); rows in
"contradiction" must also record a conflict, rows in "language" must also get the
language right and every other label. The per-category rates go into the assertion
message and <pytest tmp dir>/planner_prompts.json; `python tests/models/test_planner_prompts.py`
prints them as a table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from songfarm.models.instruments import INSTRUMENTS, ruled_out
from songfarm.models.plan import SongPlan
from songfarm.models.planners.rules import RulesPlanner
from songfarm.models.request import TrackRequest

PROMPTS = Path(__file__).resolve().parents[2] / "bench" / "data" / "adherence_prompts.jsonl"
LABELS = ("genre", "vocals", "exclusive", "excluded", "instruments", "beats_per_bar", "bpm", "bpm_range", "mode")
# category → the labels it is judged on (None: all of the row's labels)
CATEGORY_LABELS: dict[str, tuple[str, ...] | None] = {
    "genre": ("genre",),
    "exclusions": ("vocals", "exclusive", "excluded", "instruments"),
    "metre": ("beats_per_bar",),
    "tempo_phrasing": ("bpm", "bpm_range"),
    "tempo_words": ("bpm", "bpm_range", "mode"),
    "instruments": ("instruments",),
    "contradiction": None,
    "language": None,
}
# The rates the planner keeps on this set (it was written with the vocabulary, so the held-out
# sets the benchmark measures matter more; these guard against regressions).
MIN_RATE = {"genre": 0.95, "exclusions": 0.95, "metre": 0.95, "tempo_phrasing": 0.95, "tempo_words": 0.95,
            "instruments": 0.95, "contradiction": 0.95, "language": 0.95}


def load_rows(path: Path = PROMPTS) -> list[dict]:
    """The labelled rows; a malformed row is a clear error naming its line."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        where = f"{path.name}:{n}"
        assert isinstance(row.get("prompt"), str) and row["prompt"].strip(), f"{where}: prompt"
        assert row.get("lang") in ("en", "zh", "ja"), f"{where}: lang={row.get('lang')!r}"
        assert row.get("categories") and set(row["categories"]) <= set(CATEGORY_LABELS), \
            f"{where}: categories={row.get('categories')!r}"
        assert set(row.get("labels", {})) <= set(LABELS), f"{where}: labels={sorted(row.get('labels', {}))}"
        for name in row["labels"].get("instruments", []) + row["labels"].get("excluded", []):
            assert name in INSTRUMENTS or any(ruled_out(i, [name]) for i in INSTRUMENTS), f"{where}: {name!r}"
        rows.append(row)
    return rows


def label_holds(plan: SongPlan, name: str, want) -> bool:
    """Whether the plan satisfies one label."""
    if name == "genre":
        return plan.genre in (want if isinstance(want, list) else [want])
    if name == "excluded":
        # every instrument the label rules out, the plan rules out too
        return all(ruled_out(i, plan.excluded) for i in INSTRUMENTS if ruled_out(i, want))
    if name == "instruments":
        return all(n in plan.instruments for n in want)
    if name == "bpm":
        return abs(plan.bpm - want) <= 0.02 * want
    if name == "bpm_range":
        return want[0] <= plan.bpm <= want[1]
    return getattr(plan, name) == want  # vocals, exclusive, beats_per_bar, mode


def failures(plan: SongPlan, row: dict, category: str) -> list[str]:
    """What the plan gets wrong for `row` judged in `category` ([] when right)."""
    looked_at = CATEGORY_LABELS[category]
    wrong = [f"{k}: want {v!r}, got {getattr(plan, k if k != 'bpm_range' else 'bpm')!r}"
             for k, v in row["labels"].items() if (looked_at is None or k in looked_at) and not label_holds(plan, k, v)]
    if category == "contradiction" and not plan.conflicts:
        wrong.append("conflicts: none recorded")
    if category == "language" and plan.language != row["lang"]:
        wrong.append(f"language: want {row['lang']!r}, got {plan.language!r}")
    return wrong


def score(rows: list[dict], planner: RulesPlanner | None = None) -> tuple[dict[str, list[int]], list[str]]:
    """category → [right, rows], and one line per miss."""
    planner = planner or RulesPlanner()
    counts = {c: [0, 0] for c in CATEGORY_LABELS}
    misses = []
    for i, row in enumerate(rows):
        plan = planner.plan(TrackRequest(id=f"p{i}", prompt=row["prompt"]))
        for category in row["categories"]:
            wrong = failures(plan, row, category)
            counts[category][0] += not wrong
            counts[category][1] += 1
            if wrong:
                misses.append(f"{category}: {row['prompt']!r}: {'; '.join(wrong)}")
    return counts, misses


def table(counts: dict[str, list[int]]) -> str:
    lines = [f"{'category':<16}{'right':>7}{'rows':>6}{'rate':>8}"]
    for c, (right, total) in counts.items():
        lines.append(f"{c:<16}{right:>7}{total:>6}{(right / total if total else 1.0):>8.1%}")
    return "\n".join(lines)


def test_the_prompt_set_is_well_formed_and_large_enough():
    rows = load_rows()
    assert len(rows) >= 150
    assert {r["lang"] for r in rows} == {"en", "zh", "ja"}
    for category in CATEGORY_LABELS:
        assert sum(category in r["categories"] for r in rows) >= 8, category


def test_planner_accuracy_per_category(tmp_path):
    counts, misses = score(load_rows())
    rates = {c: (right / total if total else 1.0) for c, (right, total) in counts.items()}
    (tmp_path / "planner_prompts.json").write_text(json.dumps({"rates": rates, "misses": misses}, indent=2,
                                                              ensure_ascii=False))
    print("\n" + table(counts))
    low = {c: f"{r:.1%}" for c, r in rates.items() if r < MIN_RATE[c]}
    assert not low, f"{low}; misses: {misses}"


if __name__ == "__main__":  # python tests/models/test_planner_prompts.py [-v]: the table (and misses with -v)
    counts, misses = score(load_rows())
    print(table(counts))
    if "-v" in sys.argv:
        print("\n".join(misses))
