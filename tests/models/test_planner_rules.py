"""The `rules` planner: English and Chinese prompts → SongPlan, one rule at a time."""

import json

import numpy as np
import pytest

from songfarm.models import theory
from songfarm.models.factory import BackendError, make_planner
from songfarm.models.instruments import INSTRUMENTS, ruled_out
from songfarm.models.plan import SECTION_NAMES, SongPlan
from songfarm.models.planners import fields, harmony, lexicon, structure
from songfarm.models.planners.lyrics import parse_lyrics
from songfarm.models.planners.rules import PlanError, RulesPlanner, RulesPlannerConfig
from songfarm.models.request import DEFAULT_DURATION_S, TrackRequest
from songfarm.models.stages import new_row
from songfarm.models.styles import STYLE_NAMES

PLANNER = RulesPlanner()
TERMS = {t.name: t for t in lexicon.TEMPO_TERMS}


def plan_for(prompt: str, **fields) -> SongPlan:
    return PLANNER.plan(TrackRequest(id="t", prompt=prompt, **fields))


def assert_well_formed(plan: SongPlan) -> None:
    plan.check()
    assert plan.style in STYLE_NAMES
    assert all(name in INSTRUMENTS for name in plan.instruments)
    assert all(s.name in SECTION_NAMES for s in plan.sections)
    # whole bars filling the duration to within half a bar
    assert plan.total_bars == max(1, int(plan.duration_s / plan.bar_s + 0.5))
    assert abs(plan.planned_s - plan.duration_s) <= plan.bar_s / 2 + 1e-9 or plan.total_bars == 1
    # the song resolves on the tonic triad
    root, intervals, _ = theory.parse_chord(plan.sections[-1].chords[-1])
    assert root == theory.pitch_class(plan.tonic)
    assert (3 in intervals) == (plan.mode == "minor")
    assert set(plan.sources.values()) <= {"stated", "override", "inferred", "default"}
    for name in ("bpm", "key", "tonic", "mode", "time_signature", "duration_s", "genre", "style", "moods",
                 "instruments", "scale", "chords", "sections", "vocals", "excluded", "exclusive"):
        assert name in plan.sources, name
    # the exclusions are consistent: nothing planned is ruled out, no voice without vocals
    assert not any(ruled_out(n, plan.excluded) for n in plan.instruments)
    assert plan.vocals == ("vocals" not in plan.excluded)


# ---- construction ---------------------------------------------------------------------

def test_factory_builds_the_planner_and_checks_options():
    planner = make_planner("rules", {"default_style": "folk"})
    assert isinstance(planner, RulesPlanner) and planner.name == "rules" and planner.version
    assert planner.plan(TrackRequest(id="a", prompt="something nice")).style == "folk"
    with pytest.raises(BackendError, match="default_style"):
        make_planner("rules", {"default_style": "polka"})
    with pytest.raises(BackendError, match="unknown option 'colour'"):
        make_planner("rules", {"colour": "blue"})


# ---- tempo ----------------------------------------------------------------------------

@pytest.mark.parametrize("prompt,bpm", [
    ("125 bpm techno banger", 125.0),
    ("dark synthwave, the bpm is 125", 125.0),
    ("This song goes at 153.0 beats per minute.", 153.0),
    ("The tempo of this song is 92.0 beats per minute.", 92.0),
    ("a chorale, ♩=72", 72.0),
    ("funk with a tempo of 104", 104.0),
    ("house music, 120-130 bpm", 125.0),
    ("每分钟90拍的民谣", 90.0),
    ("一首90拍每分钟的情歌", 90.0),
    ("摇滚，速度为132", 132.0),
    ("每分钟九十六拍", 96.0),
    ("国风歌曲，BPM为76", 76.0),
    ("a ballad at sixty beats per minute", 60.0),  # spelled out
    ("a hundred and twenty bpm groove", 120.0),
    ("seventy-two bpm, a slow soul tune", 72.0),
    ("metronome at eighty, a gentle piano etude", 80.0),
])
def test_stated_tempo_is_planned_exactly(prompt, bpm):
    plan = plan_for(prompt)
    assert plan.bpm == bpm and plan.sources["bpm"] == "stated"
    assert_well_formed(plan)


@pytest.mark.parametrize("prompt,term", [
    ("The tempo of this song is Largo.", "Largo"), ("a Larghetto for harp", "Larghetto"),
    ("Adagio for strings", "Adagio"), ("The song is played at the pace of Andante.", "Andante"),
    ("This song is in Moderato.", "Moderato"), ("Allegro, bright and brisk", "Allegro"),
    ("This song is played in Vivace.", "Vivace"), ("The tempo of this song is Presto.", "Presto"),
    ("a Prestissimo étude", "Prestissimo"),
    ("a slow piano piece", "slow"), ("mid-tempo indie folk", "medium"), ("a fast rock song", "fast"),
    ("an upbeat pop tune", "upbeat"), ("a slow hip hop beat", "slow"), ("fast metal", "fast"),
    ("慢速的钢琴曲", "slow"), ("一首慢歌", "slow"), ("中速的流行歌", "medium"), ("快节奏的电子乐", "fast"),
    ("快速的摇滚", "fast"), ("舒缓的古筝曲", "gentle"), ("激昂的进行曲", "impassioned"),
    ("欢快的儿歌", "lively"), ("行板，弦乐", "Andante"), ("快板", "Allegro"),
])
def test_tempo_terms_land_inside_their_range(prompt, term):
    plan = plan_for(prompt)
    t = TERMS[term]
    assert t.low <= plan.bpm <= t.high, (prompt, plan.bpm, (t.low, t.high))
    assert plan.sources["bpm"] == "stated"


def test_happy_is_not_fast_and_genre_gives_the_tempo():
    # 快乐 ("happy") holds 快 ("fast"); the tempo comes from the genre's typical range
    plan = plan_for("一首快乐的说唱")
    assert plan.sources["bpm"] == "inferred" and plan.style == "hiphop"
    low, high = lexicon.STYLE_TEMPO["hiphop"]
    assert low <= plan.bpm <= high
    dnb = plan_for("liquid drum and bass")
    assert 170 <= dnb.bpm <= 176 and dnb.sources["bpm"] == "inferred"
    assert plan_for("something").sources["bpm"] == "default"


