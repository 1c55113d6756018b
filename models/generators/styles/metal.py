"""Metal: double-kick sixteenths, palm-muted power-chord chugs, harmonic-minor leads, choir."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="metal",
    palette={"drums": "drum kit", "bass": "bass guitar", "harmony": "distorted guitar", "melody": "distorted guitar",
             "pad": "choir"},
    drums=Drums(
        groove={
            "kick": {"4/4": "XxXxXxXxXxXxXxXx", "3/4": "XxXxXxXxXxXx", "6/8": "XxXxXxXxXxXx"},
            "snare": {"4/4": "....X.......X...", "3/4": "....X...X...", "6/8": "......X....."},
            "china": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.....x....."},
        },
        pulse={
            "kick": {"4/4": "X.x.X.x.X.x.X.x.", "3/4": "X.x.X.x.X.x.", "6/8": "X.x.x.X.x.x."},
            "ride": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.....x....."},
        },
        lift={"crash2": {"4/4": "x.......x.......", "3/4": "x...........", "6/8": "x.....x....."}},
        fill="snare",
        crash="crash",
    ),
    bass=Bass({"4/4": "RRRRRRRRRRRRRRRR", "3/4": "RRRRRRRRRRRR", "6/8": "RRRRRRRRRRRR"}, gate=0.7, register=38),
    comping=Comping("power", {"4/4": "XxxxXxxxXxxxXxxx", "3/4": "XxxxXxxxXxxx", "6/8": "XxxxxxXxxxxx"},
                    voicing="power", register=48, gate=0.55,
                    quiet_patterns={"4/4": "X.......X.......", "3/4": "X...X...X...", "6/8": "X.....X....."}),
    melody=Melody(density=0.6, sixteenths=0.3, syncopation=0.1, leap=0.25, gate=0.85),
    pad="swell",
    scales={"major": "major", "minor": "harmonic_minor"},
    levels={"drums": 1.0, "harmony": -1.0, "pad": -8.0},
    velocity=110,
)
