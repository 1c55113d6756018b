"""Jazz: swung ride with the hi-hat on two and four, a walking bass, Charleston comping in
shell voicings on piano, and a saxophone line."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="jazz",
    palette={"drums": "drum kit", "bass": "acoustic bass", "harmony": "piano", "melody": "saxophone"},
    drums=Drums(
        groove={
            "ride": {"4/4": "X...x.x.X...x.x.", "3/4": "X...x.x.x...", "6/8": "X.x.x.X.x.x."},
            "pedal_hat": {"4/4": "....x.......x...", "3/4": "....x...x...", "6/8": "......x....."},
            "kick": {"4/4": "o...o...o...o...", "3/4": "o...o...o...", "6/8": "o.....o....."},
            "snare": {"4/4": "..........o...o.", "3/4": "......o...o.", "6/8": "....o.....o."},
        },
        pulse={
            "ride": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.....x....."},
            "pedal_hat": {"4/4": "....x.......x...", "3/4": "....x...x...", "6/8": "......x....."},
        },
        fill="snare",
        crash="",
    ),
    bass=Bass({"4/4": "R...W...W...A...", "3/4": "R...W...A...", "6/8": "R.....A....."}, gate=0.9, register=38),
    comping=Comping("chord", {"4/4": "x.....x.........", "3/4": "x.....x.....", "6/8": "x.....x....."},
                    voicing="shell", register=60, gate=0.6),
    melody=Melody(density=0.6, sixteenths=0.05, syncopation=0.35, leap=0.2, gate=0.85),
    pad="none",
    scales={"major": "major", "minor": "minor"},
    swing=0.6,
    swing_unit=0.5,
    levels={"drums": -2.0, "bass": 0.0, "harmony": -3.0, "melody": -1.0},
    velocity=88,
)
