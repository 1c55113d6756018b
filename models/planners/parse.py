"""Reading musical facts out of free text (English, Chinese, Japanese): tempo, key, metre,
duration, chords, scale, the words of the lexicon and the sense they are used in, and
what the text excludes or restricts.

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
from . import lexicon

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
_KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa]")  # hiragana and katakana, not the 'ー' and '・' marks
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def language(text: str) -> str:
    """'en', 'zh' or 'ja': CJK text when its characters (kanji and kana) outnumber Latin
    words, and Japanese when it holds any kana ("三拍子の子守唄"): Chinese is written
    without them."""
    han, kana = len(_CJK.findall(text)), len(_KANA.findall(text))
    if han + kana < max(1, len(_LATIN_WORD.findall(text))):
        return "en"
    return "ja" if kana else "zh"


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
# Spelled numbers up to 299, for tempi written out: "sixty beats per minute", "a hundred and
# twenty bpm", "seventy-two bpm".
_EN_ONES = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_EN_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
             "nineteen")
_EN_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_EN_BELOW_100 = (rf"(?:(?:{'|'.join(_EN_TENS)})(?:[\s\-]+(?:{'|'.join(_EN_ONES)}))?|{'|'.join(_EN_TEENS)}|"
                 rf"{'|'.join(_EN_ONES)})")
_SPELLED = rf"(?:(?:a|one|two)[\s\-]+hundred(?:[\s\-]+(?:and[\s\-]+)?{_EN_BELOW_100})?|{_EN_BELOW_100})"
_N_OR_SPELLED = rf"(\d{{1,4}}(?:\.\d+)?|{_SPELLED}\b)"  # a tempo as digits or words (number() reads both)


def spelled_number(text: str) -> float | None:
    """'sixty' → 60, 'seventy-two' → 72, 'a hundred and twenty' → 120; None otherwise."""
    words = [w for w in re.split(r"[\s\-]+", text.strip().lower()) if w and w != "and"]
    total, value = 0, None
    for w in words:
        if w in ("a", "one") and value is None and len(words) > 1:
            value = 1
        elif w in _EN_ONES:
            value = (value or 0) + _EN_ONES.index(w) + 1
        elif w in _EN_TEENS:
            value = (value or 0) + _EN_TEENS.index(w) + 10
        elif w in _EN_TENS:
            value = (value or 0) + 10 * (_EN_TENS.index(w) + 2)
        elif w == "hundred":
            total, value = total + 100 * (value or 1), None
        else:
            return None
    return float(total + (value or 0)) if words else None


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
    """An Arabic, English or Chinese number: '2.5', 'two', 'seventy-two', '两' → float."""
    text = text.strip().lower()
    if text in _EN_NUMBERS:
        return float(_EN_NUMBERS[text])
    return spelled_number(text) if text.isascii() and text[:1].isalpha() else cn_number(text)


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
    "慢": r"(?<![傲怠])慢(?!摇)",  # 慢摇 is a club genre
    "light": r"(?<![A-Za-z0-9])light(?![A-Za-z0-9])(?!\s+(?:percussion|drums?|beats?|touch|rain|reverb|piano|guitar"
             r"|strumming|synths?|pads?|hats?|shakers?|cymbals?|bass|show|of)\b)",
    "Grave": r"(?-i:(?<![A-Za-z0-9])Grave(?![A-Za-z0-9]))",
    "萧": r"(?<!萧)萧(?![瑟条索萧])",  # the flute, not 萧瑟 ("bleak") or 风萧萧 (the wind's sound)
    "march": r"(?-i:(?<![A-Za-z])march(?:es)?(?![A-Za-z]))",  # lower case: "March" is the month
}
_NEGATION_EN = re.compile(r"\b(?:no|without|not|minus|lacking|lacks|zero|sans|never|nor)\b", re.I)
_NEGATION_ZH = re.compile(r"无|没有|没|不要|不含|不用|去掉|不带|除去|拒绝|别")
_NEGATION_AFTER = re.compile(r"\s*(?:[\-\s]?free\b|(?:は|を|が)?\s*(?:なし|無し|抜き|ぬき|不要|いらない|要らない|レス"
                             r"|入れない|使わない|なしで))", re.I)
_CLAUSE_END = re.compile(r"[.,;:!?。;!?\n、]")
_SEPARATOR = "\0"  # a space or hyphen inside a table word: matches any run of spaces/hyphens, or none


def clause_before(text: str, start: int, width: int = 40) -> str:
    """The text of the clause before `start`, at most `width` characters back."""
    before = text[max(0, start - width):start]
    return before[max((m.end() for m in _CLAUSE_END.finditer(before)), default=0):]


def negated_at(text: str, start: int, end: int) -> bool:
    """Whether the word at text[start:end] is negated in its clause."""
    before = clause_before(text, start)
    words = re.findall(r"[A-Za-z'][A-Za-z'\-]*", before)[-3:]  # "no-nonsense" is one word, no negation
    if any(_NEGATION_EN.fullmatch(w) for w in words) and "not only" not in before.lower():
        return True
    negations = list(_NEGATION_ZH.finditer(before[-6:]))
    # 不要鼓, 不要任何鼓, 不要鼓和贝斯 — but not 没有人声的钢琴曲 ("a piano piece without voice")
    if negations and not re.search(r"[的之地]", before[-6:][negations[-1].end():]):
        return True
    return bool(_NEGATION_AFTER.match(text, end))  # "drum-free", ドラムなし, ボーカル不要


def _word_key(text: str) -> str:
    return re.sub(r"[\s\-]+", "", text.lower())


def _trie_regex(words: list[str], plural: bool) -> str:
    """One regex matching any of `words` with the longest match first, factored by common
    prefixes (a plain alternation of hundreds of words is tried word by word at every
    position of the text: ~100x slower). A word starting with an ASCII letter or digit
    needs none before it, and one ending with one none after it (with an optional plural
    s/es when `plural`): English words match whole; Chinese and Japanese ones anywhere."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word.lower():
            node = node.setdefault(_SEPARATOR if ch in " -" else ch, {})
        node[""] = {}

    def ends(ch: str) -> str:  # what must follow a word ending in `ch`
        return f"{'(?:e?s)?' if plural else ''}(?![A-Za-z0-9])" if ch.isascii() and ch.isalnum() else ""

    def emit(node: dict, last: str) -> str:
        branches = []
        for ch, child in sorted(node.items()):
            if not ch:
                continue
            piece = (r"[\s\-]*" if ch == _SEPARATOR else re.escape(ch)) + emit(child, ch)
            if not last and ch.isascii() and ch.isalnum():  # a word's first character
                piece = "(?<![A-Za-z0-9])" + piece
            branches.append(piece)
        if "" in node:
            branches.append(ends(last))  # the word may end here: after every longer one
        if len(branches) <= 1:
            return "".join(branches)
        return "(?:" + "|".join(branches) + ")"

    return emit(trie, "")


