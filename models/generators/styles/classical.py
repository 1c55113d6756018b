"""Classical chamber: no drums; the pulse is an Alberti-bass piano, cello roots on the beat,
strings sustaining the harmony, and a violin melody; minor keys use the harmonic minor."""

from .base import Bass, Comping, Melody, Style

STYLE = Style(
    name="classical",
    palette={"bass": "cello", "harmony": "piano", "melody": "violin", "pad": "strings"},
    bass=Bass({"4/4": "R.......5.......", "3/4": "R...5...5...", "6/8": "R.....5....."}, gate=0.95, register=43),
    comping=Comping("alberti", {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."},
                    voicing="close", register=60, gate=0.95,
                    quiet_patterns={"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.x.x.x.x.x."}),
    comping2=Comping("arp", {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."}, register=67),
    melody=Melody(density=0.45, sixteenths=0.1, syncopation=0.05, leap=0.2, gate=0.95),
    pad="swell",
    scales={"major": "major", "minor": "harmonic_minor"},
    levels={"harmony": 0.0, "bass": -4.0, "pad": -6.0, "melody": -1.0},
    velocity=84,
)
