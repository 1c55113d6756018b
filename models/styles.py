"""The composer styles: the names a plan's `style` field may take.

The planner maps free-text genres (in English and Chinese) onto one of these; the synth
generator has one style file per name (models/generators/styles/<name>.py) with its
groove, chord voicing, scales and instrument palette. Neural generators ignore `style`
and read `genre` instead.
"""

STYLES = {
    "pop": "verse/chorus pop: four-on-the-floor or backbeat, piano and synth, diatonic hooks",
    "rock": "rock band: driving eighths, power chords on distorted guitar, live drums",
    "metal": "metal: fast double-kick, palm-muted power chords, minor and phrygian colours",
    "edm": "electronic dance: four-on-the-floor kick, off-beat bass, supersaw pads, builds and drops",
    "hiphop": "hip hop / trap: boom-bap or trap hats, 808 bass, sparse minor loops",
    "lofi": "lo-fi hip hop: lazy swung drums, jazzy seventh chords on electric piano",
    "jazz": "jazz: swing ride, walking bass, extended chords on piano, ii-V-I language",
    "rnb": "R&B / soul: laid-back backbeat, lush extended chords, smooth bass",
    "funk": "funk: syncopated sixteenths, slap bass, clean chicken-scratch guitar, horns",
    "blues": "blues: shuffle, 12-bar dominant-seventh changes, blues scale licks",
    "folk": "folk / acoustic: strummed acoustic guitar, simple triads, gentle percussion",
    "country": "country: train beat, acoustic and steel guitar, fiddle, I-IV-V",
    "classical": "classical / orchestral chamber: strings, piano, no drums, functional harmony",
    "cinematic": "cinematic / epic: low strings ostinato, brass swells, big toms, slow harmony",
    "ambient": "ambient: slow pads, no or minimal drums, long sustained chords",
    "reggae": "reggae: one-drop drums, off-beat skank chords, deep bass",
    "latin": "latin / bossa nova: clave-based percussion, nylon guitar, syncopated bass",
    "chinese_traditional": "Chinese traditional (民乐/古风): pentatonic modes, guzheng, dizi, erhu, light percussion",
    "guofeng": "国风 pop: pop drums and bass under pentatonic melodies on Chinese plucked and wind timbres",
}

STYLE_NAMES = tuple(STYLES)
