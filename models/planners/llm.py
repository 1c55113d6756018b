"""Planner `llm`: a causal language model reads the prompt and answers with the plan as JSON.

The answer is never trusted blindly. The `rules` planner plans the same request first;
then each field of the model's answer is validated on its own (tempo in range, a real
key, a metre we can play, known instruments, sections whose chords parse, …). Valid fields
are kept and marked `"model"` in plan.sources; invalid or missing ones keep the rules
planner's value, and plan.conflicts says why. Explicit request overrides and what the
rules planner read as stated in the prompt win over the model (`trust_stated`).

The kept fields are handed back to the rules planner as overrides, so the rest of the plan
(sections, chords, style) is derived consistently from them — a tempo the model chose
still gives a song of the requested length. The model's own sections replace those only
when they are valid and add up to the same length within a bar.

    planner: {name: llm, options: {checkpoint: /models/Qwen2.5-7B-Instruct}}
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import checkpoints, devices, theory
from ..errors import SongfarmError
from ..instruments import INSTRUMENTS
from ..plan import SECTION_NAMES, Section, SongPlan
from ..request import TrackRequest
from ..stages import Planner

# Request override field → the plan.sources keys it decides (set to "model" when the model's value is kept).
FIELD_SOURCES = {
    "bpm": ("bpm",),
    "key": ("key", "tonic", "mode"),
    "time_signature": ("time_signature",),
    "genre": ("genre", "style"),
    "moods": ("moods",),
    "instruments": ("instruments",),
}
# When the rules planner cannot use the kept fields together, they are given up in this order.
GIVE_UP_ORDER = ("instruments", "genre", "moods", "key", "time_signature", "bpm")
TRUSTED = ("stated", "override")  # sources the model does not overrule when trust_stated is on
TIME_SIGNATURES = ("2/4", "3/4", "4/4", "5/4", "6/8", "7/8", "9/8", "12/8")

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "bpm": {"type": "number", "minimum": 30, "maximum": 300},
        "tonic": {"type": "string", "enum": theory.NOTE_NAMES_SHARP + ["Db", "Eb", "Gb", "Ab", "Bb"]},
        "mode": {"type": "string", "enum": list(theory.MODES)},
        "time_signature": {"type": "string", "enum": list(TIME_SIGNATURES)},
        "genre": {"type": "string", "maxLength": 40},
        "moods": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 4},
        "instruments": {"type": "array", "items": {"type": "string", "enum": sorted(INSTRUMENTS)}, "maxItems": 8},
        "sections": {"type": "array", "items": {
            "type": "object",
            "properties": {"name": {"type": "string", "enum": list(SECTION_NAMES)},
                           "bars": {"type": "integer", "minimum": 1, "maximum": 64},
                           "energy": {"type": "number", "minimum": 0, "maximum": 1},
                           "chords": {"type": "array", "items": {"type": "string"},
                                      "description": "one chord symbol per bar, e.g. Am, F, C, G7"}},
            "required": ["name", "bars", "energy", "chords"]}},
    },
    "required": ["bpm", "tonic", "mode", "time_signature", "genre", "moods", "instruments", "sections"],
}

SYSTEM_PROMPT = (
    "You are a music producer. Plan the song the user asks for. Answer with exactly one JSON object "
    "and nothing else, following this JSON schema:\n{schema}\n"
    "The sections must add up to about {seconds:.0f} seconds at your tempo "
    "(one bar lasts beats-per-bar x 60 / bpm seconds)."
)


@dataclass
class LLMPlannerConfig:
    checkpoint: str = ""  # local transformers causal-LM folder (config.json, weights, tokenizer); required
    model_id: str = ""  # name reported in plan.planner; "" → from the folder
    revision: str = ""  # version reported in plan.planner; "" → the cached commit, else a hash of the configs
    device: str = "auto"  # "auto" (a CUDA GPU if present, else CPU with a warning), "cpu", "cuda", "cuda:N"
    dtype: str = "auto"  # "auto" (bf16/fp16 on GPU), "fp16", "bf16", "fp32"; CPU is fp32
    max_new_tokens: int = 1024  # answer length limit in tokens (a plan is ~300-800)
    temperature: float = 0.0  # 0 → greedy decoding (the same prompt gives the same plan); > 0 samples, seeded
    trust_stated: bool = True  # keep what the rules planner read as stated in the prompt if the model disagrees
    model_sections: bool = True  # use the model's sections when they are valid and fit the length
    rules_options: dict[str, Any] = field(default_factory=dict)  # options of the rules planner that repairs answers

    def __post_init__(self) -> None:
        if not (isinstance(self.max_new_tokens, int) and 16 <= self.max_new_tokens <= 8192):
            raise ValueError(f"max_new_tokens={self.max_new_tokens!r}: must be an integer in [16, 8192]")
        if not 0 <= self.temperature <= 2:
            raise ValueError(f"temperature={self.temperature!r}: must be in [0, 2]")


class LLMPlanner(Planner):
    """Text → SongPlan through a local causal LM, validated and repaired by the rules planner."""

    name = "llm"
    version = "0.1"

    @staticmethod
    def check_checkpoint(cfg: LLMPlannerConfig):
        """The checks that need no model loaded (a folder with config.json) → the folder.
        `songfarm render` runs them before Ray starts."""
        return checkpoints.folder(cfg.checkpoint, "backends.planner (llm)", ("config.json",),
                                  "transformers causal-LM folder")

    def __init__(self, config: LLMPlannerConfig | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ..factory import make

        self.config = cfg = config or LLMPlannerConfig()
        where = "backends.planner (llm)"
        path = self.check_checkpoint(cfg)
        self.device = devices.choose_device(cfg.device, where)
        dtype = devices.choose_dtype(cfg.dtype, self.device, where)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
        except Exception as exc:
            raise checkpoints.load_failed(where, path, exc) from exc
        self.model.to(self.device).eval()
        self.model_name = checkpoints.identity(path, cfg.model_id, cfg.revision)
        self.rules = make("planner", "rules", cfg.rules_options)
        self._torch = torch

    def ask(self, request: TrackRequest, seconds: float) -> str:
        """The model's raw answer for one request."""
        torch = self._torch
        messages = [{"role": "system", "content": SYSTEM_PROMPT.format(schema=json.dumps(ANSWER_SCHEMA),
                                                                        seconds=seconds)},
                    {"role": "user", "content": _user_message(request, seconds)}]
        if self.tokenizer.chat_template:
            inputs = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                                        return_tensors="pt")
        else:  # a base model without a chat template: plain text, answer after "JSON:"
            text = "\n\n".join(m["content"] for m in messages) + "\n\nJSON:"
            inputs = self.tokenizer(text, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        sample = self.config.temperature > 0
        if sample:
            torch.manual_seed(request.seed)  # a sampled plan is still reproducible per request seed
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.config.max_new_tokens, do_sample=sample,
                                      temperature=self.config.temperature if sample else None, top_p=None, top_k=None,
                                      pad_token_id=pad)
        return self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def plan(self, request: TrackRequest) -> SongPlan:
        rules_plan = self.rules.plan(request)
        answer = self.ask(request, rules_plan.duration_s)
        plan = merge_answer(answer, request, rules_plan, self.rules.plan, trust_stated=self.config.trust_stated,
                            model_sections=self.config.model_sections)
        plan.planner = f"{self.name}-{self.version} {self.model_name} + {rules_plan.planner}"
        return plan


