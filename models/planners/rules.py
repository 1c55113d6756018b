"""The `rules` planner: English, Chinese or Japanese text → SongPlan, deterministic, no model.

    planner = RulesPlanner(RulesPlannerConfig())
    plan = planner.plan(TrackRequest(id="t1", prompt="一首舒缓的国风歌曲，古筝和笛子，a小调，两分钟"))

What the prompt states wins over what is inferred, and the request's explicit fields
(bpm, key, time_signature, genre, moods, instruments, duration_s, lyrics) win over the
prompt; every field's origin is recorded in `plan.sources` and every disagreement in
`plan.conflicts`. The vocabulary lives in lexicon.py, the text rules in parse.py, the
song form and chords in structure.py, the rules that keep the chords in the key (when a
prompt's chords are adopted, the tonic chord, the cadence) in harmony.py, the lyrics
tags in lyrics.py.

The rules that decide between statements that disagree:

- Genre: of the genre words used in a musical sense (parse.genre_sense: not "a house in
  the countryside"), a genre named as an influence ("with jazz influences") never wins
  over one named as the piece's, and the umbrella "pop" never over another genre (流行,
  民谣 → folk). Of the rest, the first-named family (composer style) wins, and within it
  its most specific genre (嘻哈, 陷阱 → trap; 流行摇滚 is one word: pop rock). A sound word
  ("electronic drums", "epic") decides only when nothing else names a genre.
- Tempo: a stated number > an Italian marking > a plain speed word (慢中速, slow, ゆっくり)
  > a character word with a speed (轻快, 欢快, upbeat) > the genre's range. Terms whose
  ranges do not overlap the winner's are recorded in `plan.conflicts` ("轻快 beside 慢中速":
  the speed word 慢中速 wins).
- Vocals: the request's lyrics > an exclusion in the prompt (instrumental, no vocals,
  纯音乐, 不要人声, インスト) > a voice word (女声, "female vocals"). An exclusion beats a
  mention of the same instrument; an exclusion said of one section ("no drums in the
  intro") rules nothing out.
- Exclusivity: a marker beside named instruments ("guitar only", "solo piano", 只有吉他,
  古筝独奏, ピアノのみ, "a drum solo") or "no other instruments" / "a cappella" makes the
  named instruments the whole band; a solo inside a song ("with a guitar solo") does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import theory
from ..errors import SongfarmError
from ..instruments import INSTRUMENTS, VOICE_INSTRUMENTS, ruled_out
from ..plan import SongPlan, Source
from ..request import DEFAULT_DURATION_S, MAX_BPM, MAX_DURATION_S, MIN_BPM, MIN_DURATION_S, TrackRequest
from ..stages import Planner
from ..styles import STYLE_NAMES
from . import fields, harmony, lexicon, parse, structure
from .lyrics import parse_lyrics


class PlanError(SongfarmError, ValueError):
    """A request field the planner cannot use (an unknown key or instrument override)."""


@dataclass
class RulesPlannerConfig:
    default_style: str = "pop"  # style when neither genre nor instruments in the prompt suggest one
    # With lyrics and no duration in the request or prompt: True sizes the song to its
    # lyrics (a sung line ≈ 8 beats); False uses models/request.DEFAULT_DURATION_S.
    duration_from_lyrics: bool = False
    bars_per_lyric_line: int = 0  # bars one sung line takes; 0 = from the metre (8 beats: 2 bars of 4/4)
    vary_progressions: bool = True  # pick a style's progression variant by a hash of the prompt; False = first

    def __post_init__(self):
        if self.default_style not in STYLE_NAMES:
            raise ValueError(f"default_style={self.default_style!r}: not a style (known: {', '.join(STYLE_NAMES)})")
        if not isinstance(self.bars_per_lyric_line, int) or not 0 <= self.bars_per_lyric_line <= 8:
            raise ValueError(f"bars_per_lyric_line={self.bars_per_lyric_line!r}: must be an integer in [0, 8]")


# The lexicon compiled once at import.
_INSTRUMENTS = fields.INSTRUMENT_VOCABULARY
_GENRES = parse.Vocabulary([g.words for g in lexicon.GENRES])
_MOODS = parse.Vocabulary([m.words for m in lexicon.MOODS])
_TEMPO_TERMS = parse.Vocabulary([t.words for t in lexicon.TEMPO_TERMS])
_TEMPO_CONTEXT = re.compile(r"(?i:tempo|pace|paced|speed|bpm|beat)|速度|节奏|节拍|テンポ|リズム", re.ASCII)

# Genre labels for a style inferred from instruments or defaulted.
_STYLE_LABEL = {"hiphop": "hip hop", "edm": "electronic", "rnb": "r&b", "lofi": "lo-fi hip hop",
                "chinese_traditional": "chinese traditional"}

_CHINESE_STYLES = ("chinese_traditional", "guofeng")


class RulesPlanner(Planner):
    """Text → SongPlan by rules over a bilingual vocabulary."""

    name = "rules"
    version = "1.0"

    def __init__(self, config: RulesPlannerConfig | None = None):
        self.config = config or RulesPlannerConfig()

    def plan(self, request: TrackRequest) -> SongPlan:
        """The plan for one request. Same request → the same plan."""
        text = parse.normalise(request.prompt)
        sources: dict[str, Source] = {}
        conflicts: list[str] = []

        # 1. Words of the lexicon. Instrument names mask the other vocabularies, so "grand"
        #    in "grand piano" is no mood and "electronic" in "electronic drums" no genre.
        instrument_hits = _INSTRUMENTS.find(text)
        spans = [(h.start, h.end) for h in instrument_hits]
        genre_hits = [h for h in parse.outside(_GENRES.find(text), spans) if not h.negated]
        for h in genre_hits:  # "a house in the countryside" names no genre
            if not parse.genre_sense(text, h.start, h.end):
                conflicts.append(f"genre: {text[h.start:h.end]!r} read as an everyday word, not the genre")
        genre_hits = [h for h in genre_hits if parse.genre_sense(text, h.start, h.end)]
        language = parse.language(text)
        mood_hits = [h for h in parse.outside(_MOODS.find(text), spans) if not h.negated]
        term_hits = [h for h in parse.outside(_TEMPO_TERMS.find(text), spans) if not h.negated]

        # 2. Genre and style.
        genre, style, genre_entry = self._genre(request, text, genre_hits, instrument_hits, mood_hits, language,
                                                sources, conflicts)

        # 3. Moods: the first core emotion decides mode and energy ("light and sad" is sad).
        moods, mood_mode, mood_energy = self._moods(request, mood_hits, sources, conflicts)

        # 4. Metre.
        beats_per_bar, beat_unit = self._metre(request, text, genre_entry, sources, conflicts)

        # 5. Tempo.
        bpm = self._tempo(request, text, term_hits, style, genre_entry, mood_energy, sources, conflicts)

        # 6. Key, mode and scale.
        chords_stated = parse.find_chords(text)
        scale_stated = parse.find_scale(text)
        tonic_pc, mode = self._key(request, text, chords_stated, scale_stated, style, mood_mode, moods,
                                   sources, conflicts)
        scale = self._scale(scale_stated, style, mode, sources, conflicts)

        # 7. Instruments: the ones named first, then the style's palette for missing roles;
        #    what the prompt rules out, whether only the named ones play, and the voice.
        instruments, excluded, exclusive, vocals = self._instruments(request, text, instrument_hits, style, language,
                                                                     sources, conflicts)

        # 8. Duration and the number of whole bars that fill it.
        bar_s = beats_per_bar * 60.0 / bpm
        lyric_sections = parse_lyrics(request.lyrics)
        quarter_beats = beats_per_bar * 4 / beat_unit
        bars_per_line = self.config.bars_per_lyric_line or max(1, round(8 / quarter_beats))
        duration_s = self._duration(request, text, lyric_sections, bars_per_line, bar_s, sources, conflicts)
        total_bars = max(1, int(duration_s / bar_s + 0.5))  # nearest whole bar: |planned - duration| ≤ bar/2

        # 9. Form: follow the lyrics' tags, or lay out the form of the genre (structure.choose_form).
        form = structure.choose_form(style, genre, bool(lyric_sections))
        if lyric_sections:
            slots, notes = structure.lyric_layout(lyric_sections, total_bars, bars_per_line)
            conflicts += notes
            sources["sections"] = "stated"
        else:
            slots = structure.form_layout(form, total_bars, style)
            sources["sections"] = "inferred"
        sources["form"] = sources["sections"]

        # 10. Chords: the prompt's own progression for verse and chorus when it fits the key,
        #     else the style's; tonic-centred intro and outro, and the style's final cadence.
        stated_chords = self._chords(chords_stated, tonic_pc, mode, style, sources, conflicts)
        # Harmonic rhythm: a chord holds two bars when bars are short (fast 2/4) or the style
        # moves slowly; the twelve-bar blues changes on its own bars.
        hold = 1 if style == "blues" else 2 if (style in ("ambient", "cinematic") or bar_s < 1.25) else 1
        base_energy = self._base_energy(mood_energy, bpm, style)
        variant_key = text if self.config.vary_progressions else None
        sections = structure.build_sections(slots, tonic_pc, mode, style, base_energy, stated_chords, hold,
                                            variant_key, form)

        plan = SongPlan(
            prompt=request.prompt, language=language, bpm=float(bpm),
            tonic=theory.tonic_name(tonic_pc, mode), mode=mode, beats_per_bar=beats_per_bar, beat_unit=beat_unit,
            genre=genre, style=style, moods=moods, instruments=instruments, sections=sections,
            duration_s=float(duration_s), scale=scale, vocals=vocals, excluded=excluded, exclusive=exclusive,
            form=form,
            sources=dict(sorted(sources.items())), conflicts=conflicts,
            planner=f"{self.name} {self.version}",
        )
        plan.check()
        return plan

    # ---- genre -------------------------------------------------------------------------

    def _genre(self, request, text, genre_hits, instrument_hits, mood_hits, language, sources, conflicts):
        """(genre label, style, Genre entry or None)."""
        stated = _choose_genre(text, genre_hits, conflicts)
        if request.genre:
            given = request.genre.strip()
            hits = _GENRES.find(parse.normalise(given))
            entry = lexicon.GENRES[hits[0].entry] if hits else None
            if entry:
                style = entry.style
            elif given.lower() in STYLE_NAMES:
                style = given.lower()
            else:
                style = self.config.default_style
                conflicts.append(f"genre: {given!r} is not in the vocabulary; played in the {style} style")
            if stated and stated.style != style:
                conflicts.append(f"genre: request override {given!r} wins over the prompt's {stated.label!r}")
            sources["genre"] = sources["style"] = "override"
            return given, style, entry
        if stated:
            sources["genre"] = sources["style"] = "stated"
            return stated.label, stated.style, stated
        style = self._style_from_instruments(instrument_hits)
        if style is None and any(lexicon.MOODS[h.entry].name == "epic" for h in mood_hits):
            style = "cinematic"
        if style:
            sources["genre"] = sources["style"] = "inferred"
        else:
            style = self.config.default_style
            sources["genre"] = sources["style"] = "default"
        named = {n for h in instrument_hits if not h.negated for n in lexicon.INSTRUMENT_WORDS[h.entry][1]}
        if style == "chinese_traditional" and (language == "ja" or named & lexicon.JAPANESE_INSTRUMENTS):
            return "japanese traditional", style, None
        return _STYLE_LABEL.get(style, style), style, None

    @staticmethod
    def _style_from_instruments(instrument_hits) -> str | None:
        named: set[str] = set()
        generic: set[str] = set()
        for h in instrument_hits:
            if h.negated:
                continue
            for name in lexicon.INSTRUMENT_WORDS[h.entry][1]:
                (generic if name.startswith("@") else named).add(name)
        named.discard("voice")
        if named & (lexicon.CHINESE_INSTRUMENTS | lexicon.JAPANESE_INSTRUMENTS):
            band = named & lexicon.BAND_INSTRUMENTS or generic & {"@drums", "@bass"}
            return "guofeng" if band else "chinese_traditional"
        if named and named <= lexicon.ORCHESTRAL_INSTRUMENTS and not generic:
            return "classical"
        for instruments, style in lexicon.INSTRUMENT_STYLE_HINTS:
            if named & instruments:
                return style
        return None

    # ---- moods -------------------------------------------------------------------------

    def _moods(self, request, mood_hits, sources, conflicts):
        """(mood names, the mode they suggest or None, their energy or None)."""
        entries = [lexicon.MOODS[h.entry] for h in mood_hits]
        if request.moods:
            entries, names = [], []
            for given in request.moods:
                hits = _MOODS.find(parse.normalise(given))
                if hits:
                    entries.append(lexicon.MOODS[hits[0].entry])
                    names.append(lexicon.MOODS[hits[0].entry].name)
                else:
                    names.append(given.strip().lower())
            prompt_names = [lexicon.MOODS[h.entry].name for h in mood_hits]
            if prompt_names and set(prompt_names) != set(names):
                conflicts.append(f"moods: request override {names} wins over the prompt's {_unique(prompt_names)}")
            sources["moods"] = "override"
            names = _unique(names)
        else:
            names = _unique([m.name for m in entries])
            sources["moods"] = "stated" if names else "default"
        if not entries:
            return names, None, None
        core = [m for m in entries if m.core]
        deciding = core or entries
        with_mode = [m for m in deciding if m.mode] or [m for m in entries if m.mode]
        mode = with_mode[0].mode if with_mode else None
        energy = sum(m.energy for m in deciding) / len(deciding)
        disagree = _unique([m.name for m in entries if m.mode and m.mode != mode])
        if mode and disagree:
            level = "low" if energy < 0.45 else "high" if energy > 0.7 else "medium"
            conflicts.append(f"moods: {', '.join(repr(n) for n in disagree)} suggest"
                             f"{'s' if len(disagree) == 1 else ''} {_other(mode)} but {with_mode[0].name!r} "
                             f"suggests {mode}: kept the core emotion {with_mode[0].name!r} → {mode}, {level} energy")
        return names, mode, energy

    # ---- metre -------------------------------------------------------------------------

    def _metre(self, request, text, genre_entry, sources, conflicts) -> tuple[int, int]:
        stated = parse.find_metre(text)
        if request.time_signature:
            try:
                beats, unit = fields.read_time_signature(request.time_signature)
            except ValueError as exc:
                raise PlanError(f"request.time_signature={request.time_signature!r}: {exc}", field="time_signature",
                                value=request.time_signature) from None
            if stated and (stated.beats_per_bar, stated.beat_unit) != (beats, unit):
                conflicts.append(f"time_signature: request override {beats}/{unit} wins over the prompt's "
                                 f"{stated.text!r}")
            sources["time_signature"] = "override"
            return beats, unit
        if stated:
            sources["time_signature"] = "stated"
            return stated.beats_per_bar, stated.beat_unit
        if genre_entry and genre_entry.beats_per_bar:
            sources["time_signature"] = "inferred"
            beats = genre_entry.beats_per_bar
            return beats, parse.BEAT_UNITS.get(beats, 4)
        sources["time_signature"] = "default"
        return 4, 4

    # ---- tempo -------------------------------------------------------------------------

    def _tempo(self, request, text, term_hits, style, genre_entry, mood_energy, sources, conflicts) -> float:
        number = parse.find_tempo_number(text)
        term = _choose_term(text, term_hits, conflicts)
        if request.bpm is not None:
            bpm = float(request.bpm)
            if number and number.bpm != bpm:
                conflicts.append(f"bpm: request override {bpm:g} wins over the prompt's {number.text!r}")
            elif term and not term.low <= bpm <= term.high:
                conflicts.append(f"bpm: request override {bpm:g} wins over the prompt's {term.name!r} "
                                 f"({term.low:g}-{term.high:g} BPM)")
            sources["bpm"] = "override"
            return bpm
        if number:
            bpm = min(MAX_BPM, max(MIN_BPM, number.bpm))
            if bpm != number.bpm:
                conflicts.append(f"bpm: the prompt's {number.text!r} is outside [{MIN_BPM:g}, {MAX_BPM:g}]; "
                                 f"planned {bpm:g}")
            if term and not term.low <= bpm <= term.high:
                conflicts.append(f"bpm: the stated {number.bpm:g} BPM wins over {term.name!r} "
                                 f"({term.low:g}-{term.high:g} BPM)")
            sources["bpm"] = "stated"
            return bpm
        low, high = genre_entry.tempo if genre_entry and genre_entry.tempo else lexicon.STYLE_TEMPO[style]
        if term:
            sources["bpm"] = "stated"
            if term.italian or sources.get("style") == "default":
                return float(term.typical)
            # An everyday word inside the genre's own range where they overlap: slow hip hop
            # is still hip hop, but a slow word must still give a slow tempo.
            lo, hi = max(term.low, low), min(term.high, high)
            return float(round((lo + hi) / 2)) if lo <= hi else float(term.typical)
        # From the genre: the middle of its range, lower for calm moods, higher for intense ones.
        position = 0.5 if mood_energy is None else min(0.85, max(0.15, mood_energy))
        sources["bpm"] = "default" if sources.get("style") == "default" and mood_energy is None else "inferred"
        return float(round(low + (high - low) * position))

    # ---- key ---------------------------------------------------------------------------

    def _key(self, request, text, chords_stated, scale_stated, style, mood_mode, moods, sources, conflicts):
        """(tonic pitch class, mode)."""
        stated = parse.find_key(text)
        if request.key:
            try:
                pc, mode = fields.read_key(request.key)
            except ValueError as exc:
                raise PlanError(f"request.key={request.key!r}: {exc}", field="key", value=request.key) from None
            if stated and stated.pc is not None and (stated.pc, stated.mode or mode) != (pc, mode):
                conflicts.append(f"key: request override {theory.key_name(theory.tonic_name(pc, mode), mode)} "
                                 f"wins over the prompt's {stated.text!r}")
            sources["key"] = sources["tonic"] = sources["mode"] = "override"
            return pc, mode

        # the mode: stated with the key, else a scale that implies one, else — when the tonic
        # will come from the chords — one that a stated chord can be the tonic chord of (the
        # moods' if they allow it, else the first chord's), else the moods, else the style
        chords_give_tonic = bool(chords_stated and chords_stated.chords and not (stated and stated.pc is not None))
        if stated and stated.mode:
            mode, mode_source = stated.mode, "stated"
        elif scale_stated and scale_stated.mode:
            mode, mode_source = scale_stated.mode, "inferred"
        elif chords_give_tonic:
            mode, mode_source = _chord_mode(chords_stated.chords[0]), "inferred"
            if mood_mode and mood_mode != mode:
                if _tonic_chords(chords_stated.chords, mood_mode):
                    mode = mood_mode
                else:
                    conflicts.append(f"key: the chords {', '.join(chords_stated.chords)} hold no {mood_mode} "
                                     f"tonic chord; the first chord ({mode}) wins over the moods {moods}")
        elif mood_mode:
            mode, mode_source = mood_mode, "inferred"
        else:
            mode = lexicon.STYLE_MODE[style]
            mode_source = "inferred" if sources.get("style") in ("stated", "override") else "default"
        if mode_source == "stated" and mood_mode and mood_mode != mode:
            conflicts.append(f"key: the stated {mode} key wins over the moods {moods} (suggesting {mood_mode})")

        # the tonic: stated, else the root of a chord that can be the tonic chord in the mode
        # ("Am" of "C, G, Am, F" in a minor key), else the first chord's root, else a key
        # the style is often played in
        if stated and stated.pc is not None:
            pc, tonic_source = stated.pc, "stated"
        elif chords_stated and chords_stated.chords:
            roots = [theory.parse_chord(c)[0] for c in _tonic_chords(chords_stated.chords, mode)]
            # among several candidates, the key the chords fit best ("Am F C G", major: C, not F)
            fits = [harmony.fit_to_key(chords_stated.chords, r, mode) for r in roots]
            best = max(range(len(roots)), key=lambda k: (fits[k].fits, fits[k].in_key, -k)) if roots else None
            pc = roots[best] if roots else theory.parse_chord(chords_stated.chords[0])[0]
            tonic_source = "inferred"
        else:
            tonics = lexicon.STYLE_TONICS[style]
            pc, tonic_source = tonics[structure.stable_index(text, len(tonics))], "default"
        sources["tonic"], sources["mode"] = tonic_source, mode_source
        sources["key"] = tonic_source if tonic_source != "default" else mode_source
        return pc, mode

    def _scale(self, scale_stated, style, mode, sources, conflicts) -> str:
        if scale_stated:
            name = scale_stated.scale
            if name == "pentatonic":
                name = ("yu_pentatonic" if style in _CHINESE_STYLES else "minor_pentatonic") if mode == "minor" \
                    else "major_pentatonic"
            if scale_stated.mode and scale_stated.mode != mode:
                conflicts.append(f"scale: {name} is a {scale_stated.mode} scale but the key is {mode}; "
                                 f"kept the key and the mode's own scale")
                sources["scale"] = "default"
                return ""
            sources["scale"] = "stated"
            return name
        if style in _CHINESE_STYLES:
            name = "major_pentatonic" if mode == "major" else "yu_pentatonic"
        elif style == "blues":
            name = "blues"
        # (dorian only when asked for: its major sixth blurs the minor mode, and renders of
        # minor funk and jazz in dorian were heard as major in the dev-set benchmark)
        elif mode == "minor" and style == "rock":
            name = "minor_pentatonic"
        elif mode == "minor" and style == "metal":
            name = "harmonic_minor"
        elif mode == "major" and style == "country":
            name = "major_pentatonic"
        else:
            sources["scale"] = "default"
            return ""
        sources["scale"] = "inferred"
        return name

    # ---- instruments -------------------------------------------------------------------

    def _instruments(self, request, text, instrument_hits, style, language, sources, conflicts):
        """(instruments, excluded, exclusive, vocals): the instruments named first, then the
        style's palette for the roles they leave empty (none when only the named ones play);
        plan.excluded entries for models/instruments.ruled_out; the rules in the docstring."""
        named, excluded = _named_and_excluded(text, instrument_hits, style, conflicts)
        if language == "ja":  # 琴 is a koto in Japanese, a guqin in Chinese
            named = [lexicon.JAPANESE_RELATIVES.get(n, n) for n in named]
        a_cappella = parse.find_a_cappella(text)
        if a_cappella and not VOICE_INSTRUMENTS & set(named):
            named.append("voice")
        positive = [(h.start, h.end) for h in instrument_hits if not h.negated and lexicon.INSTRUMENT_WORDS[h.entry][1]]
        exclusive = a_cappella or parse.find_exclusive(text, positive)
        vocals = _vocals(request, text, instrument_hits, named, bool(exclusive), sources, conflicts)
        if not vocals:
            excluded.append("vocals")
        else:
            excluded = [e for e in excluded if e != "vocals"]
            if not VOICE_INSTRUMENTS & set(named) and request.lyrics and request.lyrics.strip():
                named.append("voice")  # the lyrics are sung
        excluded = _unique(excluded)
        stated_out = bool([e for e in excluded if e != "vocals"]) or sources["vocals"] == "stated" and not vocals
        dropped = _unique([n for n in named if ruled_out(n, excluded) and n not in VOICE_INSTRUMENTS])
        if dropped:
            conflicts.append(f"excluded: {', '.join(map(repr, dropped))} both named and ruled out; ruled out")
        named = _unique([n for n in named if not ruled_out(n, excluded)])

        if request.instruments:
            given = []
            for word in request.instruments:
                try:
                    given += [_concrete(n, style) for n in fields.read_instrument(word)]
                except ValueError as exc:
                    raise PlanError(f"request.instruments: {exc}", field="instruments", value=word) from None
            overruled = [e for e in excluded if any(ruled_out(n, [e]) for n in given)]
            if overruled:
                conflicts.append(f"excluded: request override instruments {given} win over the prompt's "
                                 f"exclusion of {overruled}")
                excluded = [e for e in excluded if e not in overruled]
            named = _unique(given + [n for n in named if n in VOICE_INSTRUMENTS])
            sources["instruments"] = "override"
        else:
            sources["instruments"] = "stated" if named else "inferred"
        sources["excluded"] = "stated" if stated_out else "inferred" if excluded else "default"
        if exclusive and named:
            sources["exclusive"] = "stated"
            return named, excluded, True, vocals
        if exclusive:
            conflicts.append(f"exclusive: {exclusive.text!r} names no instrument; the style's band plays")
        sources["exclusive"] = "default"
        band = named + self._palette(style, named, excluded)
        if language == "ja":  # the traditional style's guzheng is a koto in a Japanese piece
            band = _unique([lexicon.JAPANESE_RELATIVES.get(n, n) for n in band])
        return band, excluded, False, vocals

    @staticmethod
    def _palette(style: str, named: list[str], excluded: list[str]) -> list[str]:
        """The style's instruments for the roles `named` leaves empty, none of them ruled
        out; a role whose palette instruments are all ruled out ("no guitar" takes the bass
        guitar too) gets the first allowed substitute, unless the role itself is."""
        named_roles = {INSTRUMENTS[n].role for n in named}
        palette = [n for n in lexicon.STYLE_PALETTE[style] if INSTRUMENTS[n].role not in named_roles]
        allowed = [n for n in palette if not ruled_out(n, excluded)]
        for role in _unique([INSTRUMENTS[n].role for n in palette]):
            if role not in excluded and not any(INSTRUMENTS[n].role == role for n in allowed):
                allowed += [n for n in lexicon.ROLE_SUBSTITUTES[role] if not ruled_out(n, excluded)][:1]
        if not named and not allowed:  # everything excluded: keep the style's harmony instrument
            allowed = [n for n in lexicon.STYLE_PALETTE[style] if INSTRUMENTS[n].role == "harmony"][:1]
        return allowed

    # ---- duration ----------------------------------------------------------------------

    def _duration(self, request, text, lyric_sections, bars_per_line, bar_s, sources, conflicts) -> float:
        stated = parse.find_duration(text)
        if request.duration_s is not None:
            if stated and abs(stated.seconds - request.duration_s) > 0.5:
                conflicts.append(f"duration_s: request override {request.duration_s:g} s wins over the prompt's "
                                 f"{stated.text!r}")
            sources["duration_s"] = "override"
            return float(request.duration_s)
        if stated:
            seconds = min(MAX_DURATION_S, max(MIN_DURATION_S, stated.seconds))
            if seconds != stated.seconds:
                conflicts.append(f"duration_s: the prompt's {stated.text!r} is outside "
                                 f"[{MIN_DURATION_S:g}, {MAX_DURATION_S:g}] s; planned {seconds:g} s")
            sources["duration_s"] = "stated"
            return seconds
        if lyric_sections and self.config.duration_from_lyrics:
            ideal_bars = sum(structure.lyric_bars(lyric_sections, bars_per_line))
            sources["duration_s"] = "inferred"
            return round(min(MAX_DURATION_S, max(MIN_DURATION_S, ideal_bars * bar_s)), 2)
        sources["duration_s"] = "default"
        return DEFAULT_DURATION_S

    # ---- chords and energy -------------------------------------------------------------

    @staticmethod
    def _chords(chords_stated, tonic_pc, mode, style, sources, conflicts) -> list[str] | None:
        """The prompt's chords, started on the tonic, when they fit the key
        (harmony.fit_to_key); None for the style's progression, with the reason in
        `conflicts` when the prompt's chords were set aside."""
        sources["chords"] = "inferred"
        if not chords_stated:
            return None
        if chords_stated.skipped:
            conflicts.append(f"chords: skipped symbols that are not chords: {', '.join(chords_stated.skipped)}")
        symbols = chords_stated.chords or [theory.roman_to_chord(r, tonic_pc, mode) for r in chords_stated.romans]
        fit = harmony.fit_to_key(symbols, tonic_pc, mode)
        if not fit.fits:
            key = theory.key_name(theory.tonic_name(tonic_pc, mode), mode)
            conflicts.append(f"chords: the prompt's chords ({', '.join(_unique(symbols))}) do not fit {key} "
                             f"({fit.reason}); played the {style} progression in {key}")
            return None
        sources["chords"] = "stated"
        return harmony.start_on_tonic(symbols, tonic_pc, mode)

    @staticmethod
    def _base_energy(mood_energy, bpm, style) -> float:
        """Overall intensity 0..1: the moods' energy, tempered by tempo and style."""
        from_tempo = 0.3 + 0.5 * min(1.0, max(0.0, (bpm - 60) / 120))
        from_tempo += {"ambient": -0.15, "classical": -0.05, "lofi": -0.1, "metal": 0.15, "edm": 0.1,
                       "rock": 0.05}.get(style, 0.0)
        energy = from_tempo if mood_energy is None else 0.7 * mood_energy + 0.3 * from_tempo
        return min(0.95, max(0.1, energy))


