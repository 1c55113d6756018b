"""Plan → the text a text-to-audio model is conditioned on.

Text-to-music models are trained on captions like "lo-fi hip hop, relaxed, electric
piano, drum kit, 92 BPM, A minor". The plan already holds every decision in explicit
fields, so the caption is built from them rather than from the user's free text (which
may be Chinese, or long, or contradict itself — the planner has resolved that).
"""

from __future__ import annotations

from ..plan import Section, SongPlan


def energy_words(energy: float) -> str:
    """0..1 section energy → how a caption says it."""
    if energy < 0.35:
        return "sparse, quiet"
    if energy < 0.7:
        return "steady groove"
    return "full band, energetic"


def caption(plan: SongPlan, with_tempo_and_key: bool = True) -> str:
    """'lo-fi hip hop, relaxed, nostalgic, electric piano, drum kit, 92 BPM, A minor, 4/4'.

    `with_tempo_and_key=False` for models that take tempo, key and metre as their own
    arguments (ACE-Step), so the caption does not repeat them.
    """
    parts = [plan.genre] + list(plan.moods) + list(plan.instruments)
    if with_tempo_and_key:
        parts += [f"{plan.bpm:g} BPM", plan.key]
        if plan.time_signature != "4/4":
            parts.append(f"{plan.time_signature} time")
    return ", ".join(p.strip() for p in parts if p and p.strip())


def section_caption(plan: SongPlan, sections: list[Section], with_tempo_and_key: bool = True) -> str:
    """The caption for one segment of a long song: the song's caption, then what the
    segment's sections are and how much energy they carry (the loudest one)."""
    names = []
    for s in sections:
        name = s.name.replace("_", " ")
        if name not in names:
            names.append(name)
    energy = max(s.energy for s in sections)
    return f"{caption(plan, with_tempo_and_key)}, {' and '.join(names)}, {energy_words(energy)}"


def lyrics_text(sections: list[Section]) -> str:
    """Section-tagged lyrics ('[verse]\\n...') for models that sing; '[instrumental]' when
    none of the sections has lines."""
    blocks = [f"[{s.name.replace('_', ' ')}]\n{s.lyrics.strip()}" for s in sections if s.lyrics and s.lyrics.strip()]
    return "\n\n".join(blocks) if blocks else "[instrumental]"
