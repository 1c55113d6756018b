"""Lo-fi hip hop: lazy swung drums with ghost notes, seventh chords on a mellow electric piano,
a soft walking-ish bass and a sparse vibraphone line."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="lofi",
    palette={"drums": "drum kit", "bass": "bass guitar", "harmony": "electric piano", "melody": "vibraphone",
             "pad": "synth pad"},
    drums=Drums(
        groove={
            "kick": {"4/4": "X......x.x......", "3/4": "X......x.x..", "6/8": "X....x.x...."},
            "rim": {"4/4": "....x.......x...", "3/4": "....x...x...", "6/8": "......x....."},
            "hat": {"4/4": "x.xox.xox.xox.xo", "3/4": "x.xox.xox.xo", "6/8": "x.xox.x.xox."},
        },
        pulse={
            "kick": {"4/4": "x.........x.....", "3/4": "x...........", "6/8": "x..........."},
            "hat": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.x.x.x.x.x."},
        },
        fill="none",
        crash="",
    ),
    bass=Bass({"4/4": "R.......5.....A.", "3/4": "R.......5...", "6/8": "R.....5....."}, gate=0.95, register=38),
    comping=Comping("chord", {"4/4": "x.........x.....", "3/4": "x.......x...", "6/8": "x.........x."},
                    voicing="open", register=60, gate=1.0),
    melody=Melody(density=0.3, sixteenths=0.15, syncopation=0.4, leap=0.15, gate=0.8, rest=0.45),
    pad="swell",
    scales={"major": "major", "minor": "minor"},
    swing=0.5,
    swing_unit=0.25,
    levels={"drums": 0.5, "harmony": -2.0, "pad": -8.0, "melody": -3.0},
    velocity=84,
)
