"""Folk / acoustic: strummed acoustic guitar, gentle kick-and-rim with a shaker, root-fifth
acoustic bass, a singing violin line over accordion."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="folk",
    palette={"drums": "percussion", "bass": "acoustic bass", "harmony": "acoustic guitar", "melody": "violin",
             "pad": "accordion"},
    drums=Drums(
        groove={
            "kick": {"4/4": "X.......x.......", "3/4": "X...........", "6/8": "X.....x....."},
            "rim": {"4/4": "....x.......x...", "3/4": "....x...x...", "6/8": "......x....."},
            "shaker": {"4/4": "x.o.x.o.x.o.x.o.", "3/4": "x.o.x.o.x.o.", "6/8": "x.ox.ox.ox.o"},
        },
        pulse={
            "shaker": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.x.x.x.x.x."},
            "kick": {"4/4": "x...............", "3/4": "x...........", "6/8": "x..........."},
        },
        lift={"tambourine": {"4/4": "....x.......x...", "3/4": "....x...x...", "6/8": "......x....."}},
        fill="none",
        crash="",
    ),
    bass=Bass({"4/4": "R.......5.......", "3/4": "R.......5...", "6/8": "R.....5....."}, gate=0.9, register=40),
    comping=Comping("strum", {"4/4": "D...D.U...U.D.U.", "3/4": "D...D.U.D.U.", "6/8": "D...U.D...U."},
                    register=57, gate=0.95,
                    quiet_patterns={"4/4": "D.......D.......", "3/4": "D...D...D...", "6/8": "D.....D....."}),
    comping2=Comping("arp", {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."}, register=62),
    melody=Melody(density=0.45, sixteenths=0.05, syncopation=0.1, leap=0.15, gate=0.95),
    pad="swell",
    scales={"major": "major", "minor": "minor"},
    levels={"drums": -4.0, "pad": -8.0},
    velocity=88,
)
