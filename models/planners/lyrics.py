"""Lyrics with section tags → an ordered list of sections carrying their lines.

Two layouts are read:

    [verse]                                 SongGeneration's one-line form: sections split by
    Walking down the empty street           " ; ", lines by "." (or 。), size suffixes on
    The lights are fading one by one        instrumental tags:
    [chorus]                                "[intro-short] ; [verse] 夜色渐浓.灯火阑珊 ;
    Hold on ...                              [chorus] 月光洒落 ; [outro-medium]"

Tags are matched case-insensitively in English and Chinese ([主歌], [副歌], [桥段] …);
an unknown tag containing a known word counts as that word ("[Guitar Solo]" → solo),
otherwise as a verse. Lyrics without any tag become one verse per stanza.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TAG = re.compile(r"\[([^\[\]\n]{1,40})\]")
_SIZE = re.compile(r"[\s\-_]*(short|medium|long)$", re.I)

# Normalised tag word → plan section name (models/plan.SECTION_NAMES). Longer words are
# tried first when a tag only contains one ("final chorus", "pre-chorus 2").
TAG_NAMES = {
    "verse": "verse", "v": "verse", "主歌": "verse", "段落": "verse", "rap": "verse", "spoken": "verse",
    "chorus": "chorus", "hook": "chorus", "refrain": "chorus", "drop": "chorus", "副歌": "chorus",
    "高潮": "chorus",
    "prechorus": "pre_chorus", "pre": "pre_chorus", "build": "pre_chorus", "buildup": "pre_chorus",
    "导歌": "pre_chorus", "预副歌": "pre_chorus",
    "postchorus": "post_chorus",
    "bridge": "bridge", "桥段": "bridge", "过渡": "bridge", "桥": "bridge",
    "intro": "intro", "introduction": "intro", "前奏": "intro", "引子": "intro",
    "outro": "outro", "ending": "outro", "end": "outro", "coda": "outro", "fadeout": "outro", "尾奏": "outro",
    "结尾": "outro", "尾声": "outro",
    "inst": "instrumental", "instrumental": "instrumental", "interlude": "instrumental", "间奏": "instrumental",
    "solo": "solo", "独奏": "solo",
    "break": "break", "breakdown": "break", "silence": "break", "停顿": "break",
}
_TAG_WORDS = sorted(TAG_NAMES, key=len, reverse=True)
_LINE_SPLIT = re.compile(r"\s*(?:[.。!?！？]+|\n)\s*")


@dataclass
class LyricSection:
    name: str  # a plan section name
    lines: list[str]  # the sung lines, in order ([] for instrumental sections)
    size: str | None = None  # "short" / "medium" / "long" from tags like [intro-short]


def section_name(tag: str) -> tuple[str, str | None]:
    """'[Verse 2]' → ('verse', None), 'intro-short' → ('intro', 'short'), '副歌' → ('chorus', None)."""
    tag = tag.strip().lower()
    size_match = _SIZE.search(tag)
    size = size_match.group(1) if size_match else None
    if size_match:
        tag = tag[:size_match.start()]
    word = re.sub(r"[\s\-_\d:：#.]+", "", tag)
    if word in TAG_NAMES:
        return TAG_NAMES[word], size
    for known in _TAG_WORDS:
        if len(known) > 1 and known in word:
            return TAG_NAMES[known], size
    return "verse", size


def _lines(body: str) -> list[str]:
    body = body.strip().strip(";；").strip()
    if not body:
        return []
    parts = body.split("\n") if "\n" in body else _LINE_SPLIT.split(body)
    lines = [p.strip().strip(";；,，").strip() for p in parts]
    return [line for line in lines if line and re.search(r"\w", line)]


def parse_lyrics(text: str | None) -> list[LyricSection]:
    """The sections of tagged lyrics in order; [] for empty lyrics."""
    if not text or not text.strip():
        return []
    tags = list(_TAG.finditer(text))
    if not tags:
        stanzas = [s for s in re.split(r"\n\s*\n", text) if s.strip()]
        return [LyricSection("verse", _lines(s)) for s in stanzas]
    sections = []
    before = _lines(text[:tags[0].start()])
    if before:  # lines before the first tag: an untagged opening verse
        sections.append(LyricSection("verse", before))
    for i, tag in enumerate(tags):
        end = tags[i + 1].start() if i + 1 < len(tags) else len(text)
        name, size = section_name(tag.group(1))
        sections.append(LyricSection(name, _lines(text[tag.end():end]), size))
    return sections