def _named_and_excluded(text, instrument_hits, style, conflicts) -> tuple[list[str], list[str]]:
    """The instruments the prompt names, and the plan.excluded entries its negated words and
    absence words ("drumless") give: a negated generic word rules out its whole role or
    family ("no drums", "no guitars", "no vocals"), a concrete one itself ("no piano")."""
    words_named, excluded, scoped = [], [], []
    for h in instrument_hits:
        words = lexicon.INSTRUMENT_WORDS[h.entry][1]
        if not h.negated:
            words_named += words
        elif parse.said_of_a_section(text, h.start, h.end):
            scoped.append(text[h.start:h.end])
        else:
            excluded += [lexicon.EXCLUDED_AS.get(n, n) for n in words]
    if scoped:
        conflicts.append(f"excluded: {', '.join(map(repr, scoped))} ruled out in one section only; kept in the song")
    excluded += [entry for entry, _ in parse.find_absences(text)]
    return [_concrete(n, style, excluded) for n in words_named], excluded


def _vocals(request, text, instrument_hits, named, exclusive, sources, conflicts) -> bool:
    """Whether the piece has a voice part: the request's lyrics > an exclusion in the prompt
    ("instrumental", "no vocals", 纯音乐, インスト) > a voice word; an exclusive line-up
    without a voice has none."""
    instrumental = parse.find_instrumental(text)
    negated = [text[h.start:h.end] for h in instrument_hits
               if h.negated and "voice" in lexicon.INSTRUMENT_WORDS[h.entry][1]]
    no_voice = instrumental.text if instrumental else (negated or [None])[0]
    voices = _unique([n for n in named if n in VOICE_INSTRUMENTS])
    if request.lyrics and request.lyrics.strip():
        sources["vocals"] = "override"
        if no_voice:
            conflicts.append(f"vocals: the request's lyrics win over the prompt's {no_voice!r}; they are sung")
        return True
    if no_voice:
        sources["vocals"] = "stated"
        if voices and not parse.find_a_cappella(text):
            conflicts.append(f"vocals: {no_voice!r} wins over {', '.join(map(repr, voices))}: "
                             f"an exclusion beats a mention")
        return False
    if exclusive and not voices:
        sources["vocals"] = "inferred"  # "solo piano": nothing sings
        return False
    sources["vocals"] = "stated" if voices else "default"
    return True


