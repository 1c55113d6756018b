"""Reading musical facts out of free text (English and Chinese): tempo, key, metre,
duration, chords, scale, and the words of the lexicon.

Every function takes the text after `normalise` and returns what it found with the
character offset of the statement (so the planner can say which came first), or None.
Nothing here decides between conflicting facts or applies defaults; `rules.py` does.
All regexes are compiled once at import.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

from .. import theory

# ---------------------------------------------------------------------------------------
# Text and numbers


def normalise(text: str) -> str:
    """NFKC (full-width digits and punctuation → ASCII) and ♯/♭ → #/b."""
    text = unicodedata.normalize("NFKC", text)
    return text.replace("♯", "#").replace("♭", "b").replace("’", "'").replace("‘", "'")


# ASCII mode for every English pattern: with Unicode \w, "BPM为120" has no \b after "BPM".
_A = re.ASCII
_AI = re.ASCII | re.IGNORECASE

_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def language(text: str) -> str:
    """'zh' when Chinese characters outnumber Latin words, else 'en'."""
    return "zh" if len(_CJK.findall(text)) >= max(1, len(_LATIN_WORD.findall(text))) else "en"


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100}
_CN_NUM = "[零〇一二两俩三四五六七八九十百]+"
_EN_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
    "forty-five": 45, "fifty": 50, "sixty": 60, "ninety": 90,
}
_EN_NUM = "|".join(sorted(_EN_NUMBERS, key=len, reverse=True))


