"""Latin / bossa nova: the bossa clave on the rim, a shaker in sixteenths, the dotted
root-fifth bass, syncopated nylon-guitar comping and a flute melody."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="latin",
    palette={"drums": "drum kit", "bass": "acoustic bass", "harmony": "nylon guitar", "melody": "flute",
             "pad": "strings"},
    drums=Drums(
        groove={
            "kick": {"4/4": "X.....x.X.....x.", "3/4": "X.....x.x...", "6/8": "X....xX....x"},
            "rim": {"4/4": "x..x..x...x..x..", "3/4": "x..x..x...x.", "6/8": "x..x..x.x..."},
            "shaker": {"4/4": "xoxoxoxoxoxoxoxo", "3/4": "xoxoxoxoxoxo", "6/8": "xoxoxoxoxoxo"},
        },
        pulse={
            "shaker": {"4/4": "x.o.x.o.x.o.x.o.", "3/4": "x.o.x.o.x.o.", "6/8": "x.ox.ox.ox.o"},
            "kick": {"4/4": "x.......x.......", "3/4": "x...........", "6/8": "x.....x....."},
        },
        lift={"conga_high": {"4/4": "......xx......xx", "3/4": "......xx....", "6/8": ".....x.....x"}},
        fill="none",
        crash="",
    ),
    percussion={
        "conga_low": {"4/4": "x.......x.......", "3/4": "x...........", "6/8": "x.....x....."},
        "conga_high": {"4/4": "......xx......xx", "3/4": "......xx..x.", "6/8": "...x.x...x.x"},
        "conga_mute": {"4/4": "..x.......x.....", "3/4": "..x.......x.", "6/8": ".x.....x...."},
    },
    bass=Bass({"4/4": "R.....5.R.....5.", "3/4": "R.....5.5...", "6/8": "R....5R....5"}, gate=0.85, register=40),
    comping=Comping("chord", {"4/4": "X..x..x.X..x..x.", "3/4": "X..x..x...x.", "6/8": "X..x.xX..x.x"},
                    voicing="open", register=60, gate=0.55),
    melody=Melody(density=0.45, sixteenths=0.1, syncopation=0.4, leap=0.15, gate=0.9),
    pad="swell",
    scales={"major": "major", "minor": "minor"},
    levels={"drums": -3.0, "pad": -8.0},
    velocity=88,
)
