"""Country: a train beat (eighth-note snare with two and four accented), boom-chick root-fifth
bass, strummed acoustic guitar, banjo rolls, fiddle lead and pedal-steel swells."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="country",
    palette={"drums": "drum kit", "bass": "bass guitar", "harmony": "acoustic guitar", "melody": "fiddle",
             "pad": "steel guitar"},
    drums=Drums(
        groove={
            "kick": {"4/4": "X.......X.......", "3/4": "X...........", "6/8": "X.....X....."},
            "snare": {"4/4": "o.o.X.o.o.o.X.o.", "3/4": "o.o.X.o.X.o.", "6/8": "o.oX.oo.oX.o"},
            "hat": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.....x....."},
        },
        pulse={
            "kick": {"4/4": "x.......x.......", "3/4": "x...........", "6/8": "x.....x....."},
            "snare": {"4/4": "....o.......o...", "3/4": "....o...o...", "6/8": "......o....."},
            "hat": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.x.x.x.x.x."},
        },
        fill="snare",
    ),
    bass=Bass({"4/4": "R.......5.......", "3/4": "R...5...5...", "6/8": "R.....5....."}, gate=0.7, register=40),
    comping=Comping("strum", {"4/4": "....D.U.....D.U.", "3/4": "....D...D...", "6/8": "...D.U...D.U"},
                    register=59, gate=0.6,
                    quiet_patterns={"4/4": "....D.......D...", "3/4": "....D...D...", "6/8": "...D.....D.."}),
    comping2=Comping("arp", {"4/4": "xxxxxxxxxxxxxxxx", "3/4": "xxxxxxxxxxxx", "6/8": "x.x.x.x.x.x."},
                     register=67, gate=0.6),
    melody=Melody(density=0.5, sixteenths=0.15, syncopation=0.15, leap=0.15, gate=0.9, ornament="grace"),
    pad="swell",
    scales={"major": "major", "minor": "minor"},
    levels={"pad": -7.0},
    velocity=94,
)