# ---- key ------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt,key", [
    ("The key is F#m.", "F# minor"), ("The key is D# major.", "Eb major"),
    ("The key of this song is D#major.", "Eb major"), ("The key is Dminor, or Gm.", "D minor"),
    ("The key is EM.", "E major"), ("The key is Em.", "E minor"), ("a ballad in A flat minor", "G# minor"),
    ("The key is Bb maj.", "Bb major"), ("The key is C maj.", "C major"),
    ("This song is in the key of F#min.", "F# minor"),
    ("The key is Amin.", "A minor"), ("The key of this song is G# maj.", "Ab major"),
    ("a folk song in the key of A", "A major"), ("either in the key of A major or F# minor", "A major"),
    ("The key is Gbm, or A major.", "F# minor"), ("in the key of EbM", "Eb major"),
    ("a dark tune in E-flat minor", "Eb minor"), ("blues in E, shuffle", "E major"),
    ("C大调的儿歌", "C major"), ("a小调的钢琴曲", "A minor"), ("A小调", "A minor"), ("升F小调的二胡曲", "F# minor"),
    ("降B大调进行曲", "Bb major"), ("bE大调", "Eb major"), ("b小调圆舞曲", "B minor"), ("G调民谣", "G major"),
])
def test_keys_in_every_spelling(prompt, key):
    plan = plan_for(prompt)
    tonic, mode = key.split()
    assert theory.same_key(plan.tonic, plan.mode, tonic, mode), (prompt, plan.key)
    assert plan.tonic == theory.tonic_name(theory.pitch_class(tonic), mode)  # conventional spelling
    assert plan.sources["tonic"] == "stated"


def test_mode_from_mood_and_from_a_mode_word():
    sad = plan_for("a sad song about the rain")
    assert sad.mode == "minor" and sad.sources["mode"] == "inferred" and sad.sources["tonic"] == "default"
    assert plan_for("a piece in a minor key").mode == "minor"
    assert plan_for("小调式的抒情歌").mode == "minor"
    # a stated key wins over the mood, and the plan says so
    happy = plan_for("a happy song in A minor")
    assert happy.key == "A minor" and any("happy" in c for c in happy.conflicts)


# ---- metre ----------------------------------------------------------------------------

@pytest.mark.parametrize("prompt,signature", [
    ("a folk song in 3/4", "3/4"), ("a jig in 6/8", "6/8"), ("a waltz for piano", "3/4"),
    ("The beat counts to 3.", "3/4"), ("The beat is 2.", "2/4"), ("The time signature is 4/4.", "4/4"),
    ("three beats per bar", "3/4"), ("一首三拍子的歌", "3/4"), ("3/4拍的圆舞曲", "3/4"), ("华尔兹", "3/4"),
    ("六八拍的船歌", "6/8"), ("a march in 2/4", "2/4"),
    ("a counting-to-three lilting piece for harp", "3/4"),  # hyphens for spaces
])
def test_metre(prompt, signature):
    plan = plan_for(prompt)
    assert plan.time_signature == signature
    assert_well_formed(plan)


# ---- duration and form ----------------------------------------------------------------

@pytest.mark.parametrize("prompt,seconds", [
    ("a 2-minute track", 120.0), ("90 seconds of ambient", 90.0), ("a 1:30 jingle", 90.0),
    ("two and a half minutes of jazz", 150.0), ("30秒的广告音乐", 30.0), ("两分钟的国风", 120.0),
    ("一分半的纯音乐", 90.0), ("1分30秒", 90.0), ("3 min 20 s of rock", 200.0),
])
def test_duration_from_the_prompt(prompt, seconds):
    plan = plan_for(prompt)
    assert plan.duration_s == seconds and plan.sources["duration_s"] == "stated"
    assert_well_formed(plan)


def test_duration_precedence_and_beats_per_minute_is_no_duration():
    assert plan_for("120 beats per minute").duration_s == DEFAULT_DURATION_S
    assert plan_for("a song").sources["duration_s"] == "default"
    plan = plan_for("a 2-minute track", duration_s=45.0)
    assert plan.duration_s == 45.0 and plan.sources["duration_s"] == "override"
    assert any("duration_s" in c for c in plan.conflicts)


@pytest.mark.parametrize("duration", [2.0, 8.0, 20.0, 30.0, 47.0, 95.0, 180.0, 600.0])
@pytest.mark.parametrize("prompt", ["pop at 120 bpm", "slow blues", "a waltz, Largo", "摇滚 每分钟170拍 2/4",
                                    "ambient drone at 64 bpm in 6/8"])
def test_sections_fill_the_duration_with_whole_bars(prompt, duration):
    plan = plan_for(prompt, duration_s=duration)
    assert_well_formed(plan)
    for s in plan.sections:
        assert len(s.chords) == s.bars
        # a chord holds for one or two bars
        runs = [len(list(g)) for _, g in __import__("itertools").groupby(s.chords)]
        assert max(runs) <= 4 or len(set(s.chords)) == 1


def test_short_songs_are_minimal_and_long_songs_repeat():
    short = plan_for("pop at 120 bpm", duration_s=8.0)
    assert short.total_bars == 4 and [s.name for s in short.sections] == ["verse", "outro"]
    long = plan_for("pop at 120 bpm", duration_s=300.0)
    names = [s.name for s in long.sections]
    assert names[0] == "intro" and names[-1] == "outro"
    assert names.count("chorus") >= 4 and names.count("verse") >= 3 and "bridge" in names
    body = [s for s in long.sections if s.name not in ("intro", "outro")]
    assert all(s.bars % 2 == 0 for s in body)


def test_energy_contour():
    plan = plan_for("pop at 120 bpm", duration_s=120.0)
    energy = {s.name: s.energy for s in plan.sections}
    assert all(0.0 <= s.energy <= 1.0 for s in plan.sections)
    assert energy["intro"] < energy["verse"] < energy["chorus"]
    assert energy["bridge"] < energy["chorus"]
    assert plan.sections[-1].energy < plan.sections[-2].energy


# ---- genre, style, scale, instruments -------------------------------------------------

