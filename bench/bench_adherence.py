"""Does the music follow the prompt? Planner accuracy and render adherence, end to end.

Two sources of labelled prompts:
- /work/shared/eval/musicbench_dev.jsonl: 100 English captions, each stating tempo, key
  and beats per bar;
- bench/data/adherence_prompts.jsonl: English, Chinese and Japanese prompts, one JSON object
  a line, `{"prompt", "lang", "categories": [...], "labels": {...}}` (labels: genre,
  vocals, exclusive, excluded, instruments, beats_per_bar, bpm, bpm_range, mode).

Planner accuracy: every prompt through the rules planner; a prompt is right when all its
labels hold; shown per category, per label and per language.

Render adherence: `--limit` prompts of each source, evenly spaced over it, rendered (synth generator,
`--duration` seconds) and measured by an analyser the project did not write — essentia's
RhythmExtractor2013 (multifeature) and KeyExtractor, or librosa where essentia cannot be
installed (the output says which):
- tempo: the analyser's tempo within 2 % of the plan's, never folded (a compound metre's
  dotted quarter counts, models/verifiers/tempo.planned_pulses), over slow (< 90 BPM),
  medium and fast (≥ 130) plans; misheard metrical relatives (×2, ×1/2, ...) are counted;
- key: tonic and mode, enharmonic spellings equal;
- exclusions and named instruments, on the composed score (the take's MIDI tracks), against
  the plan (does the composer obey it?) and against the prompt's labels (end to end);
- loudness (pyloudnorm, ±1 LU of the target) and true peak (models/loudness.py, ≤ ceiling);
- the verifier's felt tempo against the analyser's (the same beat level, within 4 %), and for
  scale, librosa's tracker against essentia's.

Tempo is reported twice, per band: for the first take (round 0, as above) and for the
DELIVERED take: each track through the real lifecycle (pipelines/core/local.render_delivered,
the job's default max_attempts), where a take the verifier rejects renders again (a
re-render plays the composer's pulse-clear arrangement) and the best take is kept.

    .venv/bin/python bench/bench_adherence.py [--limit 100] [--duration 20] [--json bench/results/adherence.json]
        [--no-delivered]
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from songfarm.models import loudness, theory
from songfarm.models.factory import make
from songfarm.models.instruments import INSTRUMENTS, ruled_out
from songfarm.models.request import TrackRequest
from songfarm.models.settings import RenderSettings
from songfarm.models.take import decode_audio
from songfarm.models.verifiers import key as key_mod
from songfarm.models.verifiers import tempo as tempo_mod
from songfarm.pipelines.core.local import render_delivered
from songfarm.pipelines.core.shell import stage_shells

DEV_SET = Path("/work/shared/eval/musicbench_dev.jsonl")
PROMPTS = Path(__file__).parent / "data" / "adherence_prompts.jsonl"
TARGETS = {"tempo": 0.90, "key": 0.90, "exclusions": 1.0, "instruments": 1.0, "loudness": 1.0, "true_peak": 1.0}
TEMPO_TOLERANCE = 0.02  # relative, as the target
SAME_LEVEL = 0.04  # two trackers hear the same beat level when within this (librosa's hop is ±2.5 %)
BANDS = (("slow", 0.0, 90.0), ("medium", 90.0, 130.0), ("fast", 130.0, float("inf")))  # plan BPM


# --- the prompts ----------------------------------------------------------------------------

def load_prompts(dev_path: Path, prompts_path: Path) -> list[dict]:
    """Both sources as one list of {id, source, prompt, lang, categories, labels}."""
    items = []
    if dev_path.exists():
        for i, line in enumerate(s for s in dev_path.read_text().splitlines() if s.strip()):
            row = json.loads(line)
            labels = {"beats_per_bar": row["beats_per_bar"]}
            if re.search(rf"\b{row['bpm']:g}(\.0)?\b", row["caption"]):  # stated as a number, not a tempo word
                labels["bpm"] = row["bpm"]
            if row.get("key"):  # a few captions state no key
                labels["key"] = row["key"].split()
            items.append({"id": f"dev{i:03d}", "source": "musicbench", "prompt": row["caption"], "lang": "en",
                          "categories": ["musicbench"], "labels": labels})
    if prompts_path.exists():
        for i, line in enumerate(prompts_path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                items.append({"id": f"p{i:03d}", "source": "adherence", "prompt": row["prompt"],
                              "lang": row.get("lang", "en"), "categories": list(row.get("categories", [])),
                              "labels": dict(row.get("labels", {}))})
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"{prompts_path}:{i}: not a labelled prompt ({exc})") from None
    return items


def spread(items: list[dict], limit: int) -> list[dict]:
    """At most `limit` items, evenly spaced over the list (the prompt file is grouped by category)."""
    if limit <= 0:
        return []
    step = max(1, len(items) // limit)
    return items[::step][:limit]


def members(entry: str) -> list[str]:
    """The instruments an exclusion entry names ("drums", "guitar", "piano", "vocals"), by
    the composer's own rule (models/instruments.ruled_out)."""
    return [name for name in INSTRUMENTS if ruled_out(name, [entry])]