class Vocabulary:
    """All surface words of a table compiled into one regex; `find` returns Hits in order.

    English words match whole words (with an optional plural s/es when `plural`), Chinese
    and Japanese words anywhere; at one position the longest word wins (dj舞曲 over dj);
    matches do not overlap."""

    def __init__(self, entries: Sequence[Sequence[str]], plural: bool = False):
        self._entry_of: dict[str, int] = {}
        words_of_trie: list[str] = []
        special = []
        for i, words in enumerate(entries):
            for word in words:
                self._entry_of.setdefault(word if word in _SPECIAL_SURFACES else _word_key(word), i)
                if word in _SPECIAL_SURFACES:
                    special.append(f"(?P<s{len(special)}>{_SPECIAL_SURFACES[word]})")
                    self._entry_of[f"s{len(special) - 1}"] = i
                else:
                    words_of_trie.append(word)
        self._regex = re.compile("|".join([_trie_regex(words_of_trie, plural)] + special), re.I)

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
# The sense a genre word is used in

# Words before a noun that make a genre word the everyday noun ("in a house", "the whole
# country", "my soul"); "some rock" and "a rock song" stay music.
_DETERMINERS = frozenset({"a", "an", "the", "this", "that", "these", "those", "my", "your", "his", "her", "its",
                          "our", "their", "every", "each", "another", "whose"})
_PREPOSITIONS = frozenset({"in", "into", "inside", "at", "around", "across", "of", "from", "to", "near", "by", "for",
                           "through", "over", "under", "on", "outside", "behind", "throughout"})
_WORD = re.compile(r"[A-Za-z']+")
_INSTRUMENT_NOUNS = frozenset(w.lower() for words, _ in lexicon.INSTRUMENT_WORDS for w in words
                              if w.isascii() and w.isalpha())
_ZH_SEPARATOR = re.compile(r"[\s,，、。.;；:：!！?？/|()（）\[\]【】\-]")