@pytest.mark.parametrize("prompt,style", [
    ("国风歌曲", "guofeng"), ("古风", "guofeng"), ("中国风", "guofeng"), ("民谣", "folk"),
    ("民乐合奏", "chinese_traditional"),
    ("流行歌曲", "pop"), ("摇滚乐", "rock"), ("电子音乐", "edm"), ("中文说唱", "hiphop"), ("爵士", "jazz"),
    ("a lo-fi hip hop beat", "lofi"), ("heavy metal", "metal"), ("bossa nova", "latin"),
    ("a cinematic trailer", "cinematic"),
    ("R&B slow jam", "rnb"), ("funk groove", "funk"), ("delta blues", "blues"), ("bluegrass", "country"),
    ("a baroque minuet", "classical"), ("ambient music", "ambient"), ("roots reggae", "reggae"),
    ("traditional Chinese music", "chinese_traditional"), ("deep house", "edm"), ("trap", "hiphop"),
])
def test_genre_words_choose_a_style(prompt, style):
    plan = plan_for(prompt)
    assert plan.style == style and plan.sources["style"] == "stated"
    assert_well_formed(plan)


@pytest.mark.parametrize("prompt", ["acoustic instruments only, a folk song", "an unplugged rock ballad",
                                    "不插电版本的民谣"])
def test_acoustic_only_rules_out_everything_plugged_in(prompt):
    plan = plan_for(prompt)
    assert "electric" in plan.excluded
    assert not [n for n in plan.instruments if ruled_out(n, plan.excluded)]


def test_keep_it_to_names_the_only_instruments():
    plan = plan_for("keep it to piano and voice")
    assert plan.exclusive and set(plan.instruments) == {"piano", "voice"}


@pytest.mark.parametrize("prompt", ["ギター一本で弾き語り", "只有吉他自弹自唱"])
def test_singing_to_ones_own_playing_keeps_the_voice(prompt):
    plan = plan_for(prompt)  # one guitar and nothing else, but sung (弾き語り / 弹唱)
    assert plan.vocals and plan.exclusive and set(plan.instruments) == {"acoustic guitar", "voice"}


@pytest.mark.parametrize("word,name", [
    ("古筝", "guzheng"), ("琵琶", "pipa"), ("二胡", "erhu"), ("笛子", "dizi"), ("箫", "xiao"), ("古琴", "guqin"),
    ("扬琴", "yangqin"), ("笙", "sheng"), ("唢呐", "suona"), ("钢琴", "piano"), ("小提琴", "violin"),
    ("长笛", "flute"), ("排箫", "pan flute"), ("大提琴", "cello"), ("电吉他", "electric guitar"),
    ("saxophone", "saxophone"), ("rhodes", "electric piano"), ("upright bass", "acoustic bass"),
    ("hi-hats", "drum kit"), ("synth pads", "synth pad"), ("violins", "violin"),
])
def test_instrument_words_map_to_canonical_names(word, name):
    plan = plan_for(f"流行 {word}" if not word.isascii() else f"pop with {word}")
    assert name in plan.instruments and plan.sources["instruments"] == "stated"


def test_named_instruments_come_first_and_the_palette_fills_the_band():
    plan = plan_for("国风，古筝和笛子")
    assert plan.instruments[:2] == ["guzheng", "dizi"]
    roles = {INSTRUMENTS[n].role for n in plan.instruments}
    assert {"drums", "bass", "harmony", "melody"} <= roles
    assert plan.scale in ("major_pentatonic", "yu_pentatonic")
    trad = plan_for("二胡和琵琶，悠扬")
    assert trad.style == "chinese_traditional" and trad.sources["style"] == "inferred"
    assert trad.instruments[:2] == ["erhu", "pipa"] and "drum kit" not in trad.instruments


def test_every_style_has_a_full_palette():
    for style in STYLE_NAMES:
        roles = {INSTRUMENTS[n].role for n in lexicon.STYLE_PALETTE[style]}
        assert "harmony" in roles and len(roles) >= 3, style
        assert all(n in INSTRUMENTS for n in lexicon.STYLE_PALETTE[style])
    for genre in lexicon.GENRES:
        assert genre.style in STYLE_NAMES


def test_solo_negation_and_voice():
    assert plan_for("古筝独奏").instruments == ["guzheng"]
    assert plan_for("solo piano, gentle").instruments == ["piano"]
    assert plan_for("a rock song with a guitar solo").instruments != ["electric guitar"]
    no_drums = plan_for("a pop song, no drums")
    assert not any(INSTRUMENTS[n].role == "drums" for n in no_drums.instruments)
    assert "voice" not in plan_for("instrumental pop with vocals samples").instruments
    assert "voice" in plan_for("pop", lyrics="[verse] la la la").instruments
    assert "drum kit" not in plan_for("不要鼓的流行歌").instruments


def test_scales():
    assert plan_for("a 12-bar blues").scale == "blues"
    assert plan_for("a dorian groove").scale == "dorian"
    assert plan_for("pop song in C major").scale == ""
    assert plan_for("国风 a小调").scale == "yu_pentatonic"
    assert plan_for("国风 C大调").scale == "major_pentatonic"
    assert plan_for("minor pentatonic rock riff").scale == "minor_pentatonic"


def test_mood_conflict_keeps_the_core_emotion():
    sad = plan_for("light and sad")
    happy = plan_for("light and happy")
    assert sad.mode == "minor" and happy.mode == "major"
    assert sad.moods == ["light", "sad"]
    assert any("'sad'" in c and "minor" in c for c in sad.conflicts)
    assert np.mean([s.energy for s in sad.sections]) < np.mean([s.energy for s in happy.sections])
    zh = plan_for("轻松又伤感的钢琴曲")
    assert zh.mode == "minor" and zh.conflicts


# ---- chords ---------------------------------------------------------------------------

def test_stated_chords_are_the_main_progression():
    plan = plan_for("The chord progression in this song is Abmaj7, Bbmaj7, Eb, Fm7. The key is Eb major.",
                    duration_s=60.0)
    verse = next(s for s in plan.sections if s.name == "verse")
    chorus = next(s for s in plan.sections if s.name == "chorus")
    for s in (verse, chorus):
        assert set(s.chords) <= {"Abmaj7", "Bbmaj7", "Eb", "Fm7"}
    assert plan.sources["chords"] == "stated"
    assert plan_for("The chord sequence is C, E.").sections[0].chords[0] in ("C", "E")


def test_unreadable_chords_are_skipped_and_noted():
    plan = plan_for("The chord progression in this song is Cmaj13, F, G, N, Am.")
    chords = {c for s in plan.sections for c in s.chords}
    assert {"F", "G", "Am"} & chords and "Cmaj13" not in chords
    assert any("Cmaj13" in c and "N" in c for c in plan.conflicts)


