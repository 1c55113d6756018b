"""Rock: driving eighths, power chords on distorted guitar, root-eighths bass, crash on the one."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="rock",
    palette={"drums": "drum kit", "bass": "bass guitar", "harmony": "distorted guitar", "melody": "electric guitar",
             "pad": "organ"},
    drums=Drums(
        groove={
            "kick": {"4/4": "X.....x.X.x.....", "3/4": "X.....x.x...", "6/8": "X.....X.x..."},
            "snare": {"4/4": "....X.......X...", "3/4": "....X...X...", "6/8": "......X....."},
            "hat": {"4/4": "X.x.X.x.X.x.X.x.", "3/4": "X.x.X.x.X.x.", "6/8": "X.x.x.X.x.x."},
        },
        pulse={
            "kick": {"4/4": "X.......X.......", "3/4": "X...........", "6/8": "X.....X....."},
            "hat": {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."},
        },
        lift={"ride": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.....x....."}},
        fill="toms",
    ),
    bass=Bass({"4/4": "R.R.R.R.R.R.R.R.", "3/4": "R.R.R.R.R.R.", "6/8": "R.R.R.R.R.R."}, gate=0.8, register=40),
    comping=Comping("power", {"4/4": "X.x.x.x.X.x.x.x.", "3/4": "X.x.x.x.x.x.", "6/8": "X.x.x.X.x.x."},
                    voicing="power", register=52, gate=0.8,
                    quiet_patterns={"4/4": "X.......X.......", "3/4": "X...x...x...", "6/8": "X.....X....."}),
    comping2=Comping("strum", {"4/4": "D.......D...D.U.", "3/4": "D...D...D.U.", "6/8": "D.....D.U..."}, register=60),
    melody=Melody(density=0.45, sixteenths=0.1, syncopation=0.2, leap=0.2, gate=0.9),
    pad="sustain",
    scales={"major": "major", "minor": "minor"},
    levels={"harmony": -2.0, "pad": -8.0},
    velocity=104,
)