def merge_answer(answer: str, request: TrackRequest, rules_plan: SongPlan,
                 replan: Callable[[TrackRequest], SongPlan], trust_stated: bool = True,
                 model_sections: bool = True) -> SongPlan:
    """The model's answer text + the rules plan → the final plan (see the module docstring).

    `replan` is the rules planner's `plan`: called again with the model's kept fields as
    overrides, so the rest of the plan is derived from them.
    """
    notes: list[str] = []
    data = parse_answer(answer)
    if data is None:
        notes.append("llm: the answer held no JSON object; the whole plan is the rules planner's")
        data = {}
    kept, problems = validate_fields(data)
    notes += [f"llm: {p}; kept the rules planner's value" for p in problems]
    overrides: dict[str, Any] = {}
    for name, value in kept.items():
        src = _source(rules_plan, name)
        if trust_stated and src in TRUSTED and not _same(name, value, rules_plan):
            notes.append(f"llm: {name}={_shown(value)} disagrees with the {src} {_shown(_value(name, rules_plan))}; "
                         f"kept the {src} value")
            continue
        if src in TRUSTED and trust_stated:
            continue  # agrees with what the prompt said: the source stays "stated"/"override"
        overrides[name] = value
    plan = None
    while overrides:
        try:
            plan = replan(dataclasses.replace(request, **overrides))
            break
        except (SongfarmError, ValueError, KeyError) as exc:  # e.g. an instrument the rules cannot voice
            name = next(n for n in GIVE_UP_ORDER if n in overrides)
            notes.append(f"llm: {name}={_shown(overrides.pop(name))} could not be planned ({exc}); "
                         "kept the rules planner's value")
    if plan is None:
        plan = dataclasses.replace(rules_plan)
    plan.sources = dict(plan.sources)
    for name in overrides:
        for key in FIELD_SOURCES[name]:
            if key in plan.sources or key == FIELD_SOURCES[name][0]:
                plan.sources[key] = "model"
    if model_sections and "sections" in data:
        sections, why = validate_sections(data["sections"], plan)
        if sections is not None:
            plan.sections = sections
            plan.sources["sections"] = "model"
        else:
            notes.append(f"llm: sections {why}; kept the rules planner's sections")
    plan.conflicts = list(plan.conflicts) + notes
    plan.check()
    return plan


