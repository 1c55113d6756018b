"""Chinese traditional (民乐 / 古风): pentatonic melodies on dizi with grace-note slides over
flowing guzheng arpeggios, guqin roots, soft strings, and light percussion: a woodblock (板)
marking the beats, a low drum (堂鼓) on the downbeats and a small cymbal at section starts."""

from .base import Bass, Comping, Drums, Melody, Style

STYLE = Style(
    name="chinese_traditional",
    palette={"drums": "chinese percussion", "bass": "guqin", "harmony": "guzheng", "melody": "dizi", "pad": "strings"},
    drums=Drums(
        groove={
            "woodblock_high": {"4/4": "X...x...x...x...", "3/4": "X...x...x...", "6/8": "X.x.x.X.x.x."},
            "kick2": {"4/4": "X.......x.....x.", "3/4": "X.......x...", "6/8": "X.....x....."},
            "woodblock_low": {"4/4": "......x.......x.", "3/4": "......x.....", "6/8": "....x.....x."},
        },
        pulse={
            "woodblock_high": {"4/4": "x...x...x...x...", "3/4": "x...x...x...", "6/8": "x.x.x.x.x.x."},
        },
        lift={"china": {"4/4": "x...............", "3/4": "x...........", "6/8": "x..........."}},
        fill="woodblock",
        crash="china",
    ),
    bass=Bass({"4/4": "R.......5.......", "3/4": "R.......5...", "6/8": "R.....5....."}, gate=1.0, register=43),
    comping=Comping("updown", {"4/4": "x.x.x.x.x.x.x.x.", "3/4": "x.x.x.x.x.x.", "6/8": "x.x.x.x.x.x."},
                    voicing="spread", register=62, gate=1.0),
    comping2=Comping("arp", {"4/4": "xxxxxxxxxxxxxxxx", "3/4": "xxxxxxxxxxxx", "6/8": "x.x.x.x.x.x."},
                     register=67, gate=0.5),
    melody=Melody(density=0.4, sixteenths=0.15, syncopation=0.1, leap=0.2, gate=0.95, ornament="grace"),
    pad="swell",
    scales={"major": "major_pentatonic", "minor": "yu_pentatonic"},
    levels={"drums": -5.0, "harmony": -1.0, "pad": -8.0, "melody": 0.0},
    velocity=88,
)
