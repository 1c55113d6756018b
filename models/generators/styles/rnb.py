"""R&B / soul: a laid-back backbeat with sixteenth hats, lush spread chords held on electric
piano, a smooth syncopated bass, strings, and a melismatic voice line."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="rnb",
    palette={"drums": "drum kit", "bass": "bass guitar", "harmony": "electric piano", "melody": "voice",
             "pad": "strings"},
    drums=Drums(
        groove={
            "kick": {"4/4": "X.....x...x..x..", "3/4": "X.....x...x.", "6/8": "X....x.x...."},
            "snare": {"4/4": "....X.......X..o", "3/4": "....X.....o.", "6/8": "......X....o"},
            "hat": {"4/4": "xoxoxoxoxoxoxoxo", "3/4": "xoxoxoxoxoxo", "6/8": "x.xox.x.xox."},
        },
        pulse={
            "kick": {"4/4": "x.........x.....", "3/4": "x...........", "6/8": "x..........."},
            "hat": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.x.x.x.x.x."},
        },
        fill="snare",
        crash="",
    ),
    bass=Bass({"4/4": "R.....R.5...R.3.", "3/4": "R.....R.5...", "6/8": "R....R5....."}, gate=0.95, register=38),
    comping=Comping("chord", {"4/4": "x.......x.......", "3/4": "x...........", "6/8": "x.....x....."},
                    voicing="spread", register=60, gate=1.0),
    melody=Melody(density=0.45, sixteenths=0.3, syncopation=0.35, leap=0.15, gate=0.95),
    pad="swell",
    scales={"major": "major", "minor": "minor"},
    swing=0.2,
    swing_unit=0.25,
    levels={"pad": -6.0},
    velocity=90,
)
