"""Hip hop: boom-bap kick and snare with lazily swung sixteenth hats, an 808 bass that follows
the kick, a sparse minor electric-piano loop and a breathy flute hook."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="hiphop",
    palette={"drums": "electronic drums", "bass": "synth bass", "harmony": "electric piano", "melody": "flute",
             "pad": "synth pad"},
    drums=Drums(
        groove={
            "kick2": {"4/4": "X......x..X.....", "3/4": "X......x..x.", "6/8": "X....x.x...."},
            "snare": {"4/4": "....X.......X...", "3/4": "....X.......", "6/8": "......X....."},
            "hat": {"4/4": "x.xxx.x.x.xxx.x.", "3/4": "x.xxx.x.x.x.", "6/8": "x.x.xxx.x.x."},
        },
        pulse={
            "kick2": {"4/4": "X.........X.....", "3/4": "X...........", "6/8": "X..........."},
            "hat": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.x.x.x.x.x."},
        },
        lift={"open_hat": {"4/4": "..............x.", "3/4": "..........x.", "6/8": "..........x."}},
        fill="hats",
        crash="",
    ),
    bass=Bass({"4/4": "R......R..R.....", "3/4": "R......R..R.", "6/8": "R....R.R...."}, gate=1.0, register=36),
    comping=Comping("chord", {"4/4": "x.......x..x....", "3/4": "x.......x...", "6/8": "x.....x....."},
                    voicing="open", register=62, gate=0.95),
    melody=Melody(density=0.35, sixteenths=0.2, syncopation=0.35, leap=0.1, gate=0.8, rest=0.4),
    pad="swell",
    scales={"major": "major", "minor": "minor"},
    swing=0.35,
    swing_unit=0.25,
    levels={"drums": 1.5, "bass": 0.0, "pad": -7.0, "melody": -2.0},
    velocity=98,
)
