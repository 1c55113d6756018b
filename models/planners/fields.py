"""What a planner can read in a request's explicit fields: one function per rule.

The rules planner reads a request's `key`, `time_signature` and `instruments` through
these functions (and the llm planner starts from a rules plan, so it obeys them too);
`TrackRequest.validate` calls the same functions, so `songfarm validate` refuses exactly
the values planning would refuse, with the same words. Each raises ValueError with the
reason, worded to follow "field=value: ".
"""

from __future__ import annotations

import re

from ..instruments import INSTRUMENTS
from . import lexicon, parse

# The instrument words of the lexicon, compiled once; the planner also finds them in prompts.
INSTRUMENT_VOCABULARY = parse.Vocabulary([words for words, _ in lexicon.INSTRUMENT_WORDS], plural=True)

_TIME_SIGNATURE = re.compile(r"\s*({})/(2|4|8)\s*".format("|".join(str(b) for b in parse.BEAT_UNITS)))


def read_key(value: str) -> tuple[int, str]:
    """A key override → (tonic pitch class, mode): 'F# minor', 'Eb', 'Am', 'a小调'."""
    parsed = parse.parse_key(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError("not a key (use e.g. 'F# minor', 'Eb', 'Am', 'a小调')")
    return parsed


def read_time_signature(value: str) -> tuple[int, int]:
    """A time signature override → (beats per bar, beat unit): '3/4' → (3, 4)."""
    m = _TIME_SIGNATURE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError("must look like 3/4, 4/4 or 6/8 (beats: "
                         f"{', '.join(str(b) for b in parse.BEAT_UNITS)}; unit: 2, 4 or 8)")
    return int(m.group(1)), int(m.group(2))


def read_instrument(word: str) -> tuple[str, ...]:
    """One word of an instruments override → the lexicon names it stands for: canonical
    instruments ('piano') or a role the style fills ('@drums'). English or Chinese."""
    hits = INSTRUMENT_VOCABULARY.find(parse.normalise(word)) if isinstance(word, str) else []
    names = lexicon.INSTRUMENT_WORDS[hits[0].entry][1] if hits else ()
    if not names:
        raise ValueError(f"unknown instrument {word!r} (known: {', '.join(sorted(INSTRUMENTS))})")
    return names