def genre_sense(text: str, start: int, end: int) -> bool:
    """Whether the genre word at text[start:end] names the genre, not its everyday homonym
    (lexicon.GENRE_HOMONYMS, ZH_GENRE_HOMONYMS). English: a music noun or another genre
    right after it says music ("a country song", "house-style", "rock drums"); a hyphen
    to another word ("rock-solid", "trance-like"), an everyday noun after it ("house
    party", "folk tale", "metal pipes"), a verb's object ("rock the crowd"), or a
    determiner just before it ("in a house", "the whole country", "in a cozy little
    house") says the everyday word. Chinese: the genre when a music word, punctuation or
    the end follows (乡村风, "流行, 电子"), not otherwise (乡村小路, 金属质感, 电子元素)."""
    word = text[start:end]
    following = re.match(r"\s+([A-Za-z']+)", text[end:])
    after = following.group(1).lower() if following else ""  # the next English word
    if word.lower() in lexicon.TAG_ONLY_GENRES:  # "流行 dj 女声", "pop, dj", "a DJ set", not "DJ scratches"
        neighbours = text[:start].rstrip()[-1:], text[end:].lstrip()[:1]
        alone = all(not ch or _ZH_SEPARATOR.match(ch) or not ch.isascii() for ch in neighbours)
        return alone or after in lexicon.MUSIC_NOUNS
    if word in lexicon.ZH_GENRE_HOMONYMS:
        after = text[end:]
        return not after or bool(_ZH_SEPARATOR.match(after)) or after.startswith(lexicon.ZH_MUSIC_FOLLOWERS)
    if word.lower() not in lexicon.GENRE_HOMONYMS:
        return True
    hyphen = re.match(r"-([A-Za-z]+)", text[end:])
    if hyphen:
        return hyphen.group(1).lower() in lexicon.MUSIC_NOUNS
    if after in lexicon.MUSIC_NOUNS or after in _INSTRUMENT_NOUNS:  # "a country song", "metal guitars"
        return True
    if after in lexicon.EVERYDAY_FOLLOWERS or after in _DETERMINERS:
        return False
    before = [w.lower() for w in _WORD.findall(clause_before(text, start, 60))][-4:]
    if before[-1:] and before[-1] in _DETERMINERS or before[-2:-1] and before[-2] in _DETERMINERS:
        return False
    return not (len(before) >= 4 and before[-3] in _DETERMINERS and before[-4] in _PREPOSITIONS)


def _alternation(words) -> str:
    """Words as one regex alternation: English ones whole (spaces and hyphens loose)."""
    out = []
    for w in sorted(words, key=len, reverse=True):
        body = r"[\s\-]+".join(map(re.escape, w.split()))
        out.append(rf"(?<![A-Za-z]){body}(?![A-Za-z])" if w.isascii() else body)
    return "|".join(out)


_INFLUENCE_AFTER = re.compile(rf"[\s\-]*(?:{_alternation(lexicon.INFLUENCE_AFTER)})", re.I)
_INFLUENCE_BEFORE = re.compile(rf"(?:{_alternation(lexicon.INFLUENCE_BEFORE)})\s*(?:some\s+)?$", re.I)
_USAGE_BEFORE = re.compile(r"(?:" + _alternation(lexicon.USAGE_BEFORE) + r")\s*(?:(?:the|a|an|some)\s+)?"
                           r"(?:[A-Za-z\-/']+\s+){0,3}$", re.I)


def is_influence(text: str, start: int, end: int) -> bool:
    """Whether the genre at text[start:end] is named as an influence on the piece or as a
    place it could be used, not as its genre: "pop with jazz influences", "rock-tinged", "a
    touch of funk", 融合了爵士元素, "could be included in the soundtrack of a movie"."""
    return bool(_INFLUENCE_AFTER.match(text, end) or _INFLUENCE_BEFORE.search(text[max(0, start - 24):start])
                or _USAGE_BEFORE.search(text[max(0, start - 60):start]))


# ---------------------------------------------------------------------------------------
# Tempo numbers

_N = r"(\d{1,4}(?:\.\d+)?)"
_CN = rf"(\d{{1,3}}(?:\.\d+)?|{_CN_NUM})"
_APPROX = (r"(?:(?:around|about|approximately|approx\.?|roughly|circa|ca\.?|near|~|≈|约|大约|大概|左右|約|およそ|"
           r"だいたい)\s*)?")
_BPM_UNIT = (r"(?:bpm|b\.p\.m\.?|beats?[\s\-]*(?:per|a|/|each|to\s+the|in\s+a|every)[\s\-]*min(?:ute)?|拍每分钟|"
             r"拍/分)")
