"""Cinematic / epic: big tom ostinatos, low strings pulsing in eighths, contrabass roots,
choir swells, and a french-horn theme."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="cinematic",
    palette={"drums": "percussion", "bass": "contrabass", "harmony": "strings", "melody": "french horn",
             "pad": "choir"},
    drums=Drums(
        groove={
            "kick2": {"4/4": "X..x..x.X..x..x.", "3/4": "X..x..x.x...", "6/8": "X..x..X..x.."},
            "tom_low": {"4/4": "....x.......x.x.", "3/4": "....x...x...", "6/8": "......x....."},
            "tom_floor": {"4/4": "X...............", "3/4": "X...........", "6/8": "X..........."},
        },
        pulse={
            "kick2": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.....x....."},
        },
        lift={"snare": {"4/4": "..x...x...x...x.", "3/4": "..x...x...x.", "6/8": "..x..x..x..x"}},
        fill="toms",
        crash="crash2",
    ),
    bass=Bass({"4/4": "R.......R.......", "3/4": "R...........", "6/8": "R.....R....."}, gate=1.0, register=36),
    comping=Comping("updown", {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."},
                    voicing="spread", register=52, gate=0.7),
    comping2=Comping("chord", {"4/4": "X.......x.......", "3/4": "X...........", "6/8": "X.....x....."},
                     voicing="open", register=60, gate=1.0),
    melody=Melody(density=0.3, sixteenths=0.0, syncopation=0.05, leap=0.3, gate=1.0, rest=0.1),
    pad="swell",
    scales={"major": "major", "minor": "minor"},
    levels={"drums": 0.0, "harmony": -2.0, "pad": -6.0, "melody": -1.0},
    velocity=100,
)