def plan_exclusions(plan) -> list[str]:
    """What the plan rules out, "no vocals" included (plan.vocals False)."""
    return list(plan.excluded) + ([] if plan.vocals else ["vocals"])


def label_results(plan, labels: dict) -> dict[str, bool]:
    """Each label of a prompt → whether the plan holds it."""
    checks = {
        "genre": lambda v: plan.genre in (v if isinstance(v, list) else [v]),
        "vocals": lambda v: plan.vocals == v,
        "exclusive": lambda v: plan.exclusive == v,
        "excluded": lambda v: all(ruled_out(n, plan_exclusions(plan)) for e in v for n in members(e)),
        "instruments": lambda v: set(v) <= set(plan.instruments),
        "beats_per_bar": lambda v: plan.beats_per_bar == v,
        "bpm": lambda v: abs(plan.bpm - v) / v <= TEMPO_TOLERANCE,
        "bpm_range": lambda v: v[0] <= plan.bpm <= v[1],
        "mode": lambda v: plan.mode == v,
        "key": lambda v: theory.same_key(v[0], v[1], plan.tonic, plan.mode),
    }
    return {name: bool(checks[name](value)) for name, value in labels.items() if name in checks}


# --- the analysers ----------------------------------------------------------------------------

def essentia_analyser():
    """(mono 44.1 kHz float32 → (bpm, tonic, mode)) with essentia, or None when it is missing."""
    try:
        es = importlib.import_module("essentia.standard")
    except ImportError:
        return None
    rhythm, key = es.RhythmExtractor2013(method="multifeature"), es.KeyExtractor()

    def analyse(mono: np.ndarray, sr: int) -> tuple[float, str, str]:
        if sr != 44100:  # both algorithms assume 44.1 kHz
            mono = es.Resample(inputSampleRate=sr, outputSampleRate=44100)(mono)
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        tonic, scale, _ = key(mono)
        return float(rhythm(mono)[0]), tonic, scale
    return analyse


def librosa_key(mono: np.ndarray, sr: int) -> tuple[str, str]:
    """Krumhansl-Schmuckler key of librosa's mean STFT chroma: (tonic, mode)."""
    import librosa

    chroma = librosa.feature.chroma_stft(y=mono, sr=sr).mean(axis=1)  # (12,) C first
    major, minor = key_mod.PROFILES["krumhansl"]
    _, pc, mode = max((np.corrcoef(chroma, np.roll(prof, pc))[0, 1], pc, mode)
                      for mode, prof in (("major", major), ("minor", minor)) for pc in range(12))
    return theory.tonic_name(pc, mode), mode


def librosa_analyser():
    """The fallback: librosa.feature.tempo and a chroma key, at 22.05 kHz."""
    import librosa

    def analyse(mono: np.ndarray, sr: int) -> tuple[float, str, str]:
        y = librosa.resample(mono, orig_sr=sr, target_sr=22050)
        return (float(librosa.feature.tempo(y=y, sr=22050)[0]), *librosa_key(y, 22050))
    return analyse