# Words between "tempo" / "bpm" / "metronome" and the number: "the bpm sits at 132", "tempo
# hovering around 84", "metronome marking of 60", "BPM为76", "テンポは90".
_TEMPO_VERBS = (r"of|is|at|set|sets|to|marking|marked|mark|this|the|song|track|piece|tune|here|will|be|should|"
                r"sits|sitting|hovers|hovering|runs|running|stays|staying|settles|settled|lands|locked|moves|"
                r"moving|clocks|clocking|in|holds|held|kept|keeps|reads|reading|right|just|steady|somewhere|on|"
                r"为|是|在|设为|设在|定在|设定为|保持在|控制在|约为|大约为|は|が|を|で")
_NOT_A_TEMPO = r"(?![\d./])(?!\s*(?:%|s\b|sec|min|bars?|seconds|minutes|hz|khz|db|秒|分|小节))"
_TEMPO_RANGES = [re.compile(p, _AI) for p in (
    rf"(?:between\s+)?{_N}\s*(?:-|–|—|~|to|and|至|到)\s*{_N}\s*{_BPM_UNIT}",
    rf"(?:\bbpm\b|\btempo\b|速度|テンポ)\s*(?:of|:|=|is|around|为|是|在|は)?\s*{_N}\s*(?:-|–|—|~|to|至|到)\s*{_N}(?![\d/])",
)]
_TEMPO_WORD = re.compile(
    rf"(?:\btempo\b|テンポ|速さ|スピード)(?:\s*(?:{_TEMPO_VERBS})\b)*"
    rf"\s*[:=]?\s*{_APPROX}{_N}{_NOT_A_TEMPO}", _AI)
# Statements without a unit, counted only with a plausible tempo (20..400): "132 on the
# metronome", "M.M. = 72", "set the click to 100", "the groove runs at 112", "节拍器120".
_TEMPO_LOOSE = [_TEMPO_WORD] + [re.compile(p, f) for p, f in (
    (rf"(?:\bmetronome\b|メトロノーム|节拍器)(?:\s*(?:{_TEMPO_VERBS}|速度)\b)*\s*[:=]?\s*{_APPROX}"
     rf"{_N_OR_SPELLED}{_NOT_A_TEMPO}", _AI),
    (rf"{_N}\s+on\s+the\s+metronome", _AI),
    (rf"(?<![A-Za-z])(?:M\.\s?M\.?|MM)\s*[=:]?\s*{_N}(?![\d/])", _A),
    (rf"\bclick(?:\s+track)?\s+(?:is\s+)?(?:at|to|of|set\s+to|=|:)\s*{_APPROX}{_N}{_NOT_A_TEMPO}", _AI),
    # "the groove runs at 112", "the track grooves along at 118", "played at a steady 96"
    (rf"\b(?:grooves?|grooving|runs?|running|moves?|moving|sits?|sitting|rolls?|rolling|cruises?|cruising|ticks?|"
     rf"chugs?|chugging|marches|marching|bounces?|bouncing|rides?|riding|struts?|pulses?|pulsing|clocks?\s+in|"
     rf"clocking\s+in|comes?\s+in|coming\s+in|plays?|played|playing|set|is\s+set)\s+(?:along\s+|steadily\s+)?"
     rf"at\s+(?:a\s+)?(?:steady\s+|brisk\s+|relaxed\s+|comfortable\s+|leisurely\s+|lively\s+)?{_APPROX}{_N}"
     rf"{_NOT_A_TEMPO}(?!\s*(?:am|pm|a\.m|p\.m|o'clock|percent|fps|khz|hz)\b)", _AI),
)]
_TEMPO_NUMBERS = _TEMPO_LOOSE + [re.compile(p, _AI) for p in (
    rf"{_N}\s*-?\s*{_BPM_UNIT}",
    rf"\b({_SPELLED})\s*-?\s*{_BPM_UNIT}",
    rf"\btempo\s+(?:of|is|at|around|about|near)\s+(?:(?:around|about|roughly)\s+)?({_SPELLED})\b(?![\s\-]*(?:%|"
    rf"percent|seconds?|minutes?|bars?))",
    rf"\bbpm(?![a-z])(?:\s*(?:{_TEMPO_VERBS}|=|:|around|near|roughly|about)(?![a-z]))*\s*{_APPROX}{_N}(?![\d/])",
    rf"\bbeats?[\s\-]*per[\s\-]*minute\s*(?:is|of|=|:|at|around)?\s*{_APPROX}{_N}(?![\d/])",
    rf"(?:♩|𝅘𝅥|\bquarter(?:[\s\-]*notes?)?|\bcrotchets?|\bq)\s*(?:=|≈|~|:)\s*{_APPROX}{_N}",
    rf"(?:每分钟|一分钟|每分)\s*{_APPROX}{_CN}\s*(?:拍|下|bpm|beats)",
    rf"毎分\s*{_APPROX}{_N}\s*拍",
    rf"{_CN}\s*(?:拍|bpm)\s*(?:每分钟|/\s*分钟?|每分)",
    rf"(?:速度|节拍速度|节奏速度|曲速|拍速)\s*(?:为|是|:|在|设为|设定为|大约|约|定在|设在|保持在|控制在|约为|大约为)?"
    rf"\s*{_APPROX}{_N}(?!\s*(?:秒|分|%))",
)]


