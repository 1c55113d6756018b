"""Reggae: the one-drop (kick and rim together on three), off-beat skank chords, an organ
bubble, a deep round bass, and a harmonica line."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="reggae",
    palette={"drums": "drum kit", "bass": "bass guitar", "harmony": "electric guitar", "melody": "harmonica",
             "pad": "organ"},
    drums=Drums(
        groove={
            "kick": {"4/4": "........X.......", "3/4": "........X...", "6/8": "......X....."},
            "rim": {"4/4": "........X.......", "3/4": "........X...", "6/8": "......X....."},
            "hat": {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.xx.xx.xx.x"},
        },
        pulse={
            "rim": {"4/4": "........x.......", "3/4": "........x...", "6/8": "......x....."},
            "hat": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.x.x.x.x.x."},
        },
        fill="snare",
        crash="",
    ),
    bass=Bass({"4/4": "R.....R.5.....3.", "3/4": "R.....R.5...", "6/8": "R....R5....."}, gate=0.9, register=36),
    comping=Comping("chord", {"4/4": "..x...x...x...x.", "3/4": "..x...x...x.", "6/8": "...x.....x.."},
                    voicing="close", register=64, gate=0.3),
    comping2=Comping("chord", {"4/4": "..xx..xx..xx..xx", "3/4": "..xx..xx..xx", "6/8": "..x..x..x..x"},
                     voicing="close", register=60, gate=0.3),
    melody=Melody(density=0.4, sixteenths=0.05, syncopation=0.3, leap=0.15, gate=0.8, rest=0.3),
    pad="sustain",
    scales={"major": "major", "minor": "minor"},
    swing=0.15,
    swing_unit=0.5,
    levels={"bass": -2.0, "harmony": -2.0, "pad": -4.0},
    velocity=94,
)
