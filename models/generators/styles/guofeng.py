"""国风 pop: a pop backbeat and bass guitar under pentatonic melodies on erhu, guzheng
sixteenth arpeggios, pipa tremolo for a second harmony, and strings."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="guofeng",
    palette={"drums": "drum kit", "bass": "bass guitar", "harmony": "guzheng", "melody": "erhu", "pad": "strings"},
    drums=Drums(
        groove={
            "kick": {"4/4": "X.......X..x....", "3/4": "X.......x...", "6/8": "X.....x....."},
            "snare": {"4/4": "....X.......X...", "3/4": "....X...X...", "6/8": "......X....."},
            "hat": {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."},
        },
        pulse={
            "woodblock_high": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.x.x.x.x.x."},
            "kick": {"4/4": "x.......x.......", "3/4": "x...........", "6/8": "x.....x....."},
        },
        lift={"woodblock_high": {"4/4": "..x...x...x...x.", "3/4": "..x...x...x.", "6/8": ".x..x..x..x."}},
        fill="toms",
    ),
    bass=Bass({"4/4": "R.......R...5...", "3/4": "R.......5...", "6/8": "R.....5....."}, gate=0.9, register=38),
    comping=Comping("arp", {"4/4": "xxxxxxxxxxxxxxxx", "3/4": "xxxxxxxxxxxx", "6/8": "x.x.x.x.x.x."},
                    voicing="spread", register=64, gate=0.8,
                    quiet_patterns={"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."}),
    comping2=Comping("chord", {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.....x....."},
                     voicing="close", register=62, gate=0.5),
    melody=Melody(density=0.5, sixteenths=0.15, syncopation=0.2, leap=0.15, gate=0.95, ornament="grace"),
    pad="sustain",
    scales={"major": "major_pentatonic", "minor": "yu_pentatonic"},
    levels={"harmony": -3.0, "pad": -7.0},
    velocity=94,
)