def choose_analyser(wanted: str, install: bool) -> tuple[str, object, str]:
    """(name, analyse, note): essentia when asked or available (installed into this Python
    with pip when missing and `install`), else librosa with a note saying why."""
    if wanted == "librosa":
        return "librosa", librosa_analyser(), "librosa, as asked (--analyser librosa)"
    analyse = essentia_analyser()
    if analyse is None and install:
        print("essentia is missing: pip install essentia ...", file=sys.stderr)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "essentia"], check=False)
        importlib.invalidate_caches()
        analyse = essentia_analyser() if done.returncode == 0 else None
    if analyse is not None:
        return "essentia", analyse, "essentia RhythmExtractor2013 (multifeature) + KeyExtractor"
    if wanted == "essentia":
        raise SystemExit("essentia is not installed and could not be (pip install essentia)")
    return "librosa", librosa_analyser(), "librosa FALLBACK: essentia could not be installed"


# --- one render -----------------------------------------------------------------------------

def score_instruments(midi: bytes) -> list[str]:
    """The canonical instruments of a take's MIDI tracks (a track is named after its stem:
    the instrument with '_' for spaces, '_2' for a second part of it)."""
    from symusic import Score

    names = []
    for track in Score.from_midi(midi).tracks:
        base = track.name.replace("_", " ")
        for candidate in (base, re.sub(r" \d+$", "", base)):
            if candidate in INSTRUMENTS:
                names.append(candidate)
                break
        else:
            names.append(base)
    return sorted(set(names))


def score_results(plan, labels: dict, played: list[str]) -> dict[str, bool]:
    """Exclusions and named instruments on the score, against the plan and the prompt."""
    known = [n for n in played if n in INSTRUMENTS]
    out = {"excl_plan": not any(ruled_out(n, plan_exclusions(plan)) for n in known)
           and (not plan.exclusive or set(played) <= set(plan.instruments)),
           "named_plan": set(plan.instruments) <= set(played)}
    prompt_excluded = list(labels.get("excluded", [])) + (["vocals"] if labels.get("vocals") is False else [])
    if prompt_excluded or labels.get("exclusive"):
        # "X only": only the prompt's named instruments, or the plan's reading of them where unlabelled
        allowed = set(labels.get("instruments") or plan.instruments)
        out["excl_prompt"] = (not any(ruled_out(n, prompt_excluded) for n in known)
                              and (not labels.get("exclusive") or set(played) <= allowed))
    if labels.get("instruments"):
        out["named_prompt"] = set(labels["instruments"]) <= set(played)
    return out


def librosa_tempo(mono: np.ndarray, sr: int) -> float:
    """librosa.feature.tempo at 22.05 kHz: a second tracker, for how much trackers differ."""
    import librosa

    return float(librosa.feature.tempo(y=librosa.resample(mono, orig_sr=sr, target_sr=22050), sr=22050)[0])


def tempo_result(bpm: float, plan) -> dict:
    """The analyser's `bpm` against the plan: within TEMPO_TOLERANCE of a planned pulse (no
    folding), and the metrical relative it is of the plan's tempo ("2", "1/2", ...; "" none)."""
    pulses = tempo_mod.planned_pulses(plan.bpm, plan.beats_per_bar, plan.beat_unit)
    target = min(pulses, key=lambda b: abs(np.log(max(bpm, 1e-9) / b)))
    relation = tempo_mod.relation(bpm, plan.bpm, SAME_LEVEL)
    return {"bpm": round(bpm, 2), "tempo_ok": bpm > 0 and abs(bpm - target) / target <= TEMPO_TOLERANCE,
            "heard_as": str(relation[0]) if relation else ""}