@dataclass(frozen=True)
class TempoStated:
    bpm: float  # as written (may lie outside [30, 300]; the planner clamps and says so)
    start: int
    text: str


def find_tempo_number(text: str) -> TempoStated | None:
    """The first tempo stated as a number: '125 bpm', 'the bpm is 125', 'the bpm sits at 132',
    '153.0 beats per minute', 'tempo of 90', '♩=120', 'crotchet = 66', '132 on the metronome',
    'M.M. 72', '每分钟90拍', '90拍每分钟', '速度120', '节拍器120', 'テンポ120', 'BPM120',
    '120-130 bpm' and 'between 120 and 130 bpm' (→ 125)."""
    found: list[TempoStated] = []
    for m in (m for regex in _TEMPO_RANGES for m in regex.finditer(text)):
        lo, hi = float(m.group(1)), float(m.group(2))
        if 20 <= lo <= hi <= 400:
            found.append(TempoStated(round((lo + hi) / 2, 1), m.start(), m.group(0)))
    for regex in _TEMPO_NUMBERS:
        for m in regex.finditer(text):
            value = number(m.group(1))
            # With its unit ("999 bpm") any number is a stated tempo (clamped later, with a
            # note); without one only a plausible one is ("tempo changes 3 times").
            low, high = (20, 400) if regex in _TEMPO_LOOSE else (1, 10**4)
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
_COUNT_WORDS = r"(two|three|four|five|six|seven|nine|twelve)"
_TIME_SIGNATURE = re.compile(r"(?<![\d/.:])(2|3|4|5|6|7|9|12)\s*/\s*(2|4|8)(?![\d/])", _A)
_TIME_SIGNATURE_ZH = re.compile(r"(二|两|三|四|五|六|七|九|十二)(二|四|八)拍")
# "three-four time", "six-eight", "a four-four groove" (not "one-two-three-four": no hyphen before)
_TIME_SIGNATURE_WORDS = [re.compile(p, _AI) for p in (
    rf"(?<![\-A-Za-z]){_COUNT_WORDS}-(two|four|eight)\b(?!-)",
    rf"(?<![\-A-Za-z]){_COUNT_WORDS}\s+(two|four|eight)\s+(?:time|meter|metre|feel|signature|rhythm)\b",
)]
# "四分之三拍", "4分の3拍子", "八分之六": the beat unit first
_TIME_SIGNATURE_FRACTION = re.compile(r"(?<!\d)(二|四|八|2|4|8)\s*分\s*[之の]\s*(二|三|四|五|六|七|九|十二|\d{1,2})"
                                      r"(?!\d)")