def _choose_genre(text: str, hits: list[parse.Hit], conflicts: list[str]) -> lexicon.Genre | None:
    """The stated genre by the rule in the module docstring: influences only when nothing
    else; the umbrella "pop" only when no other genre is named; the first-named family
    (composer style) wins, and within it its most specific genre (嘻哈, 陷阱 → trap; "funky
    … disco" → disco); sound words (level 0) only alone."""
    named = [(h, lexicon.GENRES[h.entry], parse.is_influence(text, h.start, h.end)) for h in hits]
    strong = [g for _, g, _ in named if g.level > 0]
    pool = [g for _, g, influence in named if g.level > 0 and not influence] or strong or [g for _, g, _ in named]
    if not pool:
        return None
    pool = [g for g in pool if g.level != 1] or pool
    family = [g for g in pool if g.style == pool[0].style]
    # The first of the most specific; at one level a compound beats a genre it names ("pop
    # punk" over "punk", whichever comes first).
    winner = max(family, key=lambda g: (g.level, any(o.label != g.label and o.label in g.label for o in family)))
    others = _unique([g.label for g in strong if g.label != winner.label])
    if others:
        conflicts.append(f"genre: {winner.label!r} chosen over {', '.join(map(repr, others))} (an influence never "
                         f"wins, nor 'pop' beside another genre; the first-named family, its most specific genre)")
    return winner