def render_one(item: dict, seed: int, duration: float, stages, analyse, reference: bool) -> dict:
    planner, generator, verifier = stages
    request = TrackRequest(id=item["id"], prompt=item["prompt"], duration_s=duration, seed=seed)
    plan = planner.plan(request)
    take = generator.takes_for(plan, request)[0]
    verdict = verifier.verify(take, plan, request)
    audio, sr = take.audio, take.sample_rate
    bpm, tonic, mode = analyse(audio.mean(axis=0).astype(np.float32), sr)
    felt = verdict.check("tempo").measured or 0.0
    lufs = _pyloudnorm(audio, sr)
    trackers = {}
    if reference:  # librosa beside essentia: do two independent trackers hear the same level?
        other = librosa_tempo(audio.mean(axis=0).astype(np.float32), sr)
        trackers = {"librosa_bpm": round(other, 2), "librosa_agrees": bpm > 0 and abs(other / bpm - 1) <= SAME_LEVEL}
    played = score_instruments(take.midi) if take.midi else []
    return {"id": item["id"], "source": item["source"], "lang": item["lang"], "prompt": item["prompt"][:90],
            "plan_bpm": plan.bpm, "metre": plan.time_signature, "style": plan.style, "plan_key": plan.key,
            "band": next(name for name, lo, hi in BANDS if lo <= plan.bpm < hi),
            **tempo_result(bpm, plan),
            "key": f"{tonic} {mode}", "key_ok": theory.same_key(tonic, mode, plan.tonic, plan.mode),
            "felt_bpm": felt, "felt_agrees": felt > 0 and bpm > 0 and abs(felt / bpm - 1) <= SAME_LEVEL,
            "verifier_tempo_ok": verdict.check("tempo").passed, "accepted": verdict.accepted,
            "lufs": round(lufs, 2), "loudness_ok": abs(lufs - loudness.TARGET_LUFS) <= 1.0,
            "true_peak_db": round(loudness.true_peak_db(audio), 2),
            "true_peak_ok": loudness.true_peak_db(audio) <= loudness.TRUE_PEAK_CEILING_DB + 1e-6,
            "played": played, "excluded": plan_exclusions(plan), "instruments": list(plan.instruments),
            "exclusive": plan.exclusive, **trackers, **score_results(plan, item["labels"], played)}


def deliver_one(item: dict, seed: int, duration: float, planner, shells, settings: RenderSettings,
                analyse) -> dict:
    """The take a job would deliver for this prompt (every round the lifecycle asks for),
    its tempo as the analyser hears it: {"delivered_" + field: ...}."""
    request = TrackRequest(id=item["id"], prompt=item["prompt"], duration_s=duration, seed=seed)
    plan = planner.plan(request)
    done = render_delivered(request, shells, settings)
    out = {"status": done.life.status, "rounds": done.life.rounds}
    if done.take is None:  # failed: no take to hear
        out.update(attempt=-1, bpm=0.0, tempo_ok=False, heard_as="")
    else:
        audio, sr = decode_audio(bytes(done.take["audio"]))
        bpm = analyse(audio.mean(axis=0).astype(np.float32), sr)[0]
        out.update(attempt=int(done.take["attempt"]), **tempo_result(bpm, plan))
    return {f"delivered_{k}": v for k, v in out.items()}


def _pyloudnorm(audio: np.ndarray, sr: int) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(sr).integrated_loudness(np.asarray(audio, dtype=np.float64).T))


# --- the report -----------------------------------------------------------------------------

def rate(rows: list[dict], field: str) -> tuple[float | None, int]:
    """(share of rows where `field` is true, how many rows have it)."""
    have = [bool(r[field]) for r in rows if field in r]
    return (sum(have) / len(have) if have else None, len(have))


def planner_report(items: list[dict], planner) -> dict:
    by_category, by_label, by_lang, failures = defaultdict(list), defaultdict(list), defaultdict(list), []
    for item in items:
        plan = planner.plan(TrackRequest(id=item["id"], prompt=item["prompt"]))
        results = label_results(plan, item["labels"])
        ok = all(results.values())
        for c in item["categories"]:
            by_category[c].append(ok)
        for name, good in results.items():
            by_label[name].append(good)
        by_lang[item["lang"]].append(ok)
        if not ok:
            failures.append({"id": item["id"], "prompt": item["prompt"], "labels": item["labels"],
                             "wrong": [n for n, g in results.items() if not g],
                             "plan": {"genre": plan.genre, "bpm": plan.bpm, "metre": plan.time_signature,
                                      "key": plan.key, "instruments": plan.instruments, "vocals": plan.vocals,
                                      "excluded": plan.excluded, "exclusive": plan.exclusive}})

    def shares(d):
        return {k: {"rate": sum(v) / len(v), "n": len(v)} for k, v in sorted(d.items())}
    return {"categories": shares(by_category), "labels": shares(by_label), "languages": shares(by_lang),
            "failures": failures}