_BEAT_PHRASES = [re.compile(p, _AI) for p in (
    rf"\bbeats?\b\s+(?:counts?\s+(?:to|up\s+to)|count\s+is|is\s+in|is|of)\s+(?:a\s+)?{_NUMW}\b"
    r"(?!\.\d|\d|\s*(?:bpm|beats? per|times|x\b))",
    rf"\b{_NUMW}\s+beats?\s+(?:per|a|in\s+(?:a|each|every|the)|to\s+(?:a|the|each))\s+(?:bar|measure)",
    rf"\bbeats?\s+(?:per|a|in\s+(?:a|each|every|the))\s+(?:bar|measure)\s*(?:is|of|=|:)?\s*{_NUMW}\b(?![/\d.])",
    # "counting to 2", "count it in 6", "counted in three"
    rf"\bcount(?:s|ed|ing)?(?:[\s\-]+(?:it|them|along|off))?[\s\-]+(?:in|of|to|up[\s\-]+to)[\s\-]+{_NUMW}\b"
    r"(?!\.\d|\d|\s*(?:bpm|beats? per))",
    # "a 2-beat rhythm", "a three-beat pattern", "3-count", "a three count"
    rf"(?<![\d.]){_NUMW}[\s\-]+(?:beat|count)\b(?!s)(?![\s\-]*(?:per|a|/|each)\s*min)",
    # "time signature of 3", "the meter is three", "a metre of 5 beats"
    rf"\b(?:time\s+signature|meter|metre)\s*(?:is|of|=|:|in)?\s*(?:a\s+)?{_NUMW}\b"
    r"(?![/\d.]|\s*(?:bpm|minutes?|bars?|measures?|seconds?))",
    # "played in three", "a tango in two", "in 3 time": only at a clause's end or before a metre word
    rf"\b(?:in|into)\s+{_NUMW}(?=\s*(?:[,.;:!?)]|$)|\s+(?:time|feel|meter|metre|pulse|beats?|counts?)\b)",
    # "a tune in three with harp", "written in 5 for piano": after a music noun or verb
    rf"\b(?:tune|song|piece|melody|groove|ballad|dance|number|waltz|march|hymn|played|written|felt|counted|set|"
    rf"composed|"
    rf"moves|swings|sways)\s+in\s+{_NUMW}\b(?!\s*(?:minutes?|seconds?|parts?|sections?|movements?|acts?|keys?|"
    r"voices?|bars?|measures?|steps?|times?|octaves?|days?|hours?|weeks?|years?|languages?|-))",
    # "bars of three beats", "measures of six"
    rf"\b(?:bars?|measures?)\s+(?:of|with)\s+{_NUMW}\b(?![/\d.]|\s*(?:bpm|minutes?|seconds?|bars?|measures?))",
    rf"每(?:小节|一小节|节)\s*{_NUMW}\s*拍",
    rf"(?<!\d){_NUMW}拍子",
    rf"(?<![\d分]){_NUMW}拍(?:的)?(?:节奏|律动|节拍|韵律|循环)",
)]
# "one-two-three, one-two-three": a count that starts again at one
_COUNTING = re.compile(r"\b(?:one|1)((?:[\s\-,]+(?:two|three|four|five|six|2|3|4|5|6))+)"
                       r"[\s,;:\-]+(?:and\s+)?(?:one|1)\b", _AI)
_METRE_WORDS = [
    (re.compile(r"\b(?:common\s+time)\b", _AI), (4, 4)),
    (re.compile(r"\b(?:cut\s+time|alla\s+breve)\b", _AI), (2, 2)),
    (re.compile(r"\bcompound\s+duple\b", _AI), (6, 8)),
    (re.compile(r"\bcompound\s+triple\b", _AI), (9, 8)),
    (re.compile(r"\btriple\s+(?:meter|metre|time|feel|pulse|rhythm)\b", _AI), (3, 4)),
    (re.compile(r"\bduple\s+(?:meter|metre|time|feel|pulse|rhythm)\b", _AI), (2, 4)),
    (re.compile(r"\bquadruple\s+(?:meter|metre|time|feel|pulse|rhythm)\b", _AI), (4, 4)),
    (re.compile(r"\bquintuple\s+(?:meter|metre|time|feel|pulse|rhythm)\b", _AI), (5, 4)),
    (re.compile(r"\bseptuple\s+(?:meter|metre|time|feel|pulse|rhythm)\b", _AI), (7, 8)),
    (re.compile(r"\boom[\s\-]?pah?[\s\-]?pah?\b", _AI), (3, 4)),
    (re.compile(r"\boom[\s\-]?pah?\b", _AI), (2, 4)),
    (re.compile(r"\b(?:waltz(?:es)?|valse|minuet|mazurka|polonaise|sarabande)\b|华尔兹|圆舞曲|小步舞曲|ワルツ",
                _AI), (3, 4)),
    (re.compile(r"\b(?:jig|tarantella|siciliana|barcarolle)\b|船歌", _AI), (6, 8)),
    (re.compile(r"\bpolka\b|波尔卡|ポルカ", _AI), (2, 4)),
]


@dataclass(frozen=True)
class MetreStated:
    beats_per_bar: int
    beat_unit: int
    start: int
    text: str