def cn_number(text: str) -> float | None:
    """'九十' → 90, '一百二十' → 120, '两' → 2, '15' → 15; None if not a number."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not text or any(ch not in _CN_DIGITS and ch not in _CN_UNITS for ch in text):
        return None
    total, digit = 0, None
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        else:  # 十 / 百: "十五" is 15, "二十" is 20
            total += (1 if digit is None else digit) * _CN_UNITS[ch]
            digit = None
    return float(total + (digit or 0))


def number(text: str) -> float | None:
    """An Arabic, English or Chinese number: '2.5', 'two', '两' → float."""
    text = text.strip().lower()
    if text in _EN_NUMBERS:
        return float(_EN_NUMBERS[text])
    return cn_number(text)


# ---------------------------------------------------------------------------------------
# Vocabulary matching


@dataclass(frozen=True)
class Hit:
    """One vocabulary word found in the text."""

    entry: int  # index of the entry in the table the Vocabulary was built from
    start: int  # character offsets in the normalised text
    end: int
    negated: bool  # "no drums", "without vocals", "不要鼓"


# Surfaces needing guards a plain word match cannot give: 快 is not fast in 快乐 ("happy")
# or 愉快 ("pleasant"); 慢 is not slow in 傲慢 ("arrogant"); "light percussion" is no mood;
# "Grave" is a tempo only with its capital ("a grave mood" is not).
_SPECIAL_SURFACES = {
    "快": r"(?<![愉痛凉爽畅赶])快(?![乐活感递餐])",
    "慢": r"(?<![傲怠])慢",
    "light": r"(?<![A-Za-z0-9])light(?![A-Za-z0-9])(?!\s+(?:percussion|drums?|beats?|touch|rain|reverb|piano|guitar"
             r"|strumming|synths?|pads?|hats?|shakers?|cymbals?|bass|show|of)\b)",
    "Grave": r"(?-i:(?<![A-Za-z0-9])Grave(?![A-Za-z0-9]))",
}
_NEGATION_EN = re.compile(r"\b(?:no|without|not|minus|lacking|lacks|zero|sans|never|nor)\b", re.I)
_NEGATION_ZH = re.compile(r"无|没有|没|不要|不含|不用|去掉|不带|除去|拒绝|别")
_CLAUSE_END = re.compile(r"[.,;:!?。;!?\n、]")
_SEPARATOR = "\0"  # a space or hyphen inside a table word: matches any run of spaces/hyphens, or none


def negated_at(text: str, start: int, end: int) -> bool:
    """Whether the word at text[start:end] is negated in its clause."""
    before = text[max(0, start - 40):start]
    cut = max((m.end() for m in _CLAUSE_END.finditer(before)), default=0)
    before = before[cut:]
    words = re.findall(r"[A-Za-z']+", before)[-3:]
    if any(_NEGATION_EN.fullmatch(w) for w in words) and "not only" not in before.lower():
        return True
    if _NEGATION_ZH.search(before[-6:]):
        return True
    return bool(re.match(r"[\s\-]?free\b", text[end:end + 6], re.I))


def _word_key(text: str) -> str:
    return re.sub(r"[\s\-]+", "", text.lower())


def _trie_regex(words: list[str]) -> str:
    """One regex matching any of `words` with the longest match first, factored by common
    prefixes (a plain alternation of hundreds of words is tried word by word at every
    position of the text: ~100x slower)."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word.lower():
            node = node.setdefault(_SEPARATOR if ch in " -" else ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        branches = [(r"[\s\-]*" if ch == _SEPARATOR else re.escape(ch)) + emit(child)
                    for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


class Vocabulary:
    """All surface words of a table compiled into one regex; `find` returns Hits in order.

    English words match whole words (with an optional plural s/es when `plural`), Chinese
    words anywhere; at one position the longest word wins; matches do not overlap."""

    def __init__(self, entries: Sequence[Sequence[str]], plural: bool = False):
        self._entry_of: dict[str, int] = {}
        groups: dict[tuple[bool, bool], list[str]] = {}
        special = []
        for i, words in enumerate(entries):
            for word in words:
                self._entry_of.setdefault(word if word in _SPECIAL_SURFACES else _word_key(word), i)
                if word in _SPECIAL_SURFACES:
                    special.append(f"(?P<s{len(special)}>{_SPECIAL_SURFACES[word]})")
                    self._entry_of[f"s{len(special) - 1}"] = i
                    continue
                ascii_start = word[0].isascii() and word[0].isalnum()
                ascii_end = word[-1].isascii() and word[-1].isalnum()
                groups.setdefault((ascii_start, ascii_end), []).append(word)
        pieces = []
        for (ascii_start, ascii_end), words in sorted(groups.items(), reverse=True):
            piece = _trie_regex(words)
            if ascii_end:
                piece = f"(?:{piece}){'(?:e?s)?' if plural else ''}(?![A-Za-z0-9])"
            if ascii_start:
                piece = f"(?<![A-Za-z0-9]){piece}"
            pieces.append(f"(?:{piece})")
        self._regex = re.compile("|".join(pieces + special), re.I)

    def _entry(self, m: re.Match) -> int | None:
        if m.lastgroup:
            return self._entry_of[m.lastgroup]
        key = _word_key(m.group(0))
        for candidate in (key, key[:-2] if key.endswith("es") else None, key[:-1] if key.endswith("s") else None):
            if candidate in self._entry_of:
                return self._entry_of[candidate]
        return None

    def find(self, text: str) -> list[Hit]:
        hits = []
        for m in self._regex.finditer(text):
            entry = self._entry(m)
            if entry is not None:
                hits.append(Hit(entry, m.start(), m.end(), negated_at(text, m.start(), m.end())))
        return hits


def outside(hits: list[Hit], spans: list[tuple[int, int]]) -> list[Hit]:
    """The hits not inside a longer span: "grand" in "grand piano" is no mood, while "drum
    and bass" (holding two instrument words) and "orchestra" (itself an instrument word)
    still name a genre."""
    return [h for h in hits if not any(s <= h.start and h.end <= e and e - s > h.end - h.start for s, e in spans)]


# ---------------------------------------------------------------------------------------
# Tempo numbers

_N = r"(\d{1,4}(?:\.\d+)?)"
_CN = rf"(\d{{1,3}}(?:\.\d+)?|{_CN_NUM})"
_APPROX = r"(?:(?:around|about|approximately|approx\.?|roughly|circa|ca\.?|near|~|约|大约|大概|左右)\s*)?"
_TEMPO_RANGE = re.compile(
    rf"{_N}\s*(?:-|–|—|~|to|至|到)\s*{_N}\s*(?:bpm|b\.p\.m|beats\s*(?:per|a|/)\s*min|拍每分钟|拍/分)", _AI)
_TEMPO_WORD = re.compile(
    rf"\btempo\b(?:\s+(?:of|is|at|set|to|marking|marked|this|the|song|track|piece|tune|here|will|be|should))*"
    rf"\s*[:=]?\s*{_APPROX}{_N}(?![\d.]|\s*(?:%|s\b|sec|min|bars?|seconds|minutes))", _AI)
_TEMPO_NUMBERS = [_TEMPO_WORD] + [re.compile(p, _AI) for p in (
    rf"{_N}\s*-?\s*(?:bpm|b\.p\.m\.?|beats?\s*(?:per|a|/|each)\s*min(?:ute)?)",
    rf"\bbpm\b\s*(?:is|of|=|:|at|为|是|在|设为)?\s*(?:of\s+)?{_APPROX}{_N}",
    rf"(?:♩|𝅘𝅥|\bquarter[\s\-]*note|\bq)\s*=\s*{_N}",
    rf"每分钟\s*{_APPROX}{_CN}\s*(?:拍|下|bpm|beats)",
    rf"{_CN}\s*(?:拍|bpm)\s*(?:每分钟|/\s*分钟?|每分)",
    rf"(?:速度|节拍速度|节奏速度|曲速|拍速)\s*(?:为|是|:|在|设为|设定为|大约|约)?\s*{_APPROX}{_N}(?!\s*(?:秒|分|%))",
)]


@dataclass(frozen=True)
class TempoStated:
    bpm: float  # as written (may lie outside [30, 300]; the planner clamps and says so)
    start: int
    text: str


def find_tempo_number(text: str) -> TempoStated | None:
    """The first tempo stated as a number: '125 bpm', 'the bpm is 125', '153.0 beats per
    minute', 'tempo of 90', '♩=120', '每分钟90拍', '90拍每分钟', '速度120', '120-130 bpm' (→ 125)."""
    found: list[TempoStated] = []
    for m in _TEMPO_RANGE.finditer(text):
        lo, hi = float(m.group(1)), float(m.group(2))
        if 20 <= lo <= hi <= 400:
            found.append(TempoStated(round((lo + hi) / 2, 1), m.start(), m.group(0)))
    for regex in _TEMPO_NUMBERS:
        for m in regex.finditer(text):
            value = cn_number(m.group(1))
            # With its unit ("999 bpm") any number is a stated tempo (clamped later, with a
            # note); after the bare word "tempo" only a plausible one is ("tempo changes 3 times").
            low, high = (20, 400) if regex is _TEMPO_WORD else (1, 10**4)
            if value is not None and low <= value <= high:
                found.append(TempoStated(value, m.start(), m.group(0)))
                break
    return min(found, key=lambda t: t.start) if found else None


# ---------------------------------------------------------------------------------------
# Keys

_ACC = r"(?P<acc>#|b|[\s\-]?(?i:sharp|flat))?"
_MODE_WORD = r"(?:(?:harmonic|natural|melodic)\s+)?(?i:major|minor|maj|min)"
_KEY_END = r"(?![A-Za-z0-9#])"
# "F#m", "D# major", "D#major", "Dminor", "EM", "Bb maj", "A flat minor", "key of A"
_KEY_TOKEN = rf"(?P<letter>[A-Ga-g]){_ACC}(?P<mode>\s?-?\s?{_MODE_WORD}|M|m)?{_KEY_END}"
_KEY_CONTEXT = re.compile(
    r"(?i:\bkey\b)(?:\s*(?i:signature))?"
    r"(?:\s+(?i:of|is|in|this|the|song|piece|track|tune|music|it|being|set|to|be|was|would|will|should|could|"
    r"either|probably|likely|perhaps|maybe|seems|appears|sounds|like|mostly|mainly|center|centre|centered|"
    r"centred|on|around|here)\b)*\s*[:=]?\s*" + _KEY_TOKEN, _A)
_KEY_FREE = re.compile(rf"(?<![A-Za-z0-9#/])(?P<letter>[A-G]){_ACC}"
                       rf"(?P<mode>\s?-?\s?(?:(?:harmonic|natural|melodic)\s+)?"
                       rf"(?i:major|minor)){_KEY_END}", _A)
_KEY_IN = re.compile(rf"(?i:\bin\s+(?:the\s+)?)(?P<letter>[A-G]){_ACC}(?P<mode>\s?-?\s?{_MODE_WORD}|M|m){_KEY_END}", _A)
# "a blues in E, …": a bare tonic after "in" counts only when punctuation or the end follows
_KEY_IN_BARE = re.compile(rf"(?i:\bin\s+(?:the\s+)?)(?P<letter>[A-G]){_ACC}(?=\s*(?:[,.;!?)]|$))", _A)
_KEY_ZH = re.compile(r"(?<![A-Za-z])(?P<cacc>升|降|#|b)?\s?(?P<letter>[A-Ga-g])(?P<acc>#|b)?\s?"
                     r"(?P<cmode>(?:和声|自然|旋律)?小调|大调|调)", _A)
_MODE_ONLY = [
    re.compile(r"(?i:\b(major|minor)[\s\-]+(?:key|tonality|mode|scale|feel|harmony|harmonies)\b)", _A),
    re.compile(r"(?i:\bin\s+(?:a\s+)?(major|minor)\b)(?!\s*(?i:chords?|thirds?|sevenths?|seconds?|sixths?|"
               r"intervals?|progressions?))", _A),
    re.compile(r"(大调|小调)(?=式|色彩|风格|旋律|和声|音阶|调性)"),
    re.compile(r"(?<=用|以|是|为|偏)(大调|小调)"),
]


@dataclass(frozen=True)
class KeyStated:
    pc: int | None  # tonic pitch class, None when only the mode was stated ("in a minor key")
    mode: str | None  # "major" / "minor", None when only the tonic was ("key of A")
    start: int
    text: str


def _mode_of(word: str | None) -> str | None:
    if not word:
        return None
    w = word.strip(" -")
    if w == "M":
        return "major"
    if w == "m":
        return "minor"
    w = w.lower()
    if "小" in w:
        return "minor"
    if "大" in w or w == "调":
        return "major"
    return "minor" if w.split()[-1].startswith("min") else "major"


def _accidental(acc: str | None) -> int:
    acc = (acc or "").strip(" -").lower()
    return {"#": 1, "sharp": 1, "升": 1, "b": -1, "flat": -1, "降": -1}.get(acc, 0)


def _key_from_match(m: re.Match, default_mode: str | None) -> KeyStated:
    pc = (theory.pitch_class(m.group("letter")) + _accidental(m.group("acc"))) % 12
    groups = m.groupdict()
    if groups.get("cacc"):
        pc = (pc + _accidental(groups["cacc"])) % 12
    mode = _mode_of(groups.get("mode") or groups.get("cmode")) or default_mode
    return KeyStated(pc, mode, m.start(), m.group(0))


def find_key(text: str) -> KeyStated | None:
    """The key the text states first, in any spelling: 'The key is F#m', 'D#major', 'EM',
    'A flat minor', 'in the key of A', 'Bb maj', 'C大调', 'a小调', '升F小调', 'bE大调'.
    Alternatives ('Dminor, or Gm') give the first. Falls back to a mode alone
    ('a minor key', '小调式') with pc None."""
    ranked: list[tuple[int, int, KeyStated]] = []  # (strength, position, key): strongest first
    for m in _KEY_CONTEXT.finditer(text):
        if m.group("letter").islower() and not m.group("mode"):
            continue  # "the key is a big part of it": a lower-case letter needs its mode
        ranked.append((0, m.start(), _key_from_match(m, None)))
    for m in _KEY_ZH.finditer(text):
        ranked.append((0, m.start(), _key_from_match(m, None if m.group("cmode") == "调" else "major")))
    for m in _KEY_FREE.finditer(text):
        ranked.append((1, m.start(), _key_from_match(m, None)))
    for m in _KEY_IN.finditer(text):
        ranked.append((2, m.start(), _key_from_match(m, None)))
    for m in _KEY_IN_BARE.finditer(text):
        ranked.append((3, m.start(), _key_from_match(m, None)))
    if ranked:
        return min(ranked, key=lambda r: (r[0], r[1]))[2]
    for regex in _MODE_ONLY:
        m = regex.search(text)
        if m:
            return KeyStated(None, _mode_of(m.group(1)), m.start(), m.group(0))
    return None


def parse_key(value: str) -> tuple[int, str] | None:
    """A key given on its own (a request's `key` override): 'F# minor', 'Eb', 'Em', 'a小调'.
    A bare tonic is major. None when it is not a key."""
    value = normalise(value).strip()
    for regex in (_KEY_ZH, re.compile(rf"^\s*(?i:key\s+of\s+)?{_KEY_TOKEN}\s*$", _A)):
        m = regex.search(value) if regex is _KEY_ZH else regex.match(value)
        if m:
            key = _key_from_match(m, "major")
            return key.pc, key.mode or "major"
    return None


# ---------------------------------------------------------------------------------------
# Metre

BEAT_UNITS = {2: 4, 3: 4, 4: 4, 5: 4, 6: 8, 7: 8, 9: 8, 12: 8}  # beats per bar → the usual beat unit (2 → 2/4)
_NUMW = r"(\d{1,2}|two|three|four|five|six|seven|nine|twelve|二|两|三|四|五|六|七|九|十二)"
_TIME_SIGNATURE = re.compile(r"(?<![\d/.:])(2|3|4|5|6|7|9|12)\s*/\s*(2|4|8)(?![\d/])", _A)
_TIME_SIGNATURE_ZH = re.compile(r"(二|两|三|四|五|六|七|九|十二)(二|四|八)拍")
_BEAT_PHRASES = [re.compile(p, _AI) for p in (
    rf"\bbeats?\b\s+(?:counts?\s+(?:to|up\s+to)|count\s+is|is\s+in|is|of)\s+(?:a\s+)?{_NUMW}\b"
    r"(?!\.\d|\d|\s*(?:bpm|beats? per|times|x\b))",
    rf"\b{_NUMW}\s+beats?\s+(?:per|a|in\s+(?:a|each|every|the)|to\s+(?:a|the|each))\s+(?:bar|measure)",
    rf"\bcount(?:s|ed)?\s+(?:in|of|to)\s+{_NUMW}\b(?!\.\d|\d|\s*(?:bpm|beats? per))",
    rf"每(?:小节|一小节|节)\s*{_NUMW}\s*拍",
    rf"{_NUMW}拍子",
)]
_METRE_WORDS = [
    (re.compile(r"\b(?:common\s+time)\b", _AI), (4, 4)),
    (re.compile(r"\b(?:cut\s+time|alla\s+breve)\b", _AI), (2, 2)),
    (re.compile(r"\bcompound\s+duple\b", _AI), (6, 8)),
    (re.compile(r"\bcompound\s+triple\b", _AI), (9, 8)),
    (re.compile(r"\btriple\s+(?:meter|metre|time)\b", _AI), (3, 4)),
    (re.compile(r"\bduple\s+(?:meter|metre|time)\b", _AI), (2, 4)),
    (re.compile(r"\bquadruple\s+(?:meter|metre|time)\b", _AI), (4, 4)),
    (re.compile(r"\b(?:waltz(?:es)?|valse|minuet|mazurka|polonaise|sarabande)\b|华尔兹|圆舞曲|小步舞曲", _AI), (3, 4)),
    (re.compile(r"\b(?:jig|tarantella|siciliana|barcarolle)\b|船歌", _AI), (6, 8)),
    (re.compile(r"\bpolka\b|波尔卡", _AI), (2, 4)),
]


@dataclass(frozen=True)
class MetreStated:
    beats_per_bar: int
    beat_unit: int
    start: int
    text: str


def find_metre(text: str) -> MetreStated | None:
    """The metre stated first, strongest form first: '6/8', '3/4拍', '三四拍' (a time
    signature) over 'the beat counts to 3', 'The beat is 2', '三拍子' (a beat count) over
    'waltz', 'triple meter', '圆舞曲' (a metre word). A count of 2 is 2/4, 6 is 6/8."""
    for m in _TIME_SIGNATURE.finditer(text):
        return MetreStated(int(m.group(1)), int(m.group(2)), m.start(), m.group(0))
    for m in _TIME_SIGNATURE_ZH.finditer(text):
        return MetreStated(int(number(m.group(1))), int(number(m.group(2))), m.start(), m.group(0))
    counts = []
    for regex in _BEAT_PHRASES:
        for m in regex.finditer(text):
            n = number(m.group(1))
            if n is not None and int(n) in BEAT_UNITS:
                counts.append(MetreStated(int(n), BEAT_UNITS[int(n)], m.start(), m.group(0)))
                break
    if counts:
        return min(counts, key=lambda c: c.start)
    words = [MetreStated(bpb, unit, m.start(), m.group(0))
             for regex, (bpb, unit) in _METRE_WORDS for m in [regex.search(text)] if m]
    return min(words, key=lambda c: c.start) if words else None


# ---------------------------------------------------------------------------------------
# Duration

_EN_DUR = rf"(\d+(?:\.\d+)?|{_EN_NUM})"
_DURATIONS = [
    # "2 minutes 30 seconds", "a 2-minute track", "2.5 min", "three minutes", "1 min 30 s"
    (re.compile(rf"(?<![\d.])(?<!beats\s)(?<!beat\s)(?<!times\s)\b{_EN_DUR}[\s\-]*(?:and\s+a\s+half\s+)?(?:minutes?|mins?)\b"
                rf"(?:\s*(?:and\s+)?(\d+)[\s\-]*(?:seconds?|secs?|s)\b)?(\s+and\s+a\s+half)?", _AI), "min"),
    (re.compile(r"\b(?:a\s+)?minute\s+and\s+a\s+half\b", _AI), "90"),
    (re.compile(r"\bhalf\s+(?:a|an)\s+minute\b", _AI), "30"),
    (re.compile(rf"(?<![\d.])\b{_EN_DUR}[\s\-]*(?:seconds?|secs?)\b", _AI), "sec"),
    (re.compile(r"(?i:\b(?:duration|length|long|lasting|lasts)\b)\s*(?:of|is|:|=)?"
                r"\s*(\d+(?:\.\d+)?)\s?s\b", _A), "sec"),
    (re.compile(r"(?<![\d:])(\d{1,2}):([0-5]\d)(?![\d:])(?!\s*(?:am|pm|a\.m|p\.m)\b)", _AI), "m:ss"),
    # 两分钟, 2分钟, 1分30秒, 一分半, 三分半钟
    (re.compile(rf"(\d+(?:\.\d+)?|{_CN_NUM})\s*分(?:钟)?\s*(半|(\d+|{_CN_NUM})\s*秒)"), "zh_min_sec"),
    (re.compile(rf"(\d+(?:\.\d+)?|{_CN_NUM})\s*分钟(半)?"), "zh_min"),
    (re.compile(r"半分钟"), "30"),
    (re.compile(rf"(?<!每)(\d+(?:\.\d+)?|{_CN_NUM})\s*秒(?:钟)?"), "zh_sec"),
]


@dataclass(frozen=True)
class DurationStated:
    seconds: float
    start: int
    text: str


def find_duration(text: str) -> DurationStated | None:
    """The first length stated: 'a 2-minute track', '90 seconds', '1:30', '30秒', '两分钟',
    '一分半', '2 min 30 s'. Returns seconds as written (the planner clamps)."""
    found: list[DurationStated] = []
    for regex, kind in _DURATIONS:
        for m in regex.finditer(text):
            seconds = None
            if kind == "min":
                minutes = number(m.group(1))
                if minutes is not None:
                    half = 0.5 if ("half" in m.group(0).lower()) else 0.0
                    seconds = (minutes + half) * 60 + (float(m.group(2)) if m.group(2) else 0.0)
            elif kind == "sec" or kind == "zh_sec":
                seconds = number(m.group(1))
            elif kind == "m:ss":
                seconds = int(m.group(1)) * 60 + int(m.group(2))
            elif kind == "zh_min":
                minutes = number(m.group(1))
                seconds = None if minutes is None else minutes * 60 + (30 if m.group(2) else 0)
            elif kind == "zh_min_sec":
                minutes = number(m.group(1))
                extra = 30.0 if m.group(2) == "半" else number(m.group(3) or "")
                seconds = None if minutes is None or extra is None else minutes * 60 + extra
            else:
                seconds = float(kind)
            if seconds and seconds > 0:
                found.append(DurationStated(float(seconds), m.start(), m.group(0)))
                break
    return min(found, key=lambda d: d.start) if found else None


# ---------------------------------------------------------------------------------------
# Chords

_ROMAN_TOKEN = re.compile(r"^[b#]?(?:VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(?:o|°|maj7|m7b5|m7|7|9|6|sus4|sus2)?$")
# "The chord progression in this song is …", "chords: …", "和弦进行是 …". A bare "chords" with
# no verb or colon ("piano chords, A soft synth …") needs two readable symbols to count.
_CHORD_CONTEXT = re.compile(
    r"(?:(?P<strong>(?i:\bchord\s+(?:progressions?|sequences?|changes|patterns?|structure)\b)|和弦进行|和弦走向|和弦序列)"
    r"|(?i:\b(?:progressions?|chords?|changes)\b)|和弦)"
    r"(?:\s+(?i:in|of|for|used\s+in)\s+(?i:this|the)\s+(?i:song|piece|track|tune|verse|chorus))?"
    r"\s*(?P<verb>(?i:is|are|goes|go|follows?|uses?|of|include|includes|like)\b|[:=]|是|为|用)?"
    r"\s*(?P<body>[^.;\n。]{1,240})", _A)
_ROMAN_BEFORE = re.compile(
    r"(?<![A-Za-z])(?P<body>(?:[b#]?(?:VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(?:o|°|maj7|m7|7)?\s*[-–—,]\s*){2,11}"
    r"[b#]?(?:VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(?:o|°|maj7|m7|7)?)"
    r"\s*(?:chord\s+)?(?i:progression|changes|和弦)", _A)
_CHORD_WORDS = re.compile(r"[A-Za-z0-9#/°+]+|[^\x00-\x7f]+")
_CHORD_SHAPED = re.compile(r"^[A-G][#b]?(?:\d|m|M|maj|min|dim|aug|sus|add|\+|°|/)[A-Za-z0-9#/°+]{0,9}$")
_CONNECTORS = {"and", "then", "to", "or", "followed", "by", "back", "with", "again"}
_NO_CHORD = {"N", "NC", "N.C", "N.C."}


@dataclass(frozen=True)
class ChordsStated:
    chords: list[str]  # lead-sheet symbols that theory.parse_chord accepts, in order
    romans: list[str]  # roman numerals, when the progression was given that way
    skipped: list[str]  # symbols that could not be read (noted in plan.conflicts)
    start: int


def _read_chords(body: str) -> tuple[list[str], list[str], list[str]]:
    chords, romans, skipped = [], [], []
    for token in _CHORD_WORDS.findall(body):
        if token in _NO_CHORD or token.rstrip(".") in _NO_CHORD:
            skipped.append(token)
            continue
        try:
            theory.parse_chord(token)
            chords.append(token)
            continue
        except ValueError:
            pass
        if _ROMAN_TOKEN.match(token):
            romans.append(token)
        elif token.lower() in _CONNECTORS:
            continue
        elif _CHORD_SHAPED.match(token):
            skipped.append(token)  # chord-shaped but unreadable: "Cmaj13", "Gadd11"
        else:
            break  # the chord list is over: "C, G and Am on a warm piano"
    return chords, romans, skipped


def find_chords(text: str) -> ChordsStated | None:
    """The first chord progression stated: 'The chord progression in this song is Abmaj7,
    Bbmaj7, Eb', 'The chord sequence is C, E', 'chords: Am-F-C-G', 'a I-V-vi-IV
    progression', '和弦进行是 C G Am F'."""
    for m in _CHORD_CONTEXT.finditer(text):
        chords, romans, skipped = _read_chords(m.group("body"))
        needed = 1 if (m.group("strong") or m.group("verb")) else 2
        if len(chords) >= needed or len(romans) >= needed:
            return ChordsStated(chords, [] if chords else romans, skipped, m.start())
    m = _ROMAN_BEFORE.search(text)
    if m:
        return ChordsStated([], [t for t in _CHORD_WORDS.findall(m.group("body")) if _ROMAN_TOKEN.match(t)], [],
                            m.start())
    return None


# ---------------------------------------------------------------------------------------
# Scales

_SCALES = [
    (re.compile(r"\bminor[\s\-]+pentatonic\b", _AI), "minor_pentatonic", "minor"),
    (re.compile(r"\bmajor[\s\-]+pentatonic\b", _AI), "major_pentatonic", "major"),
    (re.compile(r"宫调式|宫调|宫音阶|\bgong\s+mode\b", _AI), "major_pentatonic", "major"),
    (re.compile(r"羽调式|羽调|\byu\s+mode\b", _AI), "yu_pentatonic", "minor"),
    (re.compile(r"\bpentatonic\b|五声音阶|五声调式|五声", _AI), "pentatonic", None),
    (re.compile(r"\bblues\s+scale\b|布鲁斯音阶|蓝调音阶", _AI), "blues", None),
    (re.compile(r"\bdorian\b|多利亚|多利安", _AI), "dorian", "minor"),
    (re.compile(r"\bmixolydian\b|混合利底亚|米索利底亚", _AI), "mixolydian", "major"),
    (re.compile(r"\bharmonic\s+minor\b|和声小调", _AI), "harmonic_minor", "minor"),
]


@dataclass(frozen=True)
class ScaleStated:
    scale: str  # a theory.SCALES name, or "pentatonic" (major or minor decided by the mode)
    mode: str | None  # the mode the scale implies, if any
    start: int


def find_scale(text: str) -> ScaleStated | None:
    """'minor pentatonic', 'dorian', 'blues scale', '五声音阶', '羽调式' …"""
    found = [ScaleStated(name, mode, m.start()) for regex, name, mode in _SCALES for m in [regex.search(text)] if m]
    return min(found, key=lambda s: s.start) if found else None