def test_off_key_caption_chords_give_way_to_the_style():
    # "F# minor" with only a D chord: no F#m tonic chord
    plan = plan_for("The chord progression in this song is D. The key is F#m.", duration_s=30.0)
    assert plan.sources["chords"] == "inferred"
    assert any("do not fit F# minor" in c and "no F#m chord" in c for c in plan.conflicts)
    verse = next(s for s in plan.sections if s.name == "verse")
    assert verse.chords[0] == "F#m"
    # "Eb minor" with D: no Ebm chord either
    assert plan_for("The chord sequence is D. The key is Eb minor.").sources["chords"] == "inferred"


def test_wrong_mode_tonic_chords_are_never_played():
    # D minor with D and Dm: the D chord's F# is the major third of the tonic
    plan = plan_for("The chord progression in this song is D, Dm. The key is D minor.", duration_s=60.0)
    assert plan.sources["chords"] == "inferred"
    assert any("F#, the major third" in c for c in plan.conflicts)
    chords = {c for s in plan.sections for c in s.chords}
    assert "D" not in chords and not any(6 in theory.chord_pitch_classes(c) for c in chords)
    # a tonic chord with the minor third in a major key, or the borrowed bVI, sets them aside too
    assert plan_for("Chords: C, Cm, F, G. The key is C major.").sources["chords"] == "inferred"
    assert plan_for("Chords: C, Ab, Bb. The key is C major.").sources["chords"] == "inferred"


def test_fitting_caption_chords_are_adopted_starting_on_the_tonic():
    plan = plan_for("The chord progression in this song is Am, F, C, G. The key is C major.", duration_s=60.0)
    assert plan.sources["chords"] == "stated" and not plan.conflicts
    for s in plan.sections:
        if s.name in ("verse", "chorus"):
            assert s.chords[:4] == ["C", "G", "Am", "F"]
    # a secondary dominant passes (one chromatic note among many), a progression in another key does not
    assert plan_for("Chords: D, B7, G, C6. The key is D major.").sources["chords"] == "stated"
    assert plan_for("Chords: Ab, D, A. The key is Ab major.").sources["chords"] == "inferred"


@pytest.mark.parametrize("symbols,key,fits,reason", [
    (["C", "G", "Am", "F"], "C major", True, ""),
    (["Am", "Dm", "E7", "Am"], "A minor", True, ""),  # the major V in minor is in the key
    (["D"], "F# minor", False, "no F#m chord"),
    (["D", "Dm", "Gm"], "D minor", False, "major third"),
    (["Gm", "Bm7b5/A"], "G minor", False, "major third"),
    (["Cdim", "F"], "C minor", False, "no Cm chord"),  # a diminished chord is no tonic
    (["C/D", "F", "G"], "C major", False, "no C chord"),  # nor one over a foreign bass
    (["Cmaj7", "F#maj7", "Aaug"], "C major", False, "notes are in the key"),
    (["Ebm", "Bbmaj7", "Bb", "Bmaj7"], "Eb minor", True, ""),
    (["E5", "C5", "D5"], "E minor", True, ""),  # power chords are neutral: the key's mode stands
])
def test_the_key_fit_rule(symbols, key, fits, reason):
    tonic, mode = key.split()
    fit = harmony.fit_to_key(symbols, theory.pitch_class(tonic), mode)
    assert fit.fits == fits and reason in fit.reason, fit


def test_key_from_chords_alone_picks_a_tonic_chord():
    assert plan_for("chords: Am F C G").key == "A minor"
    assert plan_for("a happy song, chords Am F C G").key == "C major"
    assert plan_for("一首悲伤的歌，和弦进行是 C G Am F").key == "A minor"
    sad = plan_for("sad, chords C G F")  # no minor chord to be the tonic: the chords decide
    assert sad.key == "C major" and any("no minor tonic chord" in c for c in sad.conflicts)


def test_style_tables_keep_to_the_key():
    for style, modes in structure.PROGRESSIONS.items():
        for mode, kinds in modes.items():
            for kind, variants in kinds.items():
                for numerals in variants:
                    symbols = [theory.roman_to_chord(r, 0, mode) for r in numerals]
                    other = "minor" if mode == "major" else "major"
                    assert not any(harmony.is_tonic_chord(c, 0, other) for c in symbols), (style, mode, numerals)
                    if kind in ("verse", "chorus"):
                        assert harmony.is_tonic_chord(symbols[0], 0, mode), (style, mode, kind, numerals)
                    else:  # contrasting sections do not start on the relative key's tonic
                        assert numerals[0] not in ("vi", "vi7", "III", "IIImaj7"), (style, mode, kind, numerals)
                    if mode == "minor":  # nothing in a minor key holds the tonic's major third
                        assert not any(4 in theory.chord_pitch_classes(c) for c in symbols), (style, numerals)


@pytest.mark.parametrize("duration", [8.0, 20.0, 30.0, 60.0, 180.0, 600.0])
def test_every_style_is_tonic_centred_and_ends_on_its_cadence(duration):
    for style in STYLE_NAMES:
        for mode in ("major", "minor"):
            for variant in ("a", "b", "c"):
                plan = PLANNER.plan(TrackRequest(id="s", prompt=f"{style} song {variant}", genre=style,
                                                 key=f"E {mode}", duration_s=duration))
                tonic_pc = theory.pitch_class(plan.tonic)
                chords = [c for s in plan.sections for c in s.chords]
                # a quarter of the bars or more; long songs' pre-choruses build away from home
                assert harmony.tonic_share(chords, tonic_pc, mode) >= (0.25 if duration <= 60 else 0.22), \
                    (style, mode, chords)
                assert chords[-2:] == structure.cadence(style, tonic_pc, mode), (style, mode, chords[-2:])
                for k, s in enumerate(plan.sections):
                    last_two = k == len(plan.sections) - 1 and s.bars <= 2
                    if s.name not in ("pre_chorus", "bridge") and not last_two:
                        assert harmony.is_tonic_chord(s.chords[0], tonic_pc, mode), (style, mode, s)
                    if s.name in ("intro", "outro") and s.bars >= 2:
                        assert harmony.tonic_share(s.chords, tonic_pc, mode) >= 0.5, (style, mode, s)