def find_metre(text: str) -> MetreStated | None:
    """The metre stated first, strongest form first: '6/8', '3/4拍', '三四拍', 'three-four
    time', '四分之三拍', '4分の3拍子' (a time signature) over 'the beat counts to 3', 'The beat
    is 2', 'a 2-beat rhythm', '3-count', 'counting to 2', 'time signature of 3', 'played in
    three', 'bars of three beats', 'one-two-three, one-two-three', '三拍子', '三拍的节奏' (a
    beat count) over 'waltz', 'triple meter', 'oom-pah-pah', '圆舞曲', 'ワルツ' (a metre
    word). A count of 2 is 2/4, 6 is 6/8."""
    signatures = [MetreStated(int(m.group(1)), int(m.group(2)), m.start(), m.group(0))
                  for m in _TIME_SIGNATURE.finditer(text)]
    signatures += [MetreStated(int(number(m.group(1))), int(number(m.group(2))), m.start(), m.group(0))
                   for regex in [_TIME_SIGNATURE_ZH, *_TIME_SIGNATURE_WORDS] for m in regex.finditer(text)]
    signatures += [MetreStated(int(number(m.group(2))), int(number(m.group(1))), m.start(), m.group(0))
                   for m in _TIME_SIGNATURE_FRACTION.finditer(text)]
    signatures = [s for s in signatures if s.beats_per_bar in BEAT_UNITS]
    if signatures:
        return min(signatures, key=lambda c: c.start)
    counts = []
    for regex in _BEAT_PHRASES:
        for m in regex.finditer(text):
            n = number(m.group(1))
            if n is not None and int(n) in BEAT_UNITS:
                counts.append(MetreStated(int(n), BEAT_UNITS[int(n)], m.start(), m.group(0)))
                break
    for m in _COUNTING.finditer(text):
        n = 1 + len(re.findall(r"[A-Za-z]+|\d", m.group(1)))
        if n in BEAT_UNITS:
            counts.append(MetreStated(n, BEAT_UNITS[n], m.start(), m.group(0)))
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
    (re.compile(rf"(\d+(?:\.\d+)?|{_CN_NUM})\s*分钟(半)?(?!\s*(?:\d+|{_CN_NUM})\s*拍)"), "zh_min"),
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


# ---------------------------------------------------------------------------------------
# Exclusions and exclusivity

_INSTRUMENTAL = Vocabulary([lexicon.INSTRUMENTAL_WORDS])
_A_CAPPELLA = Vocabulary([lexicon.A_CAPPELLA_WORDS])
_NO_OTHERS = Vocabulary([lexicon.NO_OTHERS])
_ABSENCES = Vocabulary([words for words, _ in lexicon.ABSENCE_WORDS])
# "an instrumental break" is one section, not an instrumental piece
_SECTION_AFTER = re.compile(r"[\s\-]+(?:break|section|bridge|interlude|part|passage|intro|outro|solo|breakdown|"
                            r"hook|segment|fill|moment|passages|sections|breaks|parts|backing|accompaniment|bed)s?\b",
                            re.I)


_ARTICLES = r"(?:\s+(?:a|an|the|one|single|lone|solitary|some)(?![A-Za-z]))*"
_ONLY_BEFORE = re.compile(rf"(?:{_alternation(lexicon.ONLY_BEFORE)}){_ARTICLES}[\s\-]*(?:一把|一台|一支|一架)?$", re.I)
_NOT_ONLY = re.compile(r"(?<![A-Za-z])(?:the|not|if|an?)\s+$", re.I)  # before "only": "the only piano", "not only"
_ONLY_AFTER = re.compile(rf"[\s\-]*(?:{_alternation(lexicon.ONLY_AFTER)})", re.I)
_LIST_GLUE = re.compile(r"\s*(?:,|、|&|/|\+|and|or|plus|with|和|与|跟|及|以及|或|と|や)?\s*"
                        r"(?:(?:a|an|the|some|two|three)\s+)?", re.I)
# A solo played inside a song: "with a guitar solo", "featuring a bass solo", "中间有一段吉他独奏",
# "a drum solo in the middle".
_WITH_BEFORE = re.compile(r"(?:(?<![A-Za-z])(?:with|featuring|feat\.?|ft\.?|including|includes|include|plus|has|have|"
                          r"followed\s+by|then|into|and|before|after)\s+(?:(?:a|an|the|some|his|her|their)\s+)?"
                          r"(?:[A-Za-z\-]+\s+)?|(?:有|加入|穿插|带有|带|一段|段|的))$", re.I)
