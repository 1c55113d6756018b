"""Ambient: long swelling synth pads, a harp arpeggio that softly marks the eighths, a held
synth bass, a barely-there shaker and a few celesta notes."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="ambient",
    palette={"drums": "percussion", "bass": "synth bass", "harmony": "harp", "melody": "celesta", "pad": "synth pad"},
    drums=Drums(
        groove={
            "shaker": {"4/4": "x.o.x.o.x.o.x.o.", "3/4": "x.o.x.o.x.o.", "6/8": "x.ox.ox.ox.o"},
            "kick": {"4/4": "o.......o.......", "3/4": "o...........", "6/8": "o.....o....."},
        },
        pulse={"shaker": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.x.x.x.x.x."}},
        fill="none",
        crash="",
    ),
    bass=Bass({"4/4": "R...............", "3/4": "R...........", "6/8": "R..........."}, gate=1.0, register=36),
    comping=Comping("arp", {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."},
                    voicing="spread", register=64, gate=1.0),
    melody=Melody(density=0.25, sixteenths=0.0, syncopation=0.1, leap=0.25, gate=1.0, rest=0.5),
    pad="swell",
    scales={"major": "major", "minor": "minor"},
    levels={"drums": -12.0, "bass": -3.0, "harmony": -2.0, "pad": -1.0, "melody": -4.0},
    velocity=80,
)