def test_roman_numeral_progression_and_style_tables():
    plan = plan_for("a I-V-vi-IV progression, key of D, 112 bpm")
    verse = next(s for s in plan.sections if s.name == "verse")
    assert verse.chords[:4] == ["D", "A", "Bm", "G"]
    # every style's table yields readable chords in both modes and every key
    for style in STYLE_NAMES:
        for mode in ("major", "minor"):
            for pc in range(12):
                plan = PLANNER.plan(TrackRequest(id="s", prompt=f"{style} song", genre=style,
                                                 key=f"{theory.tonic_name(pc, mode)} {mode}", duration_s=90.0))
                plan.check()


# ---- lyrics ---------------------------------------------------------------------------

def test_songgeneration_lyrics_drive_the_sections():
    lyrics = ("[intro-short] ; [verse] 夜色渐浓.灯火阑珊.我走在回家的路上.想起你的模样 ; "
              "[chorus] 月光洒落.照亮心房 ; [inst-medium] ; [verse] 风吹过.花又开 ; [chorus] 月光洒落.照亮心房 ; "
              "[outro-short]")
    plan = plan_for("国风 女声", lyrics=lyrics, duration_s=120.0)
    assert [s.name for s in plan.sections] == ["intro", "verse", "chorus", "instrumental", "verse", "chorus", "outro"]
    assert plan.sections[1].lyrics.split("\n") == ["夜色渐浓", "灯火阑珊", "我走在回家的路上", "想起你的模样"]
    assert plan.sections[1].bars > plan.sections[2].bars  # four lines take longer than two
    assert plan.sources["sections"] == "stated" and "voice" in plan.instruments
    assert_well_formed(plan)


def test_multiline_lyrics_tags():
    sections = parse_lyrics("[Verse 1]\nWalking down the road\nLights are fading\n\n[Pre-Chorus]\nHold on\n"
                            "[Chorus]\nSing it loud\n[副歌]\n再唱一次\n[Guitar Solo]\n[Outro]")
    assert [s.name for s in sections] == ["verse", "pre_chorus", "chorus", "chorus", "solo", "outro"]
    assert sections[0].lines == ["Walking down the road", "Lights are fading"]
    plan = plan_for("rock", lyrics="[verse]\na\nb\n[chorus]\nc\nd", duration_s=4.0)  # fewer bars than sections
    assert_well_formed(plan)


def test_lyrics_can_size_the_song():
    planner = RulesPlanner(RulesPlannerConfig(duration_from_lyrics=True))
    plan = planner.plan(TrackRequest(id="l", prompt="pop at 120 bpm",
                                     lyrics="[verse]\na\nb\nc\nd\n[chorus]\ne\nf\ng\nh"))
    assert plan.sources["duration_s"] == "inferred" and plan.total_bars == 16 and plan.duration_s == 32.0


# ---- overrides, errors, determinism, batches ------------------------------------------

def test_request_overrides_win_and_are_recorded():
    plan = plan_for("a fast rock song at 150 bpm in E minor, 3/4, sad", bpm=90, key="a小调", time_signature="4/4",
                    genre="jazz", moods=["happy"], instruments=["piano", "二胡"])
    assert (plan.bpm, plan.key, plan.time_signature, plan.style, plan.moods) == (
        90.0, "A minor", "4/4", "jazz", ["happy"])
    assert plan.instruments[:2] == ["piano", "erhu"]
    for name in ("bpm", "key", "time_signature", "genre", "style", "moods", "instruments"):
        assert plan.sources[name] == "override", name
    joined = " ".join(plan.conflicts)
    for name in ("bpm", "key", "time_signature", "genre", "moods"):
        assert name in joined
    assert_well_formed(plan)


def test_bad_overrides_are_clear_errors():
    with pytest.raises(PlanError, match="request.key='H minor'"):
        plan_for("pop", key="H minor")
    with pytest.raises(PlanError, match="theremin"):
        plan_for("pop", instruments=["theremin"])
    with pytest.raises(PlanError, match="request.time_signature='3/5'"):
        plan_for("pop", time_signature="3/5")


def test_override_rules_have_one_owner():
    # models/planners/fields.py reads what the planner reads; request validation calls it too.
    assert fields.read_key("F# minor") == (6, "minor") and fields.read_key("a小调") == (9, "minor")
    assert fields.read_time_signature("12/8") == (12, 8)
    assert fields.read_instrument("古筝") == ("guzheng",) and fields.read_instrument("drums") == ("@drums",)
    for read, value in ((fields.read_key, "H major"), (fields.read_time_signature, "3/3/4"),
                        (fields.read_instrument, "theremin")):
        with pytest.raises(ValueError):
            read(value)


def test_same_request_same_plan_and_language():
    request = TrackRequest(id="d", prompt="一首舒缓的国风歌曲，古筝和笛子，a小调，两分钟", seed=3)
    a, b = RulesPlanner().plan(request), RulesPlanner().plan(request)
    assert a.to_json() == b.to_json()
    assert SongPlan.from_json(a.to_json()) == a
    assert a.language == "zh" and plan_for("a calm piano piece").language == "en"
    assert a.planner.startswith("rules ")


def test_batch_call_plans_rows_and_isolates_failures():
    rows = [new_row(TrackRequest(id="ok", prompt="Allegro in D major")),
            new_row(TrackRequest(id="bad", prompt="pop", key="not a key"))]
    batch = {k: np.array([r[k] for r in rows], dtype=object) for k in rows[0]}
    out = PLANNER(batch)
    assert list(out["status"]) == ["ok", "failed"]
    assert json.loads(out["plan"][0])["tonic"] == "D"
    assert "request.key" in out["error"][1]


# ---- issue 13: genres, word sense, exclusions, phrasings, Japanese, contradictions ------

