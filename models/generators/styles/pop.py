"""Pop: backbeat drums, piano chords on every beat, eighth-note bass, a bright synth hook."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="pop",
    palette={"drums": "drum kit", "bass": "bass guitar", "harmony": "piano", "melody": "synth lead", "pad": "strings"},
    drums=Drums(
        groove={
            "kick": {"4/4": "X.......X.x.....", "3/4": "X.......x...", "6/8": "X.....x....."},
            "snare": {"4/4": "....X.......X...", "3/4": "....x...x...", "6/8": "......X....."},
            "hat": {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."},
        },
        pulse={
            "kick": {"4/4": "x.......x.......", "3/4": "x...........", "6/8": "x.....x....."},
            "hat": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.x.x.x.x.x."},
        },
        lift={"tambourine": {"4/4": "....x.......x...", "3/4": "....x...x...", "6/8": "......x....."}},
        fill="toms",
    ),
    bass=Bass({"4/4": "R.......R.R.5...", "3/4": "R.......5...", "6/8": "R.....5....."}, gate=0.85),
    comping=Comping("chord", {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.....x....."},
                    voicing="close", register=62, gate=0.85,
                    quiet_patterns={"4/4": "x.......x.......", "3/4": "x...x...x...", "6/8": "x.....x....."}),
    comping2=Comping("strum", {"4/4": "D...D.U...U.D.U.", "3/4": "D...D.U.D.U.", "6/8": "D...U.D...U."},
                     register=59, gate=0.9),
    melody=Melody(density=0.55, sixteenths=0.1, syncopation=0.25, leap=0.15, gate=0.85),
    pad="sustain",
    scales={"major": "major", "minor": "minor"},
    levels={"melody": -1.0},
)