_SECTION_SOLO = re.compile(r"[\s\-]*(?:solo|独奏|ソロ)s?\s*(?:(?:(?:in|on|at|during|before|after|towards|over)\s+the\s+"
                           r"(?:middle|bridge|chorus|verse|outro|intro|end|second|final|last|break|drop)|halfway|"
                           r"midway|later|section|break|spot)\b|部分|段落|あり|入り|付き|パート|が入る)", re.I)


@dataclass(frozen=True)
class Stated:
    """A phrase that states something about the whole piece, with its offset."""

    start: int
    text: str


def _first(vocabulary: Vocabulary, text: str, keep=lambda h: True) -> Stated | None:
    for h in vocabulary.find(text):
        if not h.negated and keep(h):
            return Stated(h.start, text[h.start:h.end])
    return None


def find_instrumental(text: str) -> Stated | None:
    """'instrumental', 'backing track', 纯音乐, 无人声, インスト, 歌なし: a piece with no voice (but
    not 'an instrumental break'). Negated voice words ('no vocals') are the planner's other source."""
    return _first(_INSTRUMENTAL, text, lambda h: not _SECTION_AFTER.match(text, h.end))


def find_a_cappella(text: str) -> Stated | None:
    """'a cappella', 'acapella', 清唱, アカペラ: voices only."""
    return _first(_A_CAPPELLA, text)


def find_absences(text: str) -> list[tuple[str, Stated]]:
    """Roles ruled out without naming an instrument: 'drumless', 'a beatless track' →
    [('drums', ...)]; the entry is a plan.excluded word."""
    return [(lexicon.ABSENCE_WORDS[h.entry][1], Stated(h.start, text[h.start:h.end])) for h in _ABSENCES.find(text)]


_SECTION_BEFORE = re.compile(r"(?:前奏|开头|一开始|开始|主歌|副歌|间奏|尾奏|结尾|イントロ|サビ|Aメロ)"
                             r"(?:部分|段落?|里|中|时|处|は)?[\s,，]*(?:无|没有|没|不要|不用|去掉|不带)?\s*$")


def said_of_a_section(text: str, start: int, end: int) -> bool:
    """Whether a negated instrument word at text[start:end] is ruled out in one section only:
    'no drums in the intro', 'without bass until the drop', '前奏不要鼓', 'イントロはドラムなし'."""
    after = text[end:end + 40]
    if re.match(r"\s*(?:(?:until|till|before|in|during|for|on|at)\s+(?:the\s+)?(?:first\s+\w+|intro|verses?|"
                r"chorus(?:es)?|bridge|breakdown|outro|opening|beginning|start|drop|break|end|second|last|final)|"
                r"at\s+first|to\s+begin\s+with)\b", after, re.I):
        return True
    before = text[max(0, start - 16):start]
    return bool(_SECTION_BEFORE.search(before))


def find_exclusive(text: str, spans: list[tuple[int, int]]) -> Stated | None:
    """What makes the named instruments the only ones, given the spans of the instrument
    words the prompt names (not negated): a marker beside a list of them ('only piano and
    cello', 'guitar only', 'solo piano', 'nothing but a lone violin', 'a drum solo', 只有吉他,
    纯钢琴, 古筝独奏, ピアノのみ, ギターだけ), or a phrase anywhere ('no other instruments',
    'unaccompanied', 没有其他乐器, 无伴奏). A solo inside a song is not ('a rock song with a
    guitar solo', 'a drum solo in the middle'), nor is 'not only piano'."""
    if spans:
        anywhere = _first(_NO_OTHERS, text)
        if anywhere:
            return anywhere
    lists: list[list[int]] = []  # [start, end] of runs of instrument words joined by "and", ",", 和 …
    for start, end in sorted(spans):
        if lists and _LIST_GLUE.fullmatch(text, lists[-1][1], start):
            lists[-1][1] = end
        else:
            lists.append([start, end])
    for start, end in lists:
        clause = clause_before(text, start)
        before = _ONLY_BEFORE.search(clause)
        if before and not (before.group(0)[:4].lower() == "only" and _NOT_ONLY.search(clause[:before.start()])):
            return Stated(start - len(clause) + before.start(), clause[before.start():] + text[start:end])
        after = _ONLY_AFTER.match(text, end)
        solo_in_a_song = _SECTION_SOLO.match(text, end) or _WITH_BEFORE.search(clause)
        if after and not (re.search(r"solo|独奏|ソロ", after.group(0), re.I) and solo_in_a_song):
            return Stated(start, text[start:after.end()])
    return None