@pytest.mark.parametrize("prompt,genre,style", [
    # the most specific genre wins: a compound word, a sub-genre over its genre, any genre over "pop"
    ("流行摇滚，男声，电吉他", "pop rock", "rock"), ("a pop-rock anthem", "pop rock", "rock"),
    ("流行dj舞曲", "dj dance", "edm"), ("中文说唱，男声", "chinese hip hop", "hiphop"),
    ("华语说唱", "chinese hip hop", "hiphop"), ("流行，中国风，古筝", "guofeng", "guofeng"),
    ("古风，琵琶", "gufeng", "guofeng"), ("流行，民谣，木吉他", "folk", "folk"), ("女声，流行，R&B", "r&b", "rnb"),
    ("流行，电子，女声", "electronic", "edm"), ("嘻哈，陷阱，808", "trap", "hiphop"),
    ("hip hop, trap, 808s", "trap", "hiphop"), ("electronic dance music, tech house", "house", "edm"),
    ("funky grooves and a disco beat", "disco", "funk"),
    # an influence or a place of use never wins over the piece's genre
    ("a pop song with jazz influences", "pop", "pop"), ("带有爵士元素的流行歌", "pop", "pop"),
    ("a pop piece that could be used in the soundtrack of a film", "pop", "pop"),
    # regional genres in English, Chinese and Japanese
    ("city pop with a slap bass", "city pop", "funk"), ("シティポップ", "city pop", "funk"), ("演歌", "enka", "pop"),
    ("アニソン", "anime song", "rock"), ("ボカロ曲", "vocaloid", "edm"), ("J-POP", "j-pop", "pop"),
    ("K-pop girl group", "k-pop", "pop"), ("粤语流行", "cantopop", "pop"), ("华语流行", "mandopop", "pop"),
    ("和風、琴", "japanese traditional", "chinese_traditional"), ("ロックバラード", "rock ballad", "rock"),
    # a compound beats a genre it names, whichever comes first; 以电子为主 is "mainly electronic"
    ("punk attitude, but it's really a pop punk singalong", "pop punk", "rock"),
    ("这首歌以电子为主，融合了流行元素", "electronic", "edm"),
])
def test_the_most_specific_genre_wins(prompt, genre, style):
    plan = plan_for(prompt)
    assert (plan.genre, plan.style) == (genre, style), (prompt, plan.genre, plan.style, plan.conflicts)
    assert plan.sources["genre"] == "stated"
    assert_well_formed(plan)


@pytest.mark.parametrize("prompt,not_genre", [
    # a genre word in its everyday sense names no genre
    ("a song that may be playing in a house in the countryside", "house"),
    ("music for a house party", "house"), ("across the whole country, a festive tune", "country"),
    ("a rock-solid groove", "rock"), ("rock bottom", "rock"), ("she is in a funk", "funk"),
    ("lost in a trance", "trance"), ("trance-like and hypnotic", "trance"), ("music for my soul", "soul"),
    ("a soul-searching melody", "soul"), ("a folk tale told by the fire", "folk"),
    ("clanging metal pipes", "metal"), ("the metal gate creaks", "metal"), ("a trap door opens", "trap"),
    ("deep in the jungle", "drum and bass"), ("a western movie", "country"), ("a fusion of styles", "jazz fusion"),
    ("一首在乡村小路上听的歌", "country"), ("金属质感的音色", "metal"), ("电子元素", "electronic"),
    ("DJ scratches", "dj dance"),
])
def test_false_friends_name_no_genre(prompt, not_genre):
    plan = plan_for(prompt)
    assert plan.genre != not_genre, (prompt, plan.conflicts)
    assert any("everyday word" in c for c in plan.conflicts)


@pytest.mark.parametrize("prompt,genre", [
    # the same words in their musical sense
    ("a house track for the club", "house"), ("a country song with fiddle", "country"), ("some rock", "rock"),
    ("rock drums and a big chorus", "rock"), ("a metal guitarist shredding", "metal"), ("house, 124 bpm", "house"),
    ("a soulful soul singer", "soul"), ("rock-inspired", "rock"), ("乡村音乐", "country"), ("乡村风的歌", "country"),
    ("流行 dj 女声", "dj dance"), ("a DJ set", "dj dance"), ("a soulful ballad", "ballad"),
])
def test_genre_words_in_their_musical_sense(prompt, genre):
    assert plan_for(prompt).genre == genre, prompt


@pytest.mark.parametrize("prompt,vocals,exclusive,excluded,instruments", [
    ("instrumental lo-fi", False, False, ["vocals"], []),
    ("an upbeat track without vocals", False, False, ["vocals"], []),
    ("no singing, just a beat", False, False, ["vocals"], []),
    ("纯音乐，钢琴", False, False, ["vocals"], ["piano"]),
    ("不要人声，电子", False, False, ["vocals"], []),
    ("无人声的古筝曲", False, False, ["vocals"], ["guzheng"]),
    ("インスト曲", False, False, ["vocals"], []),
    ("ボーカルなしで", False, False, ["vocals"], []),
    ("violin only", False, True, ["vocals"], ["violin"]),
    ("only piano and cello", False, True, ["vocals"], ["piano", "cello"]),
    ("solo harp", False, True, ["vocals"], ["harp"]),
    ("just a trumpet", False, True, ["vocals"], ["trumpet"]),
    ("nothing but drums", False, True, ["vocals"], ["drum kit"]),
    ("an energetic drum solo", False, True, ["vocals"], ["drum kit"]),
    ("only vocals and a ukulele", True, True, [], ["voice", "nylon guitar"]),
    ("a cappella", True, True, [], ["voice"]),
    ("清唱", True, True, [], ["voice"]),
    ("只有钢琴", False, True, ["vocals"], ["piano"]),
    ("纯吉他", False, True, ["vocals"], ["acoustic guitar"]),
    ("琵琶独奏", False, True, ["vocals"], ["pipa"]),
    ("チェロのみ", False, True, ["vocals"], ["cello"]),
    ("ギターだけ", False, True, ["vocals"], ["acoustic guitar"]),
    ("flute and harp, no other instruments", False, True, ["vocals"], ["flute", "harp"]),
    ("没有其他乐器，只有笛子", False, True, ["vocals"], ["dizi"]),
    ("a lullaby with no instruments", True, True, [], ["voice"]),
    # not exclusive: a solo inside a song, "not only", an everyday "only"
    ("a rock song with a guitar solo", True, False, [], []),
    ("a funk tune featuring a sax solo in the middle", True, False, [], ["saxophone"]),
    ("not only piano but strings too", True, False, [], ["piano", "strings"]),
    ("the only thing I want is a happy pop song", True, False, [], []),
    ("速いロック、ギターソロあり", True, False, [], []),
    # ruled out
    ("a pop song, no drums", True, False, ["drums"], []),
    ("without bass", True, False, ["bass"], []),
    ("no guitars", True, False, ["guitar"], []),
    ("no synths", True, False, ["synth"], []),
    ("no strings please", True, False, ["strings"], []),
    ("drumless", True, False, ["drums"], []),
    ("不要鼓", True, False, ["drums"], []),
    ("没有贝斯", True, False, ["bass"], []),
    ("ドラムなし", True, False, ["drums"], []),
])
def test_exclusions_and_exclusivity(prompt, vocals, exclusive, excluded, instruments):
    plan = plan_for(prompt)
    assert (plan.vocals, plan.exclusive) == (vocals, exclusive), (prompt, plan.vocals, plan.exclusive, plan.conflicts)
    assert plan.excluded == excluded, (prompt, plan.excluded)
    assert all(n in plan.instruments for n in instruments), (prompt, plan.instruments)
    if exclusive:
        assert plan.instruments == instruments or set(plan.instruments) == set(instruments), plan.instruments
    assert_well_formed(plan)


