"""Funk: syncopated sixteenth kick, ghosted snare, slap bass jumping octaves, chicken-scratch
guitar stabs, brass hits and a punchy trumpet line."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="funk",
    palette={"drums": "drum kit", "bass": "slap bass", "harmony": "electric guitar", "melody": "trumpet",
             "pad": "organ"},
    drums=Drums(
        groove={
            "kick": {"4/4": "X.....x...X..x..", "3/4": "X.....x..x..", "6/8": "X....x.x...."},
            "snare": {"4/4": "....X..o.o..X..o", "3/4": "....X..o.o..", "6/8": "...o..X..o.."},
            "hat": {"4/4": "XxxxXxxxXxxxXxxx", "3/4": "XxxxXxxxXxxx", "6/8": "XxxxxxXxxxxx"},
        },
        pulse={
            "kick": {"4/4": "X.........X.....", "3/4": "X...........", "6/8": "X..........."},
            "hat": {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."},
        },
        lift={"cowbell": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.....x....."}},
        fill="snare",
    ),
    bass=Bass({"4/4": "R..8..R.R..8.R5.", "3/4": "R..8..R.R.5.", "6/8": "R..8.RR..5.."}, gate=0.5, register=38),
    comping=Comping("chord", {"4/4": "..x..x.x..x..x.x", "3/4": "..x..x.x..x.", "6/8": "..x.x...x.x."},
                    voicing="close", register=67, gate=0.3,
                    quiet_patterns={"4/4": "....x.......x...", "3/4": "....x...x...", "6/8": "......x....."}),
    comping2=Comping("chord", {"4/4": "X.......X..x....", "3/4": "X......x....", "6/8": "X.....X....."},
                     voicing="close", register=65, gate=0.4),
    melody=Melody(density=0.5, sixteenths=0.25, syncopation=0.45, leap=0.2, gate=0.6),
    pad="sustain",
    scales={"major": "major", "minor": "minor"},
    levels={"harmony": -5.0, "pad": -8.0},
    velocity=100,
)