def _choose_term(text: str, hits: list[parse.Hit], conflicts: list[str]) -> lexicon.TempoTerm | None:
    """The tempo term that decides, by the rule in the module docstring: an Italian marking,
    then a plain speed word, then a character word (轻快, upbeat); within a kind, one said
    of the tempo ("the pace is slow") before the first mentioned. Terms whose range does
    not meet the winner's are recorded as a conflict."""
    terms = [(h, lexicon.TEMPO_TERMS[h.entry]) for h in hits]
    if not terms:
        return None

    def rank(term: lexicon.TempoTerm) -> int:
        return 0 if term.italian else 2 if term.character else 1

    best = min(rank(t) for _, t in terms)
    kind = [(h, t) for h, t in terms if rank(t) == best]
    near = [t for h, t in kind if _TEMPO_CONTEXT.search(text[max(0, h.start - 30):h.end + 12])]
    chosen = (near or [t for _, t in kind])[0]
    clash = _unique([t.name for _, t in terms if t.high < chosen.low or t.low > chosen.high])
    if clash:
        what = "tempo marking" if chosen.italian else "mood word" if chosen.character else "speed word"
        conflicts.append(f"bpm: {', '.join(map(repr, clash))} contradict{'s' if len(clash) == 1 else ''} "
                         f"{chosen.name!r} ({chosen.low:g}-{chosen.high:g} BPM); the {what} {chosen.name!r} wins "
                         f"(a number > a tempo marking > a speed word > a mood word)")
    return chosen


def _tonic_chords(symbols: list[str], mode: str) -> list[str]:
    """The chords that could be the tonic chord of a key in `mode` on their own root."""
    return [s for s in symbols if harmony.is_tonic_chord(s, theory.parse_chord(s)[0], mode)]


def _chord_mode(symbol: str) -> str:
    _, intervals, _ = theory.parse_chord(symbol)
    return "minor" if 3 in intervals and 4 not in intervals else "major"


def _concrete(name: str, style: str, excluded: list[str] = ()) -> str:
    """A lexicon name → a canonical instrument: a generic "@bass" becomes the style's bass,
    or, when the prompt rules that one out ("no guitars, just synths and bass"), the first
    allowed substitute for its role."""
    if not name.startswith("@"):
        return name
    choices = lexicon.GENERIC_INSTRUMENTS[name]
    chosen = choices.get(style, choices["default"])
    role = INSTRUMENTS[chosen].role
    allowed = [n for n in (chosen, *choices.values(), *lexicon.ROLE_SUBSTITUTES[role]) if not ruled_out(n, excluded)]
    return allowed[0] if allowed else chosen


def _other(mode: str) -> str:
    return "minor" if mode == "major" else "major"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