def test_exclusions_are_obeyed_by_the_plan_and_recorded():
    # "no guitars" rules out the bass guitar too: the bass comes from an allowed substitute
    plan = plan_for("a rock song, no guitars")
    assert not any(ruled_out(n, ["guitar"]) for n in plan.instruments)
    assert any(INSTRUMENTS[n].role == "bass" for n in plan.instruments)
    assert plan.sources["excluded"] == "stated"
    synths = plan_for("no guitars, no drums, only synths and bass")
    assert synths.exclusive and "synth bass" in synths.instruments and "bass guitar" not in synths.instruments
    # an exclusion said of one section rules nothing out, and says so
    intro = plan_for("no drums in the intro, then the drums kick in")
    assert "drums" not in intro.excluded and "drum kit" in intro.instruments
    assert any("one section only" in c for c in intro.conflicts)
    assert "drums" not in plan_for("前奏不要鼓，副歌加入鼓").excluded
    # an exclusion beats a mention of the same thing, and the plan says so
    both = plan_for("纯音乐，女声，流行")
    assert not both.vocals and "voice" not in both.instruments and both.sources["vocals"] == "stated"
    assert any(c.startswith("vocals:") for c in both.conflicts)
    # the request's lyrics beat an exclusion in the prompt
    sung = plan_for("instrumental pop", lyrics="[verse] la la la")
    assert sung.vocals and "voice" in sung.instruments and sung.sources["vocals"] == "override"
    assert any("lyrics win" in c for c in sung.conflicts)
    # a request's instruments win over the prompt's exclusion of them
    given = plan_for("no piano", instruments=["piano"])
    assert "piano" in given.instruments and "piano" not in given.excluded
    default = plan_for("a calm song")
    assert default.vocals and not default.exclusive and default.excluded == []
    assert (default.sources["vocals"], default.sources["exclusive"], default.sources["excluded"]) == (
        "default", "default", "default")


def test_every_named_instrument_stays_in_the_plan():
    plan = plan_for("harmonica, flute, distorted guitar, electric guitar, acoustic guitar, piano, organ, "
                    "violin and cello over a rock beat")
    for name in ("harmonica", "flute", "distorted guitar", "electric guitar", "acoustic guitar", "piano", "organ",
                 "violin", "cello"):
        assert name in plan.instruments, name
    zh = plan_for("二胡、琵琶、扬琴、笙、唢呐、古筝和笛子")
    assert {"erhu", "pipa", "yangqin", "sheng", "suona", "guzheng", "dizi"} <= set(zh.instruments)


@pytest.mark.parametrize("word,name", [
    ("马头琴", "morin khuur"), ("馬頭琴", "morin khuur"), ("萧", "xiao"), ("箫", "xiao"), ("洞箫", "xiao"),
    ("葫芦丝", "hulusi"), ("陶笛", "ocarina"), ("埙", "ocarina"), ("卡林巴", "kalimba"), ("手碟", "steelpan"),
    ("大号", "tuba"), ("风笛", "bagpipe"), ("西塔琴", "sitar"), ("提琴", "violin"),
])
def test_more_instrument_words(word, name):
    plan = plan_for(f"一首歌，{word}")
    assert name in plan.instruments, (word, plan.instruments)


def test_xiao_spelling_is_not_bleak():
    assert "xiao" not in plan_for("秋风萧瑟，一首伤感的钢琴曲").instruments
    assert "xiao" not in plan_for("风萧萧兮").instruments


@pytest.mark.parametrize("prompt,instruments", [
    ("ピアノとバイオリン", ["piano", "violin"]),
    ("エレキギター、ベース、ドラム", ["electric guitar", "bass guitar", "drum kit"]),
    ("三味線と尺八", ["shamisen", "shakuhachi"]), ("琴の音色", ["koto"]), ("サックス", ["saxophone"]),
    ("チェロとフルート", ["cello", "flute"]), ("シンセサイザー", ["synth lead"]),
])
def test_japanese_instruments(prompt, instruments):
    plan = plan_for(prompt)
    assert plan.language == "ja"
    assert all(n in plan.instruments for n in instruments), plan.instruments
    assert "guzheng" not in plan.instruments  # a Japanese piece plays a koto


@pytest.mark.parametrize("prompt,mode,term", [
    ("明るいポップス", "major", None), ("悲しい曲", "minor", None), ("切ないメロディー", "minor", None),
    ("激しいロック", None, None), ("楽しい歌", "major", None), ("ゆっくりとしたピアノ", None, "slow"),
    ("速いテンポで", None, "fast"), ("アップテンポ", None, "up-tempo"), ("ミディアムテンポ", None, "medium"),
    ("スローテンポのバラード", None, "slow"),
])
def test_japanese_moods_and_tempo_words(prompt, mode, term):
    plan = plan_for(prompt)
    assert plan.language == "ja"
    if mode:
        assert plan.mode == mode, (prompt, plan.moods)
    if term:
        assert TERMS[term].low <= plan.bpm <= TERMS[term].high, (prompt, plan.bpm)


@pytest.mark.parametrize("text,language", [
    ("三拍子の子守唄", "ja"), ("カフェで流れるボサノバ", "ja"), ("一首舒缓的歌", "zh"), ("a calm piano piece", "en"),
    ("a koto piece with a アニソン feel", "en"), ("J-POP、明るい", "ja"),
])
def test_language_detection(text, language):
    assert plan_for(text).language == language