def render_report(rows: list[dict]) -> dict:
    out = {"tempo": rate(rows, "tempo_ok"), "key": rate(rows, "key_ok"),
           "exclusions_plan": rate(rows, "excl_plan"), "exclusions_prompt": rate(rows, "excl_prompt"),
           "instruments_plan": rate(rows, "named_plan"), "instruments_prompt": rate(rows, "named_prompt"),
           "loudness": rate(rows, "loudness_ok"), "true_peak": rate(rows, "true_peak_ok"),
           "verifier_agrees": rate(rows, "felt_agrees"), "librosa_agrees": rate(rows, "librosa_agrees"),
           "same_tempo_verdict": rate([{"same": r["tempo_ok"] == r["verifier_tempo_ok"]} for r in rows], "same"),
           "verifier_tempo_ok": rate(rows, "verifier_tempo_ok"),
           "accepted": rate(rows, "accepted")}
    for name, _, _ in BANDS:
        out[f"tempo_{name}"] = rate([r for r in rows if r["band"] == name], "tempo_ok")
    out["heard_as"] = dict(sorted(_count(r["heard_as"] for r in rows if r["heard_as"]).items()))
    if any("delivered_tempo_ok" in r for r in rows):  # the take the lifecycle delivers
        out["delivered_tempo"] = rate(rows, "delivered_tempo_ok")
        for name, _, _ in BANDS:
            out[f"delivered_tempo_{name}"] = rate([r for r in rows if r["band"] == name], "delivered_tempo_ok")
        out["delivered_heard_as"] = dict(sorted(_count(r["delivered_heard_as"] for r in rows
                                                       if r.get("delivered_heard_as")).items()))
        out["delivered_rerendered"] = rate([{"again": r["delivered_rounds"] > 1} for r in rows
                                            if "delivered_rounds" in r], "again")
        out["delivered_status"] = dict(sorted(_count(r["delivered_status"] for r in rows
                                                     if "delivered_status" in r).items()))
    return {k: ({"rate": v[0], "n": v[1]} if isinstance(v, tuple) else v) for k, v in out.items()}


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for v in values:
        counts[v] += 1
    return counts


