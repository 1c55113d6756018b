"""EDM: four-on-the-floor kick, claps, off-beat open hats and bass, supersaw stabs, big pad;
breakdowns drop the kick and keep time on a closed hat."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="edm",
    palette={"drums": "electronic drums", "bass": "synth bass", "harmony": "supersaw", "melody": "synth pluck",
             "pad": "synth pad"},
    drums=Drums(
        groove={
            "kick2": {"4/4": "X...X...X...X...", "3/4": "X...X...X...", "6/8": "X.....X....."},
            "clap": {"4/4": "....X.......X...", "3/4": "....X.......", "6/8": "......X....."},
            "open_hat": {"4/4": "..x...x...x...x.", "3/4": "..x...x...x.", "6/8": "..x..x..x..x"},
        },
        pulse={  # the breakdown: the kick drops out, a closed hat keeps the beat
            "hat": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.....x....."},
        },
        lift={"hat": {"4/4": "xxxxxxxxxxxxxxxx", "3/4": "xxxxxxxxxxxx", "6/8": "x.x.x.x.x.x."}},
        fill="snare",
    ),
    bass=Bass({"4/4": "r.R.r.R.r.R.r.R.", "3/4": "r.R.r.R.r.R.", "6/8": "r.R.R.r.R.R."}, gate=0.5, register=36),
    comping=Comping("chord", {"4/4": "X..x..x...x..x..", "3/4": "X..x..x...x.", "6/8": "X..x..X..x.."},
                    voicing="open", register=64, gate=0.45,
                    quiet_patterns={"4/4": "x...............", "3/4": "x...........", "6/8": "x..........."}),
    comping2=Comping("arp", {"4/4": "xxxxxxxxxxxxxxxx", "3/4": "xxxxxxxxxxxx", "6/8": "x.x.x.x.x.x."},
                     register=72, gate=0.5),
    melody=Melody(density=0.6, sixteenths=0.2, syncopation=0.35, leap=0.15, gate=0.6),
    pad="swell",
    scales={"major": "major", "minor": "minor"},
    levels={"drums": 1.5, "pad": -6.0},
    velocity=100,
)