@pytest.mark.parametrize("prompt,term", [
    ("慢中速的歌", "medium-slow"), ("中慢速", "medium-slow"), ("中速偏慢", "medium-slow"), ("偏慢的R&B", "medium-slow"),
    ("节奏较慢", "medium-slow"), ("慢速", "slow"), ("缓慢", "slow"), ("舒缓", "gentle"), ("速度稍快", "medium-fast"),
    ("中速偏快的民谣", "medium-fast"), ("不太快的歌", "medium"), ("慢摇", None),
])
def test_chinese_tempo_words(prompt, term):
    plan = plan_for(prompt)
    if term:
        assert TERMS[term].low <= plan.bpm <= TERMS[term].high, (prompt, plan.bpm)
    else:  # 慢摇 is a club genre, not "slow"
        assert plan.genre == "dj dance" and plan.bpm >= 110


@pytest.mark.parametrize("prompt,winner,loser", [
    # a plain speed word beats a mood word with a speed; the contradiction is recorded
    ("轻快，慢中速", "medium-slow", "upbeat"), ("一首轻快的慢歌", "slow", "upbeat"), ("欢快，慢速", "slow", "lively"),
    ("舒缓，快节奏", "fast", "gentle"), ("upbeat and slow", "slow", "upbeat"), ("ゆっくり、軽快", "slow", "upbeat"),
    # an Italian marking beats a speed word
    ("Adagio, fast", "Adagio", "fast"),
])
def test_tempo_contradictions_are_recorded_and_resolved(prompt, winner, loser):
    plan = plan_for(prompt)
    assert TERMS[winner].low <= plan.bpm <= TERMS[winner].high, (prompt, plan.bpm)
    assert any(loser in c and winner in c and c.startswith("bpm:") for c in plan.conflicts), plan.conflicts


@pytest.mark.parametrize("prompt,bpm", [
    # tempo in other words: at least thirty phrasings beyond "125 bpm" and "tempo of 90"
    ("the bpm sits at 132", 132), ("132 on the metronome", 132), ("a tempo of 132", 132), ("quarter note = 132", 132),
    ("♩=132", 132), ("♩ ≈ 96", 96), ("crotchet = 66", 66), ("quarter = 100", 100), ("metronome at 96", 96),
    ("a metronome marking of 60", 60), ("M.M. = 72", 72), ("MM 120", 120), ("bpm: 140", 140), ("BPM=128", 128),
    ("128BPM", 128), ("BPM hovering near 174", 174), ("tempo sitting around 84", 84), ("tempo ~ 118", 118),
    ("the tempo is set at 76", 76), ("with a bpm of 150", 150), ("beats per minute: 90", 90),
    ("clocking in at 124 beats a minute", 124), ("72 beats to the minute", 72),
    ("somewhere between 120 and 130 bpm", 125),
    ("BPM 120-130", 125), ("set the click to 100", 100), ("the groove runs at 112", 112),
    ("the track grooves along at 118", 118), ("played at a steady 96", 96), ("pulse: 98 bpm", 98),
    ("每分钟132拍", 132), ("速度132", 132), ("速度：96", 96), ("节拍器120", 120), ("一分钟100拍", 100),
    ("速度定在128", 128), ("速度在140左右", 140), ("每分钟一百二十拍", 120), ("BPM 88左右", 88),
    ("テンポ120", 120), ("テンポは90くらい", 90), ("BPM120", 120), ("テンポ：132", 132), ("毎分100拍", 100),
])
def test_tempo_phrasings(prompt, bpm):
    plan = plan_for(prompt)
    assert plan.bpm == bpm and plan.sources["bpm"] == "stated", (prompt, plan.bpm)


@pytest.mark.parametrize("prompt", ["tempo changes 3 times", "played at 3 am", "a 1:30 jingle", "一分钟的广告音乐",
                                    "the track runs at 3 minutes"])
def test_numbers_that_are_no_tempo(prompt):
    assert plan_for(prompt).sources["bpm"] != "stated"


@pytest.mark.parametrize("prompt,beats", [
    # metre in other words: at least thirty phrasings beyond "3/4" and "the beat counts to 3"
    ("a 2-beat rhythm", 2), ("a two-beat feel", 2), ("a 3-count", 3), ("a three count", 3), ("counting to 2", 2),
    ("count it in 6", 6), ("counted in three", 3), ("time signature of 3", 3), ("the meter is three", 3),
    ("a metre of 5 beats", 5), ("beats per bar: 3", 3), ("played in three", 3), ("a tango in two", 2),
    ("a tune in three with harp", 3), ("in waltz time", 3), ("a waltz-time ballad", 3), ("three-four time", 3),
    ("six-eight", 6), ("a four-four groove", 4), ("twelve-eight shuffle", 12), ("in 6/8", 6), ("in five", 5),
    ("bars of three beats", 3), ("measures of six", 6), ("one-two-three, one-two-three", 3), ("oom-pah-pah", 3),
    ("oom-pah", 2), ("triple feel", 3), ("duple meter", 2), ("quintuple meter", 5), ("three beats to the bar", 3),
    ("三拍子", 3), ("两拍子", 2), ("4/4拍", 4), ("每小节三拍", 3), ("三拍的节奏", 3), ("四分之三拍", 3),
    ("八分之六拍", 6),
    ("拍号为3/4", 3), ("3拍子", 3), ("4分の3拍子", 3), ("8分の6拍子", 6), ("ワルツ", 3), ("2拍子", 2),
])
def test_metre_phrasings(prompt, beats):
    plan = plan_for(prompt)
    assert plan.beats_per_bar == beats, (prompt, plan.time_signature)


@pytest.mark.parametrize("prompt", ["a pop song in three parts", "it builds in three minutes", "in two minutes",
                                    "one-two-three-four, let's go", "every 2 beats a clap", "112拍的节奏"])
def test_numbers_that_are_no_metre(prompt):
    plan = plan_for(prompt)
    assert plan.time_signature == "4/4" and plan.sources["time_signature"] == "default", (prompt, plan.time_signature)


def test_the_longest_word_wins_across_scripts():
    # "dj舞曲" (a word ending in Chinese) beats "dj" (an English word) at the same place
    from songfarm.models.planners import parse
    vocabulary = parse.Vocabulary([("dj",), ("dj舞曲",), ("pop",), ("pop rock",)])
    assert [h.entry for h in vocabulary.find("流行dj舞曲 and pop rock, dj")] == [1, 3, 0]