def parse_answer(text: str) -> dict[str, Any] | None:
    """The first JSON object in the answer (code fences and prose around it are ignored)."""
    start = text.find("{")
    while start != -1:
        depth, in_str, escape = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                escape = ch == "\\" and not escape
                if ch == '"' and not escape:
                    in_str = False
                continue
            if ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    try:
                        value = json.loads(text[start:i + 1])
                    except json.JSONDecodeError:
                        break
                    if isinstance(value, dict):
                        return value
                    break
        start = text.find("{", start + 1)
    return None


def validate_fields(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The answer's scalar fields → (valid ones as request overrides, problems found)."""
    kept: dict[str, Any] = {}
    problems: list[str] = []

    def bad(name: str, reason: str) -> None:
        problems.append(f"{name}={_shown(data.get(name))} {reason}")

    bpm = data.get("bpm")
    if isinstance(bpm, (int, float)) and not isinstance(bpm, bool) and 30 <= bpm <= 300:
        kept["bpm"] = round(float(bpm), 1)
    else:
        bad("bpm", "missing or outside [30, 300]")
    tonic, mode = data.get("tonic"), data.get("mode")
    try:
        if not isinstance(tonic, str) or mode not in theory.MODES:
            raise ValueError
        pc = theory.pitch_class(tonic.strip())
        kept["key"] = theory.key_name(theory.tonic_name(pc, mode), mode)
    except (ValueError, KeyError):
        problems.append(f"key={_shown(tonic)} {_shown(mode)} is not a key (tonic A-G with #/b, mode major/minor)")
    ts = data.get("time_signature")
    if isinstance(ts, str) and ts.strip() in TIME_SIGNATURES:
        kept["time_signature"] = ts.strip()
    else:
        bad("time_signature", f"is not one of {', '.join(TIME_SIGNATURES)}")
    genre = data.get("genre")
    if isinstance(genre, str) and 0 < len(genre.strip()) <= 40:
        kept["genre"] = genre.strip().lower()
    else:
        bad("genre", "missing or longer than 40 characters")
    moods = data.get("moods")
    if isinstance(moods, list) and moods and all(isinstance(m, str) and 0 < len(m.strip()) <= 30 for m in moods):
        kept["moods"] = [m.strip().lower() for m in moods[:4]]
    else:
        bad("moods", "is not a list of short words")
    instruments = data.get("instruments")
    if isinstance(instruments, list):
        known = [i.strip().lower() for i in instruments if isinstance(i, str) and i.strip().lower() in INSTRUMENTS]
        unknown = [i for i in instruments if not (isinstance(i, str) and i.strip().lower() in INSTRUMENTS)]
        if known:
            kept["instruments"] = list(dict.fromkeys(known))[:8]
        if unknown:
            problems.append(f"instruments {_shown(unknown)} are not playable (dropped)" if known
                            else f"instruments={_shown(instruments)} has no playable instrument")
    else:
        bad("instruments", "is not a list")
    return kept, problems


def validate_sections(raw: Any, plan: SongPlan) -> tuple[list[Section] | None, str]:
    """The answer's sections if every one is valid and together they fit the plan's length
    (within a bar); else (None, why)."""
    if not isinstance(raw, list) or not raw:
        return None, "are not a non-empty list"
    sections = []
    for i, s in enumerate(raw):
        if not isinstance(s, dict):
            return None, f"[{i}] is not an object"
        name, bars, energy, chords = s.get("name"), s.get("bars"), s.get("energy"), s.get("chords")
        if name not in SECTION_NAMES:
            return None, f"[{i}].name={_shown(name)} is not a section name"
        if not (isinstance(bars, int) and not isinstance(bars, bool) and 1 <= bars <= 64):
            return None, f"[{i}].bars={_shown(bars)} is not a bar count"
        if not (isinstance(energy, (int, float)) and not isinstance(energy, bool) and 0 <= energy <= 1):
            return None, f"[{i}].energy={_shown(energy)} is outside [0, 1]"
        if not (isinstance(chords, list) and len(chords) == bars and all(isinstance(c, str) for c in chords)):
            return None, f"[{i}].chords must be {bars} chord symbols"
        try:
            for c in chords:
                theory.parse_chord(c)
        except (ValueError, KeyError) as exc:
            return None, f"[{i}].chords: {exc}"
        sections.append(Section(name, bars, float(energy), list(chords), None))
    total = sum(s.bars for s in sections)
    if abs(total - plan.total_bars) > 1:
        return None, f"add up to {total} bars, the length needs {plan.total_bars}"
    if any(s.lyrics for s in plan.sections):  # keep the sung lines: they follow the lyrics' own sections
        return None, "would drop the lyrics' sections"
    return sections, ""


def _user_message(request: TrackRequest, seconds: float) -> str:
    lines = [f"Request: {request.prompt}", f"Length: {seconds:.0f} seconds"]
    for name in ("bpm", "key", "time_signature", "genre", "moods", "instruments"):
        value = getattr(request, name)
        if value:
            lines.append(f"Required {name}: {value}")
    if request.lyrics:
        tags = re.findall(r"\[([^\]]+)\]", request.lyrics)
        if tags:
            lines.append(f"Lyrics sections: {', '.join(tags)}")
    return "\n".join(lines)


def _source(plan: SongPlan, name: str) -> str:
    """How the rules planner decided `name`: a trusted source if any of its keys has one."""
    found = [plan.sources[key] for key in FIELD_SOURCES[name] if key in plan.sources]
    return next((src for src in found if src in TRUSTED), found[0] if found else "")


def _value(name: str, plan: SongPlan) -> Any:
    return {"bpm": plan.bpm, "key": plan.key, "time_signature": plan.time_signature, "genre": plan.genre,
            "moods": plan.moods, "instruments": plan.instruments}[name]


def _same(name: str, value: Any, plan: SongPlan) -> bool:
    if name == "bpm":
        return abs(float(value) - plan.bpm) < 0.5
    if name == "key":
        tonic, mode = value.split(" ", 1)
        return theory.same_key(tonic, mode, plan.tonic, plan.mode)
    return value == _value(name, plan)


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
