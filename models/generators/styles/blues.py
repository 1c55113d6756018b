"""Blues: a shuffle (fully swung eighths), boogie bass walking root-3-5-6, shuffled piano
chords, and harmonica licks with blue notes."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="blues",
    palette={"drums": "drum kit", "bass": "bass guitar", "harmony": "piano", "melody": "harmonica",
             "pad": "organ"},
    drums=Drums(
        groove={
            "kick": {"4/4": "X.......X.......", "3/4": "X.......x...", "6/8": "X.....X....."},
            "snare": {"4/4": "....X.......X...", "3/4": "....X...X...", "6/8": "......X....."},
            "hat": {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.xx.xx.xx.x"},
        },
        pulse={
            "kick": {"4/4": "x.......x.......", "3/4": "x...........", "6/8": "x.....x....."},
            "hat": {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."},
        },
        fill="snare",
        crash="",
    ),
    bass=Bass({"4/4": "R.3.5.6.8.6.5.3.", "3/4": "R.3.5.6.5.3.", "6/8": "R.35.6R.35.6"}, gate=0.8, register=38),
    comping=Comping("chord", {"4/4": "X.x.X.x.X.x.X.x.", "3/4": "X.x.x.x.x.x.", "6/8": "X.xX.xX.xX.x"},
                    voicing="close", register=62, gate=0.45,
                    quiet_patterns={"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.....x....."}),
    melody=Melody(density=0.45, sixteenths=0.1, syncopation=0.3, leap=0.25, gate=0.85, ornament="blue", rest=0.35),
    pad="sustain",
    scales={"major": "major_pentatonic", "minor": "blues"},
    swing=1.0,
    swing_unit=0.5,
    levels={"pad": -8.0, "harmony": -3.0},
    velocity=94,
)