def print_tables(planner: dict, render: dict | None, analyser_note: str, args) -> None:
    def line(label, entry, target=None):
        shown = "-" if entry["rate"] is None else f"{entry['rate']:.0%}"
        goal = f"{target:.0%}" if target is not None else ""
        print(f"  {label:52s} {shown:>6s} {entry['n']:>5d} {goal:>7s}")

    print(f"\nplanner accuracy (every label of a prompt right){'':5s} {'rate':>6s} {'n':>5s}")
    for kind in ("categories", "languages", "labels"):
        print(f" by {kind[:-1] if kind != 'categories' else 'category'}")
        for name, entry in planner[kind].items():
            line(name, entry)
    if render is None:
        return
    print(f"\nrender adherence, {args.duration:g} s renders, measured by {analyser_note}")
    print(f"  {'measure':52s} {'rate':>6s} {'n':>5s} {'target':>7s}")
    line("felt tempo within 2 %, no folding: first take", render["tempo"], TARGETS["tempo"])
    for name, lo, hi in BANDS:
        line(f"  {name} plans ({lo:g}-{hi:g} BPM)", render[f"tempo_{name}"], TARGETS["tempo"])
    print(f"  {'  heard at a metrical relative (heard / planned)':52s} {render['heard_as'] or '-'}")
    if "delivered_tempo" in render:
        line("felt tempo within 2 %, no folding: DELIVERED take", render["delivered_tempo"], TARGETS["tempo"])
        for name, lo, hi in BANDS:
            line(f"  {name} plans ({lo:g}-{hi:g} BPM)", render[f"delivered_tempo_{name}"], TARGETS["tempo"])
        print(f"  {'  heard at a metrical relative (heard / planned)':52s} {render['delivered_heard_as'] or '-'}")
        line("  tracks rendered again (a take rejected)", render["delivered_rerendered"])
        print(f"  {'  delivered status':52s} {render['delivered_status']}")
    line("key, tonic and mode", render["key"], TARGETS["key"])
    line("exclusions never violated (score vs plan)", render["exclusions_plan"], TARGETS["exclusions"])
    line("exclusions never violated (score vs prompt labels)", render["exclusions_prompt"], TARGETS["exclusions"])
    line("named instruments in the score (plan's)", render["instruments_plan"], TARGETS["instruments"])
    line("named instruments in the score (prompt labels')", render["instruments_prompt"], TARGETS["instruments"])
    line("loudness within 1 LU of target (pyloudnorm)", render["loudness"], TARGETS["loudness"])
    line("true peak at or under the ceiling", render["true_peak"], TARGETS["true_peak"])
    line("verifier's felt tempo = analyser's beat level (4 %)", render["verifier_agrees"])
    line("  for scale: librosa's beat level = analyser's (4 %)", render["librosa_agrees"])
    line("  verifier's tempo pass/fail = analyser's", render["same_tempo_verdict"])
    line("verifier's tempo check passes", render["verifier_tempo_ok"])
    line("verifier accepts the take", render["accepted"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=100, help="prompts rendered from each source (0: plan only)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per render")
    ap.add_argument("--json", default="bench/results/adherence.json", help="where the JSON goes")
    ap.add_argument("--devset", type=Path, default=DEV_SET)
    ap.add_argument("--prompts", type=Path, default=PROMPTS)
    ap.add_argument("--analyser", choices=("auto", "essentia", "librosa"), default="auto",
                    help="auto: essentia, installed with pip when missing, else librosa")
    ap.add_argument("--no-install", action="store_true", help="never pip install essentia")
    ap.add_argument("--no-delivered", action="store_true",
                    help="first takes only: skip rendering each track through the lifecycle")
    args = ap.parse_args(argv)

    items = load_prompts(args.devset, args.prompts)
    if not items:
        raise SystemExit(f"no prompts: neither {args.devset} nor {args.prompts} exists")
    t0 = time.perf_counter()
    planner = make("planner", "rules")
    planner_doc = planner_report(items, planner)

    render_doc, rows, name, note = None, [], "", ""
    chosen = [it for src in ("musicbench", "adherence") for it in spread([i for i in items if i["source"] == src],
                                                                       args.limit)]
    if chosen:
        name, analyse, note = choose_analyser(args.analyser, not args.no_install)
        stages = (planner, make("generator", "synth"), make("verifier", "features"))
        for k, item in enumerate(chosen):
            rows.append(render_one(item, k, args.duration, stages, analyse, reference=name == "essentia"))
            r = rows[-1]
            print(f"{k + 1:3d}/{len(chosen)} {r['id']} plan {r['plan_bpm']:6.1f} {r['metre']:4s} {r['plan_key']:9s} "
                  f"{r['style']:12s} → {name} {r['bpm']:6.1f} {'ok ' if r['tempo_ok'] else 'BAD'} "
                  f"felt {r['felt_bpm']} | {r['key']} {'ok ' if r['key_ok'] else 'BAD'}", file=sys.stderr)
        if not args.no_delivered:  # the delivered take: the real lifecycle, the job's default max_attempts
            settings = RenderSettings()
            shells = stage_shells(settings)
            for k, (item, r) in enumerate(zip(chosen, rows)):
                r.update(deliver_one(item, k, args.duration, planner, shells, settings, analyse))
                print(f"{k + 1:3d}/{len(chosen)} {r['id']} delivered {r['delivered_status']} after "
                      f"{r['delivered_rounds']} round(s), take of attempt {r['delivered_attempt']}: "
                      f"{name} {r['delivered_bpm']:6.1f} {'ok ' if r['delivered_tempo_ok'] else 'BAD'}",
                      file=sys.stderr)
        render_doc = render_report(rows)

    print_tables(planner_doc, render_doc, note, args)
    print(f"\n{len(items)} prompts planned, {len(rows)} rendered in {time.perf_counter() - t0:.0f} s")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"duration_s": args.duration, "limit": args.limit, "analyser": name,
                               "max_attempts": None if args.no_delivered else RenderSettings().max_attempts,
                               "analyser_note": note, "targets": TARGETS, "planner": planner_doc,
                               "render": render_doc, "renders": rows}, indent=1, ensure_ascii=False, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
