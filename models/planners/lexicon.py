"""The vocabulary of the `rules` planner in English, Chinese and Japanese: tempo terms,
genres, moods, instruments, and the words that exclude or restrict instruments.

Plain tables, no logic. Each entry lists the surface words (English, Italian, Chinese,
Japanese) that name it; `parse.py` compiles them into regexes once at import. English
words match whole words, case-insensitively; Chinese and Japanese words match anywhere.
Where two entries could match at the same place, the longer word wins (长笛 is a flute,
not a 笛子; 流行摇滚 is pop rock, not pop).

Canonical names: instruments are keys of models/instruments.INSTRUMENTS, styles are
models/styles.STYLE_NAMES. An instrument word starting with "@" ("@bass") is generic:
the planner picks the concrete instrument once the style is known (a bass in a
hip hop beat is a synth bass, in a jazz trio an upright).
"""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------------------
# Tempo terms.
#
# Italian markings use the conventional metronome ranges of the common tempo-marking
# table (as printed in e.g. Wikipedia "Tempo" § Basic tempo markings, BBC / classical-
# music.com "What is tempo in music"): Largo 40–60, Larghetto 60–66, Adagio 66–76,
# Andante 76–108, Moderato 108–120, Allegro 120–156, Vivace 156–176, Presto 168–200,
# Prestissimo > 200 BPM. Sources disagree at the edges, so `typical` is a point well
# inside the range that also lies inside MusicBench's bins for the same word (its
# captions call 141–154 BPM "Vivace" and 91–107 "Moderato"): a tempo planned from a
# term is conventional by either reading.
#
# Everyday words (slow, mid-tempo, fast, 慢, 中速, 快, ゆっくり …) have no formal standard;
# their ranges below follow the same table (slow ≈ Larghetto–Adagio, medium ≈ Andante–
# Moderato, fast ≈ Allegro, very fast ≈ Presto). Words that name a character first and a
# speed second (轻快 "light and quick", 舒缓 "soothing", upbeat, brisk) are `character`
# terms: the planner lets a plain speed word outrank them (rules.py states the order).


@dataclass(frozen=True)
class TempoTerm:
    name: str  # canonical spelling, recorded in plan conflicts and tests
    low: float  # BPM, inclusive
    high: float  # BPM, inclusive
    typical: float  # where the planner puts the tempo when nothing narrows the range
    italian: bool  # a formal metronome marking: outranks everyday words in one prompt
    words: tuple[str, ...]  # surface forms
    character: bool = False  # a mood word with a speed (轻快, upbeat): outranked by a plain speed word


TEMPO_TERMS: tuple[TempoTerm, ...] = (
    TempoTerm("Larghissimo", 20, 24, 24, True, ("larghissimo",)),
    TempoTerm("Grave", 25, 45, 40, True, ("Grave", "庄板")),  # capitalised only: "a grave mood" is not a tempo
    TempoTerm("Lento", 40, 60, 52, True, ("lento",)),
    TempoTerm("Largo", 40, 60, 50, True, ("largo", "广板")),
    TempoTerm("Larghetto", 60, 66, 63, True, ("larghetto", "小广板")),
    TempoTerm("Adagio", 66, 76, 70, True, ("adagio", "柔板", "慢板")),
    TempoTerm("Adagietto", 70, 80, 74, True, ("adagietto",)),
    TempoTerm("Andante", 76, 108, 84, True, ("andante", "行板")),
    TempoTerm("Andantino", 80, 108, 92, True, ("andantino", "小行板")),
    TempoTerm("Andante moderato", 92, 112, 100, True, ("andante moderato",)),
    TempoTerm("Moderato", 108, 120, 109, True, ("moderato", "中板")),
    TempoTerm("Allegretto", 112, 120, 114, True, ("allegretto", "小快板")),
    TempoTerm("Allegro moderato", 116, 124, 120, True, ("allegro moderato",)),
    TempoTerm("Allegro", 120, 156, 130, True, ("allegro", "allegro ma non troppo", "molto allegro", "快板")),
    TempoTerm("Vivace", 156, 176, 158, True, ("vivace", "vivo")),
    TempoTerm("Vivacissimo", 172, 176, 174, True, ("vivacissimo", "allegrissimo", "allegro vivace")),
    TempoTerm("Presto", 168, 200, 176, True, ("presto", "急板")),
    TempoTerm("Prestissimo", 200, 240, 208, True, ("prestissimo", "最急板")),
    # everyday speed words
    TempoTerm("very slow", 40, 60, 54, False, (
        "very slow", "extremely slow", "super slow", "glacial", "很慢", "极慢", "非常慢", "超慢", "とてもゆっくり",
        "超スロー")),
    TempoTerm("slow", 60, 80, 70, False, (
        "slow", "slow-paced", "slow tempo", "slowly", "slow-tempo", "downtempo", "down-tempo", "slow-moving",
        "unhurried", "leisurely", "languid", "sluggish", "low tempo", "low-tempo",
        "慢", "慢速", "缓慢", "慢节奏", "慢歌", "慢板歌", "缓缓", "慢慢", "低速", "速度慢", "节奏慢",
        "ゆっくり", "ゆっくりと", "スロー", "スローテンポ", "スローな", "遅い", "遅め", "遅いテンポ")),
    TempoTerm("medium-slow", 76, 92, 84, False, (
        "medium-slow", "moderately slow", "mid-slow", "slowish", "fairly slow", "somewhat slow", "rather slow",
        "a little slow", "slightly slow", "中慢速", "中慢板", "慢中速", "中速偏慢", "偏慢", "稍慢", "较慢", "略慢",
        "比较慢", "有点慢", "ややゆっくり", "ゆっくりめ", "ミディアムスロー")),
    TempoTerm("medium", 90, 115, 104, False, (
        "medium tempo", "medium-tempo", "mid-tempo", "midtempo", "mid tempo", "moderate tempo", "moderate pace",
        "moderately paced", "medium pace", "medium-paced", "medium speed", "moderate speed", "walking pace",
        "not too fast", "not too slow", "neither fast nor slow", "中速", "中等速度", "中等节奏", "中板速度", "不快不慢",
        "不太快", "不太慢", "不要太快", "不要太慢", "适中", "速度适中", "节奏适中",
        "ミディアムテンポ", "ミドルテンポ", "ミディアム", "中くらいのテンポ", "普通のテンポ")),
    TempoTerm("medium-fast", 110, 130, 120, False, (
        "medium-fast", "moderately fast", "fairly fast", "somewhat fast", "fastish", "a little fast",
        "slightly fast", "中快速", "中快板", "快中速", "中速偏快", "偏快", "稍快", "较快", "略快", "比较快",
        "やや速め", "速め", "少し速い")),
    TempoTerm("up-tempo", 110, 140, 124, False, ("up-tempo", "uptempo", "アップテンポ")),
    TempoTerm("fast", 120, 160, 140, False, (
        "fast", "fast-paced", "fast tempo", "quick", "quick tempo", "rapid", "high tempo", "high-tempo", "speedy",
        "swift", "快", "快速", "快节奏", "很快的节奏", "高速", "快歌", "速い", "早い", "速いテンポ", "ハイテンポ",
        "疾走感", "スピード感")),
    TempoTerm("very fast", 160, 200, 176, False, (
        "very fast", "extremely fast", "super fast", "blazing fast", "breakneck", "lightning fast", "frantic",
        "blistering", "极快", "非常快", "飞快", "超快", "极速", "とても速い", "超高速", "爆速")),
    # character words: a mood with a speed
    TempoTerm("upbeat", 110, 140, 124, False, ("upbeat", "brisk", "轻快", "軽快"), character=True),
    TempoTerm("lively", 110, 140, 124, False, ("欢快", "明快"), character=True),
    TempoTerm("impassioned", 120, 150, 136, False, ("激昂", "慷慨激昂"), character=True),
    TempoTerm("gentle", 60, 85, 72, False, ("舒缓", "悠扬", "悠缓", "ゆったり", "のんびり"), character=True),
    # a ballad is slow whatever its genre ("a country ballad", "ジャズ…バラード")
    TempoTerm("ballad", 60, 84, 72, False, ("ballad", "ballads", "slow jam", "抒情慢歌", "バラード"), character=True),
)

# ---------------------------------------------------------------------------------------
# Styles: the typical tempo range (BPM), the mode a style leans to when nothing says
# otherwise, and the instrument palette (drums, bass, harmony, melody, pad where the
# style has them). Typical tempo ranges are the usual production figures (house
# 120–128, hip hop 85–100, lo-fi 70–90, ballads 60–80 …).

STYLE_TEMPO: dict[str, tuple[float, float]] = {
    "pop": (100, 124), "rock": (110, 140), "metal": (140, 180), "edm": (120, 130), "hiphop": (82, 100),
    "lofi": (70, 90), "jazz": (100, 160), "rnb": (65, 95), "funk": (95, 120), "blues": (70, 100),
    "folk": (85, 115), "country": (100, 130), "classical": (70, 130), "cinematic": (60, 100),
    "ambient": (60, 80), "reggae": (70, 90), "latin": (95, 130), "chinese_traditional": (60, 90),
    "guofeng": (70, 100),
}

STYLE_MODE: dict[str, str] = {
    "pop": "major", "rock": "major", "metal": "minor", "edm": "minor", "hiphop": "minor", "lofi": "minor",
    "jazz": "major", "rnb": "minor", "funk": "minor", "blues": "major", "folk": "major", "country": "major",
    "classical": "major", "cinematic": "minor", "ambient": "major", "reggae": "major", "latin": "minor",
    "chinese_traditional": "major", "guofeng": "minor",
}

# Tonics (pitch classes) a style is commonly played in; the planner picks one by a
# stable hash of the prompt when no key is given, so not every song is in C.
STYLE_TONICS: dict[str, tuple[int, ...]] = {
    "pop": (0, 7, 2, 5, 9), "rock": (4, 9, 2, 7), "metal": (4, 2, 9), "edm": (5, 9, 0, 7), "hiphop": (1, 3, 5, 8),
    "lofi": (5, 3, 10, 0), "jazz": (5, 10, 3, 0), "rnb": (3, 8, 1, 5), "funk": (4, 9, 7), "blues": (4, 9, 7, 0),
    "folk": (7, 2, 0, 9), "country": (7, 2, 9, 4), "classical": (2, 7, 0, 10), "cinematic": (2, 0, 9, 7),
    "ambient": (0, 2, 4, 9), "reggae": (7, 9, 2), "latin": (9, 2, 4), "chinese_traditional": (2, 7, 0, 9),
    "guofeng": (9, 4, 2, 7),
}

STYLE_PALETTE: dict[str, tuple[str, ...]] = {
    "pop": ("drum kit", "bass guitar", "piano", "synth lead", "synth pad"),
    "rock": ("drum kit", "bass guitar", "distorted guitar", "electric guitar", "organ"),
    "metal": ("drum kit", "bass guitar", "distorted guitar", "electric guitar"),
    "edm": ("electronic drums", "synth bass", "supersaw", "synth lead", "synth pad"),
    "hiphop": ("electronic drums", "synth bass", "piano", "synth lead", "synth pad"),
    "lofi": ("drum kit", "bass guitar", "electric piano", "vibraphone", "synth pad"),
    "jazz": ("drum kit", "acoustic bass", "piano", "saxophone"),
    "rnb": ("drum kit", "bass guitar", "electric piano", "synth lead", "strings"),
    "funk": ("drum kit", "slap bass", "electric guitar", "electric piano", "brass"),
    "blues": ("drum kit", "bass guitar", "electric guitar", "piano", "harmonica"),
    "folk": ("percussion", "acoustic bass", "acoustic guitar", "violin"),
    "country": ("drum kit", "bass guitar", "acoustic guitar", "banjo", "fiddle", "steel guitar"),
    "classical": ("cello", "piano", "violin", "strings"),
    "cinematic": ("percussion", "contrabass", "brass", "violin", "strings", "french horn"),
    "ambient": ("piano", "celesta", "synth pad", "strings"),
    "reggae": ("drum kit", "bass guitar", "electric guitar", "organ"),
    "latin": ("percussion", "acoustic bass", "nylon guitar", "piano", "flute"),
    "chinese_traditional": ("chinese percussion", "guzheng", "dizi", "erhu", "sheng"),
    "guofeng": ("drum kit", "bass guitar", "piano", "guzheng", "dizi", "strings"),
}

# Generic instrument words → the concrete instrument per style (default first).
GENERIC_INSTRUMENTS: dict[str, dict[str, str]] = {
    "@bass": {"default": "bass guitar", "edm": "synth bass", "hiphop": "synth bass", "jazz": "acoustic bass",
              "latin": "acoustic bass", "folk": "acoustic bass", "classical": "contrabass",
              "cinematic": "contrabass", "funk": "slap bass", "ambient": "synth bass"},
    "@guitar": {"default": "acoustic guitar", "rock": "electric guitar", "metal": "distorted guitar",
                "blues": "electric guitar", "funk": "electric guitar", "reggae": "electric guitar",
                "jazz": "electric guitar", "rnb": "electric guitar", "latin": "nylon guitar",
                "classical": "nylon guitar"},
    "@drums": {"default": "drum kit", "edm": "electronic drums", "hiphop": "electronic drums",
               "chinese_traditional": "chinese percussion", "cinematic": "percussion", "classical": "percussion",
               "ambient": "percussion"},
    "@percussion": {"default": "percussion", "chinese_traditional": "chinese percussion"},
    "@synth": {"default": "synth lead", "edm": "supersaw", "ambient": "synth pad"},
    "@keys": {"default": "piano", "lofi": "electric piano", "rnb": "electric piano", "funk": "electric piano",
              "reggae": "organ"},
}

# A negated generic word rules out what it stands for, not one concrete instrument: "no drums"
# is every drum part, "no guitars" every guitar, "no vocals" every voice (plan.excluded entries,
# read by models/instruments.ruled_out).
EXCLUDED_AS = {"@drums": "drums", "@percussion": "drums", "@bass": "bass", "@guitar": "guitar", "@synth": "synth",
               "@keys": "keys", "voice": "vocals"}

# When a style's palette instrument for a role is ruled out ("no guitar" rules out the bass
# guitar too) but the role is not, the first of these that is still allowed plays it.
ROLE_SUBSTITUTES: dict[str, tuple[str, ...]] = {
    "drums": ("percussion", "electronic drums"), "bass": ("synth bass", "acoustic bass", "contrabass"),
    "harmony": ("piano", "synth pluck", "harp"), "melody": ("synth lead", "flute", "violin"),
    "pad": ("synth pad", "strings", "choir"),
}

# In a Japanese prompt, a Chinese instrument word names its Japanese relative (琴 is a koto in
# Japanese, a guqin in Chinese).
JAPANESE_RELATIVES = {"guzheng": "koto", "guqin": "koto", "pipa": "shamisen", "xiao": "shakuhachi"}

# When nothing names a genre, the instruments named can: Chinese instruments give a
# Chinese style, an orchestral line-up gives classical, and otherwise the first rule of
# INSTRUMENT_STYLE_HINTS with an instrument in the prompt decides.
CHINESE_INSTRUMENTS = frozenset({"guzheng", "pipa", "erhu", "dizi", "xiao", "guqin", "yangqin", "sheng", "suona",
                                 "chinese percussion", "morin khuur", "hulusi"})
JAPANESE_INSTRUMENTS = frozenset({"koto", "shamisen", "shakuhachi"})
BAND_INSTRUMENTS = frozenset({"drum kit", "electronic drums", "bass guitar", "synth bass", "electric guitar",
                              "distorted guitar", "synth lead", "synth pad", "supersaw", "slap bass"})
ORCHESTRAL_INSTRUMENTS = frozenset({"piano", "violin", "viola", "cello", "contrabass", "strings", "harp",
                                    "pizzicato strings", "french horn", "oboe", "clarinet", "flute", "harpsichord",
                                    "choir", "celesta", "trumpet", "trombone", "tuba", "brass"})
INSTRUMENT_STYLE_HINTS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"distorted guitar"}), "rock"),
    (frozenset({"banjo", "fiddle", "steel guitar"}), "country"),
    (frozenset({"saxophone", "acoustic bass", "vibraphone"}), "jazz"),
    (frozenset({"supersaw", "electronic drums", "synth bass", "synth pluck"}), "edm"),
    (frozenset({"slap bass"}), "funk"),
    (frozenset({"steelpan"}), "reggae"),
    (frozenset({"harmonica"}), "blues"),
    (frozenset({"nylon guitar"}), "latin"),
    (frozenset({"acoustic guitar"}), "folk"),
    (frozenset({"electric guitar"}), "rock"),
    (frozenset({"synth pad"}), "ambient"),
    (frozenset({"electric piano"}), "lofi"),
)


# ---------------------------------------------------------------------------------------
# Genres. `level` says how specific a genre word is, which decides between several in one
# prompt (rules.py, `_choose_genre`):
#   0  a sound word more often than a genre ("electronic drums", "ambient sounds", "epic");
#      it decides only when nothing else names a genre
#   1  the umbrella "pop" (流行): yields to any other genre named beside it (流行, 民谣 → folk)
#   2  a genre (rock, hip hop, folk, 民谣, 电子)
#   3  a sub-genre, compound or regional genre (pop rock, house, trap, 中国风, J-pop, 演歌):
#      wins over its own genre (嘻哈, 陷阱 → trap)


@dataclass(frozen=True)
class Genre:
    label: str  # the genre as the plan names it (may be a sub-genre)
    style: str  # composer style, one of models/styles.STYLE_NAMES
    words: tuple[str, ...]  # surface forms
    level: int = 2  # 0 sound word, 1 umbrella, 2 genre, 3 sub-genre (above)
    tempo: tuple[float, float] | None = None  # typical BPM when the sub-genre is narrower than its style
    beats_per_bar: int | None = None  # the metre a genre implies (a waltz is in 3)


GENRES: tuple[Genre, ...] = (
    # Chinese styles: 国风 pop, 古风, traditional music, Chinese rap and pop
    Genre("guofeng", "guofeng", ("国风", "中国风", "guofeng", "chinese style", "chinese-style", "chinese pop style",
                                 "新国风", "国潮", "中国風"), level=3),
    Genre("gufeng", "guofeng", ("古风", "gufeng", "ancient chinese style", "ancient style"), level=3),
    Genre("chinese traditional", "chinese_traditional", (
        "民乐", "民族音乐", "民族乐", "中国传统音乐", "传统音乐", "传统民乐", "国乐", "丝竹", "江南丝竹", "古曲",
        "chinese traditional", "traditional chinese", "chinese folk", "chinese classical", "chinese instrumental"),
        level=3),
    Genre("chinese folk tune", "chinese_traditional", ("民歌", "小调民歌", "山歌", "蒙古长调", "长调"), level=3),
    Genre("chinese opera", "chinese_traditional", ("戏曲", "京剧", "昆曲", "越剧", "黄梅戏", "豫剧", "粤剧", "戏腔",
                                                   "peking opera", "chinese opera", "beijing opera"), level=3),
    Genre("chinese hip hop", "hiphop", ("中文说唱", "华语说唱", "国语说唱", "粤语说唱", "中文rap", "chinese rap",
                                        "chinese hip hop", "chinese hip-hop", "mandarin rap", "c-rap"), level=3),
    Genre("mandopop", "pop", ("华语流行", "国语流行", "中文流行", "华语流行歌", "mandopop", "c-pop", "cpop",
                              "mandarin pop", "chinese pop"), level=3),
    Genre("cantopop", "pop", ("粤语流行", "粤语歌", "粤语歌曲", "cantopop", "canto-pop", "cantonese pop"), level=3),
    Genre("dj dance", "edm", ("dj", "dj舞曲", "dj版", "dj remix", "dj mix", "dj set", "慢摇", "夜店舞曲"), level=3,
          tempo=(124, 140)),
    # Japanese and Korean
    Genre("j-pop", "pop", ("j-pop", "jpop", "ジェイポップ", "jポップ", "日系流行", "日语流行", "日本流行"), level=3),
    Genre("k-pop", "pop", ("k-pop", "kpop", "韩流", "韩国流行", "韩式流行", "ケーポップ"), level=3),
    Genre("city pop", "funk", ("city pop", "city-pop", "シティポップ", "シティ・ポップ", "城市流行", "都市流行"),
          level=3, tempo=(96, 118)),
    Genre("enka", "pop", ("enka", "演歌"), level=3, tempo=(60, 84)),
    Genre("anime song", "rock", ("anime song", "anisong", "anison", "anime opening", "anime theme", "anime ending",
                                 "アニソン", "アニメソング", "アニメ主題歌", "アニメの主題歌", "动漫歌曲",
                                 "二次元歌曲"),
          level=3, tempo=(140, 180)),
    Genre("vocaloid", "edm", ("vocaloid", "ボカロ", "ボーカロイド", "ボカロ曲", "初音ミク", "术力口", "v家"),
          level=3, tempo=(130, 170)),
    Genre("japanese traditional", "chinese_traditional", (
        "和風", "和楽器", "雅楽", "民謡", "邦楽", "japanese traditional", "traditional japanese", "japanese folk",
        "wafu", "gagaku"), level=3),
    Genre("j-rock", "rock", ("j-rock", "jrock", "ジェイロック", "邦ロック"), level=3),
    # pop and its kin
    Genre("pop", "pop", ("pop", "pop music", "pop song", "pop songs", "流行", "流行乐", "流行音乐",
                         "流行歌曲", "流行歌", "teen pop", "power pop", "bubblegum", "ポップ", "ポップス",
                         "ポップソング", "ポップミュージック"), level=1),
    Genre("dance pop", "pop", ("dance pop", "dance-pop", "流行舞曲", "舞曲流行", "ダンスポップ"), level=3,
          tempo=(112, 128)),
    Genre("electropop", "edm", ("electropop", "electro-pop", "电子流行", "流行电子", "エレクトロポップ"), level=3,
          tempo=(110, 128)),
    Genre("synth-pop", "pop", ("synth-pop", "synthpop", "synth pop", "合成器流行", "シンセポップ"), level=3),
    Genre("indie pop", "pop", ("indie pop", "indie-pop", "独立流行", "インディーポップ"), level=3),
    Genre("christian pop", "pop", ("christian pop", "ccm", "contemporary christian", "worship music",
                                   "praise and worship", "敬拜赞美", "赞美诗"), level=3),
    Genre("dream pop", "pop", ("dream pop", "dream-pop", "梦幻流行", "ドリームポップ"), level=3),
    Genre("rock ballad", "rock", ("rock ballad", "power ballad", "摇滚抒情", "抒情摇滚", "ロックバラード"), level=3,
          tempo=(64, 84)),
    Genre("ballad", "pop", ("ballad", "piano ballad", "pop ballad", "抒情歌", "情歌", "抒情流行",
                            "抒情歌曲", "バラード", "ラブバラード"), level=3, tempo=(62, 80)),
    Genre("children's song", "pop", ("children's song", "childrens song", "kids song", "kids' song", "nursery rhyme",
                                     "儿歌", "童谣", "童謡", "子供の歌"), level=3, tempo=(96, 124)),
    Genre("lo-fi hip hop", "lofi", ("lo-fi", "lofi", "lo fi", "lo-fi hip hop", "lofi hip hop", "chillhop",
                                    "低保真", "chill beats", "lofi beats", "lo-fi beats", "ローファイ", "ロウファイ",
                                    "ローファイヒップホップ")),
    Genre("hip hop", "hiphop", ("hip hop", "hip-hop", "hiphop", "rap", "说唱", "嘻哈", "饶舌", "gangsta rap",
                                "ヒップホップ", "ラップ")),
    Genre("boom bap", "hiphop", ("boom bap", "boom-bap", "ブーンバップ"), level=3, tempo=(84, 96)),
    Genre("trap", "hiphop", ("trap", "trap music", "陷阱", "陷阱音乐", "トラップ"), level=3, tempo=(130, 150)),
    Genre("drill", "hiphop", ("drill", "uk drill", "ドリル"), level=3, tempo=(138, 146)),
    Genre("trip hop", "lofi", ("trip hop", "trip-hop", "神游舞曲", "トリップホップ"), level=3, tempo=(75, 95)),
    # rock and metal
    Genre("rock", "rock", ("rock", "rock music", "rock song", "摇滚", "摇滚乐", "ロック", "ロックバンド")),
    Genre("pop rock", "rock", ("pop rock", "pop-rock", "流行摇滚", "ポップロック"), level=3),
    Genre("hard rock", "rock", ("hard rock", "硬摇滚", "ハードロック"), level=3),
    Genre("alternative rock", "rock", ("alternative rock", "alt rock", "alt-rock", "另类摇滚",
                                       "オルタナ", "オルタナティブロック"), level=3),
    Genre("indie rock", "rock", ("indie rock", "独立摇滚", "インディーロック"), level=3),
    Genre("classic rock", "rock", ("classic rock", "经典摇滚", "クラシックロック"), level=3),
    Genre("soft rock", "rock", ("soft rock", "软摇滚", "ソフトロック"), level=3),
    Genre("garage rock", "rock", ("garage rock", "车库摇滚", "ガレージロック"), level=3),
    Genre("grunge", "rock", ("grunge", "垃圾摇滚", "グランジ"), level=3),
    Genre("britpop", "rock", ("britpop", "brit-pop", "英伦摇滚", "英式摇滚", "ブリットポップ"), level=3),
    Genre("post-rock", "rock", ("post-rock", "post rock", "后摇", "后摇滚", "ポストロック"), level=3),
    Genre("progressive rock", "rock", ("progressive rock", "prog rock", "prog-rock", "前卫摇滚", "プログレ"), level=3),
    Genre("psychedelic rock", "rock", ("psychedelic rock", "psych rock", "迷幻摇滚", "サイケデリックロック"), level=3),
    Genre("folk rock", "rock", ("folk rock", "folk-rock", "民谣摇滚", "摇滚民谣", "フォークロック"), level=3),
    Genre("blues rock", "rock", ("blues rock", "blues-rock", "布鲁斯摇滚", "蓝调摇滚", "ブルースロック"), level=3),
    Genre("shoegaze", "rock", ("shoegaze", "shoegazing", "盯鞋", "シューゲイザー"), level=3),
    Genre("emo", "rock", ("emo", "情绪摇滚", "情绪硬核"), level=3),
    Genre("rock and roll", "rock", ("rock and roll", "rock 'n' roll", "rock n roll", "rock'n'roll", "rockabilly",
                                    "ロックンロール", "ロカビリー"), level=3, tempo=(150, 180)),
    Genre("punk", "rock", ("punk", "punk rock", "朋克", "パンク", "パンクロック"), level=3, tempo=(150, 190)),
    Genre("post-punk", "rock", ("post-punk", "post punk", "new wave", "后朋克", "新浪潮", "ポストパンク",
                                "ニューウェーブ"), level=3, tempo=(120, 150)),
    Genre("pop punk", "rock", ("pop punk", "pop-punk", "流行朋克", "ポップパンク"), level=3, tempo=(150, 190)),
    Genre("metal", "metal", ("metal", "heavy metal", "金属", "重金属", "金属乐", "メタル", "ヘヴィメタル", "ヘビメタ")),
    Genre("metalcore", "metal", ("metalcore", "金属核", "メタルコア"), level=3),
    Genre("death metal", "metal", ("death metal", "死亡金属", "デスメタル"), level=3),
    Genre("thrash metal", "metal", ("thrash metal", "thrash", "激流金属", "スラッシュメタル"), level=3),
    Genre("black metal", "metal", ("black metal", "黑金属", "ブラックメタル"), level=3),
    Genre("nu metal", "metal", ("nu metal", "nu-metal", "新金属", "ニューメタル"), level=3),
    Genre("power metal", "metal", ("power metal", "力量金属", "パワーメタル"), level=3),
    Genre("djent", "metal", ("djent",), level=3),
    # electronic
    Genre("edm", "edm", ("edm", "electronic dance music", "电子舞曲", "电音", "big room")),
    Genre("electronic", "edm", ("electronic music", "electronica", "电子音乐", "电子乐", "电子", "エレクトロ",
                                "エレクトロニカ", "エレクトロニック", "電子音楽", "テクノポップ")),
    Genre("electronic", "edm", ("electronic",), level=0),
    Genre("house", "edm", ("house", "house music", "tech house", "progressive house", "electro house", "浩室",
                           "浩室舞曲", "ハウス", "ハウスミュージック"), level=3, tempo=(120, 126)),
    Genre("deep house", "edm", ("deep house", "深度浩室", "ディープハウス"), level=3, tempo=(118, 124)),
    Genre("techno", "edm", ("techno", "科技舞曲", "铁克诺", "テクノ"), level=3, tempo=(125, 135)),
    Genre("trance", "edm", ("trance", "psytrance", "迷幻舞曲", "トランス"), level=3, tempo=(132, 140)),
    Genre("dubstep", "edm", ("dubstep", "回响贝斯", "ダブステップ"), level=3, tempo=(138, 142)),
    Genre("drum and bass", "edm", ("drum and bass", "drum & bass", "drum'n'bass", "drum n bass", "dnb", "jungle",
                                   "鼓打贝斯", "ドラムンベース"), level=3, tempo=(170, 176)),
    Genre("synthwave", "edm", ("synthwave", "retrowave", "outrun", "vaporwave", "chiptune", "8-bit", "8 bit",
                               "合成器浪潮", "シンセウェイブ", "チップチューン"), level=3, tempo=(80, 118)),
    Genre("future bass", "edm", ("future bass", "未来贝斯", "フューチャーベース"), level=3, tempo=(140, 160)),
    Genre("hardstyle", "edm", ("hardstyle", "硬派舞曲", "ハードスタイル"), level=3, tempo=(150, 155)),
    Genre("eurobeat", "edm", ("eurobeat", "欧陆舞曲", "ユーロビート"), level=3, tempo=(150, 160)),
    Genre("dance", "edm", ("dance", "dance music", "club", "舞曲", "ダンス", "ダンスミュージック"), level=0),
    # jazz, soul, funk, blues
    Genre("jazz", "jazz", ("jazz", "jazzy", "爵士", "爵士乐", "ジャズ")),
    Genre("swing", "jazz", ("swing", "摇摆乐", "スウィング", "スイングジャズ"), level=3),
    Genre("bebop", "jazz", ("bebop", "be-bop", "比波普", "ビバップ"), level=3),
    Genre("big band", "jazz", ("big band", "大乐队", "ビッグバンド"), level=3),
    Genre("jazz ballad", "jazz", ("jazz ballad", "爵士抒情", "ジャズバラード"), level=3, tempo=(60, 80)),
    Genre("smooth jazz", "jazz", ("smooth jazz", "柔和爵士", "スムースジャズ", "スムーズジャズ"), level=3),
    Genre("jazz fusion", "jazz", ("jazz fusion", "fusion", "融合爵士", "フュージョン"), level=3),
    Genre("cool jazz", "jazz", ("cool jazz", "酷派爵士", "クールジャズ"), level=3),
    Genre("acid jazz", "jazz", ("acid jazz", "酸爵士", "アシッドジャズ"), level=3),
    Genre("r&b", "rnb", ("r&b", "rnb", "r'n'b", "rhythm and blues", "slow jam", "节奏布鲁斯", "节奏蓝调")),
    Genre("neo soul", "rnb", ("neo-soul", "neo soul", "新灵魂乐", "ネオソウル"), level=3),
    Genre("soul", "rnb", ("soul", "soul music", "motown", "灵魂乐", "摩城", "ソウルミュージック")),
    Genre("gospel", "rnb", ("gospel", "福音", "福音音乐", "ゴスペル"), level=3),
    Genre("funk", "funk", ("funk", "funky", "放克", "ファンク", "ファンキー")),
    Genre("disco", "funk", ("disco", "nu-disco", "迪斯科", "迪斯可", "ディスコ"), level=3, tempo=(110, 128)),
    Genre("blues", "blues", ("blues", "bluesy", "delta blues", "12-bar blues", "twelve-bar blues", "蓝调", "布鲁斯",
                             "布鲁斯音乐", "ブルース")),
    # acoustic and roots
    Genre("folk", "folk", ("folk", "folk song", "folk music", "singer-songwriter", "acoustic folk", "民谣",
                           "城市民谣", "校园民谣", "フォーク", "フォークソング")),
    Genre("indie folk", "folk", ("indie folk", "独立民谣", "インディーフォーク"), level=3),
    Genre("celtic", "folk", ("celtic", "irish", "irish folk", "scottish folk", "jig", "jigs", "hornpipe", "凯尔特",
                             "爱尔兰", "爱尔兰民谣", "吉格舞曲", "ケルト", "ケルト音楽", "アイリッシュ"), level=3),
    Genre("acoustic", "folk", ("acoustic", "unplugged", "不插电", "アコースティック"), level=0),
    Genre("country", "country", ("country", "country music", "americana", "honky tonk", "honky-tonk", "western",
                                 "乡村", "乡村音乐", "カントリー")),
    Genre("country pop", "country", ("country pop", "乡村流行", "カントリーポップ"), level=3),
    Genre("bluegrass", "country", ("bluegrass", "蓝草", "ブルーグラス"), level=3),
    Genre("western swing", "country", ("western swing",), level=3),
    Genre("reggae", "reggae", ("reggae", "dub", "雷鬼", "レゲエ")),
    Genre("ska", "reggae", ("ska", "斯卡"), level=3),
    Genre("dancehall", "reggae", ("dancehall", "舞厅雷鬼", "ダンスホール"), level=3),
    Genre("bossa nova", "latin", ("bossa nova", "bossa", "波萨诺瓦", "巴萨诺瓦", "ボサノバ", "ボサノヴァ"), level=3,
          tempo=(110, 140)),
    Genre("latin", "latin", ("latin", "cumbia", "rumba", "mambo", "cha-cha", "拉丁", "ラテン", "ルンバ", "マンボ")),
    Genre("salsa", "latin", ("salsa", "萨尔萨", "サルサ"), level=3),
    Genre("samba", "latin", ("samba", "桑巴", "サンバ"), level=3),
    Genre("tango", "latin", ("tango", "探戈", "タンゴ"), level=3),
    Genre("flamenco", "latin", ("flamenco", "弗拉明戈", "フラメンコ"), level=3),
    Genre("reggaeton", "latin", ("reggaeton", "雷鬼动", "レゲトン"), level=3),
    # orchestral and atmospheric
    Genre("classical", "classical", ("classical", "classical music", "chamber music", "string quartet",
                                     "sonata", "concerto", "etude", "nocturne", "minuet", "romantic era",
                                     "古典", "古典音乐", "古典乐", "室内乐", "奏鸣曲", "协奏曲", "夜曲", "小步舞曲",
                                     "クラシック", "クラシック音楽", "室内楽", "ソナタ", "協奏曲", "夜想曲")),
    Genre("baroque", "classical", ("baroque", "巴洛克", "バロック"), level=3),
    Genre("symphonic", "classical", ("symphony", "symphonic", "交响乐", "交響曲", "シンフォニー"), level=3),
    Genre("waltz", "classical", ("waltz", "valse", "华尔兹", "圆舞曲", "ワルツ"), level=3, tempo=(84, 100),
          beats_per_bar=3),
    Genre("march", "classical", ("march", "military march", "marching band", "进行曲", "マーチ", "行進曲"), level=3,
          tempo=(110, 124), beats_per_bar=2),
    Genre("lullaby", "classical", ("lullaby", "berceuse", "摇篮曲", "催眠曲", "子守唄", "子守歌"), level=3,
          tempo=(60, 76)),
    Genre("cinematic", "cinematic", ("cinematic", "film score", "movie score", "soundtrack", "film music",
                                     "trailer music", "epic orchestral", "orchestral score", "game music",
                                     "movie theme", "film theme", "movie music",
                                     "video game music", "电影配乐", "影视配乐", "配乐", "游戏配乐", "原声",
                                     "サウンドトラック", "サントラ", "劇伴", "映画音楽", "ゲーム音楽")),
    Genre("orchestral", "cinematic", ("orchestral", "orchestra", "管弦", "管弦乐", "交响", "オーケストラ"), level=0),
    Genre("epic", "cinematic", ("epic", "史诗", "史诗级"), level=0),
    Genre("ambient", "ambient", ("ambient music", "drone", "new age", "new-age", "meditation music", "meditation",
                                 "spa music", "sleep music", "氛围音乐", "环境音乐", "冥想", "冥想音乐", "新世纪音乐",
                                 "助眠", "アンビエント", "ヒーリング", "ヒーリングミュージック", "瞑想",
                                 "ニューエイジ")),
    Genre("light music", "ambient", ("轻音乐", "easy listening", "イージーリスニング"), level=3, tempo=(66, 96)),
    Genre("ambient", "ambient", ("ambient", "ambience", "atmospheric", "soundscape", "氛围"), level=0),
)

# Genre words that are also everyday words: a hit counts as the genre only in its musical
# sense (parse.genre_sense). "a house in the countryside", "the whole country", "rock-solid",
# "in a funk", "in a trance", "my soul", "a folk tale", "the metal gate" name no genre;
# "a house track", "country music", "some rock", "house, 124 bpm" do.
GENRE_HOMONYMS = frozenset({"house", "rock", "metal", "country", "soul", "folk", "funk", "trance", "drone", "trap",
                            "drill", "jungle", "club", "dance", "gospel", "pop", "punk", "western", "fusion",
                            "meditation"})
# Nouns that, right after a genre word, make it the genre ("a country song", "house-style").
MUSIC_NOUNS = frozenset({
    "song", "songs", "track", "tracks", "tune", "tunes", "music", "beat", "beats", "groove", "grooves", "number",
    "piece", "banger", "anthem", "jam", "vibe", "vibes", "feel", "style", "styled", "sound", "sounds", "band",
    "group", "singer", "vocals", "vocal", "artist", "record", "album", "single", "production", "instrumental",
    "remix", "mix", "ballad", "riff", "riffs", "guitar", "guitars", "bass", "bassline", "drums", "rhythm",
    "station", "radio", "star", "festival", "scene", "legend", "cover", "version", "classic", "hit", "standard",
    "tradition", "traditional", "genre", "opera", "singing", "melody", "chords", "progression", "lick", "licks",
    "rhythms", "loop", "loops", "set", "playlist", "cue", "score", "theme", "verse", "chorus", "hook", "arrangement",
    "influence", "influences", "influenced", "inspired", "tinged", "flavored", "flavoured", "infused", "esque",
    "ish", "leaning", "oriented", "driven", "based", "type", "inflected", "era", "revival", "fusion", "edge",
    "elements", "touches", "undertones", "accents", "duo", "trio", "quartet", "ensemble", "orchestra",
    "choir", "dj", "producer", "drummer", "drummers", "musician", "musicians", "player", "players", "fan", "fans",
    "sample", "samples", "chill", "club", "clubs", "concert", "gig", "show", "venue", "flavor", "flavour", "twist",
    "touch", "pop", "rock", "jazz", "blues", "folk", "punk", "metal", "soul", "funk", "dance", "trance",
    "techno", "rap", "hop", "country", "electronic", "tempo",
})
# Everyday nouns and verbs' objects that, right after a genre word, mean the everyday word
# ("rock bottom", "house party", "folk tale", "metal pipes", "trap door").
EVERYDAY_FOLLOWERS = frozenset({
    "solid", "bottom", "hard", "climbing", "formation", "formations", "garden", "face", "wall", "pool", "salt",
    "candy", "party", "parties", "plant", "plants", "cat", "hold", "keeping", "arrest", "boat", "warming",
    "tale", "tales", "lore", "art", "hero", "heroes", "wisdom", "remedy", "costume", "costumes", "dress",
    "food", "mate", "mates", "searching", "objects", "object", "pipe", "pipes", "bowl", "bowls", "plate", "plates",
    "sheet", "sheets", "bars", "chain", "chains", "gate", "gates", "door", "doors", "roof", "fence", "bucket",
    "detector", "detectors", "scrap", "sword", "armour", "armor", "frame", "clanging", "clang", "scraping", "bit",
    "sergeant", "press", "sandwich", "soda", "card", "side", "kitchen", "lesson", "lessons", "class", "teacher",
    "shoes", "partner", "state", "house", "houses", "estate", "manor", "lane",
})
# Genre words that name a genre only as a tag of their own ("流行 dj 女声") or before a music
# noun ("a DJ set"): "DJ scratches" are a sound, not a genre.
TAG_ONLY_GENRES = frozenset({"dj"})
# Chinese genre words that are also everyday words (乡村 "rural", 金属 "metal, the material",
# 电子 "electronic, of devices"): the genre only when a music word, punctuation or the end
# follows (乡村音乐 is a word of its own; 乡村风, 以电子为主 and "流行, 电子" are the genre; 乡村小路,
# 金属质感, 电子元素 are not).
ZH_GENRE_HOMONYMS = frozenset({"乡村", "金属", "电子", "原声", "福音", "氛围"})
ZH_MUSIC_FOLLOWERS = ("音乐", "乐", "歌", "曲", "风", "摇滚", "民谣", "流行", "说唱", "舞曲", "爵士", "朋克", "核",
                      "金属", "电子", "节奏", "版", "系", "为主", "为基调", "为底色", "主导")  # 以电子为主: electronic
# Words beside a genre that make it an influence, not the genre of the piece ("pop with jazz
# influences", "a touch of funk", "融合了爵士元素"): an influence never wins over a genre.
INFLUENCE_AFTER = ("influences", "influence", "influenced", "inspired", "tinged", "flavored", "flavoured", "feel",
                   "vibe", "vibes", "flavor", "flavour", "touch", "twist", "sensibility", "leanings",
                   "elements", "element", "touches", "undertones", "overtones", "accents", "leanings", "hints",
                   "flourishes", "edge", "colours", "colors", "元素", "风味", "色彩", "味道", "影响", "要素",
                   "テイスト", "風味")
# Words before a genre that say where the piece could be used, not what it is ("a pop piece
# that could be included in the soundtrack of a movie", "适合用于电影配乐"): counted like an influence.
USAGE_BEFORE = ("used in", "used for", "used as", "included in", "played in", "playing in", "played at", "playing at",
                "heard in", "heard at", "featured in", "fit for", "fits", "fit in", "suitable for", "perfect for",
                "ideal for", "great for", "background of", "适合", "适合用于", "适合作为", "用于", "用在", "可用于")
INFLUENCE_BEFORE = ("hints of", "hint of", "touch of", "touches of", "elements of", "influenced by", "inspired by",
                    "a bit of", "a dash of", "shades of", "nods to", "a nod to", "flavors of", "flavours of",
                    "traces of", "bits of", "a little", "tinged with", "borrowing from", "融合", "融合了", "带有",
                    "带点", "加入", "加入了", "夹杂", "结合", "结合了", "借鉴")

# ---------------------------------------------------------------------------------------
# Moods. `mode` is what a mood says about major/minor (None: nothing), `energy` the
# overall intensity it asks for (0..1). A `core` mood is an emotion (sad, happy, angry);
# the others colour it (light, warm, dreamy). When moods disagree about mode, the first
# core mood decides and the plan records the conflict: "light and sad" is sad, softly.


@dataclass(frozen=True)
class Mood:
    name: str  # canonical English name, as the plan lists it
    words: tuple[str, ...]
    mode: str | None
    energy: float
    core: bool


MOODS: tuple[Mood, ...] = (
    Mood("happy", ("happy", "happiness", "joyful", "joyous", "joy", "cheerful", "glad", "merry", "jolly", "fun",
                   "festive", "celebratory", "快乐", "开心", "欢乐", "愉快", "喜悦", "高兴", "喜庆", "欢喜", "幸福",
                   "楽しい", "楽しげ", "ハッピー", "嬉しい", "うれしい", "陽気"),
         "major", 0.7, True),
    Mood("sad", ("sad", "sadness", "sorrowful", "sorrow", "mournful", "heartbroken", "heartbreaking", "grief",
                 "grieving", "tearful", "tragic", "depressing", "悲伤", "伤感", "忧伤", "难过", "哀伤", "悲痛",
                 "悲凉", "凄凉", "心碎", "哀愁", "伤心", "悲", "悲しい", "悲しげ", "哀しい", "泣ける",
                 "悲しみ"), "minor", 0.3, True),
    Mood("melancholic", ("melancholic", "melancholy", "somber", "sombre", "gloomy", "bittersweet", "wistful",
                         "忧郁", "惆怅", "哀婉", "凄美", "低沉", "切ない", "せつない", "メランコリック",
                         "憂鬱", "哀愁漂う"), "minor", 0.35, True),
    Mood("angry", ("angry", "anger", "furious", "rage", "aggressive", "violent", "hostile", "愤怒", "狂暴", "暴躁",
                   "咆哮", "怒り", "攻撃的"), "minor", 0.95, True),
    Mood("dark", ("dark", "ominous", "sinister", "menacing", "eerie", "creepy", "haunting", "scary", "horror",
                  "spooky", "黑暗", "阴暗", "诡异", "恐怖", "阴森", "暗黑", "暗い", "ダーク", "不気味",
                  "ホラー", "怖い"), "minor", 0.55, True),
    Mood("tense", ("tense", "suspenseful", "suspense", "anxious", "nervous", "urgent", "紧张", "悬疑", "焦虑",
                   "紧迫", "緊張感", "緊迫", "スリリング"), "minor", 0.7, True),
    Mood("lonely", ("lonely", "loneliness", "lonesome", "isolated", "孤独", "寂寞", "孤单", "寂しい",
                    "さみしい", "さびしい"), "minor", 0.3, True),
    Mood("mysterious", ("mysterious", "mystical", "mystic", "enigmatic", "神秘", "玄妙", "ミステリアス", "謎めいた"),
         "minor", 0.4, True),
    Mood("epic", ("epic", "heroic", "majestic", "grand", "triumphant", "anthemic", "powerful", "史诗", "恢弘",
                  "恢宏", "壮丽", "宏大", "磅礴", "大气", "豪迈", "壮阔", "壮大", "勇壮", "エピック",
                  "力強い", "ドラマチック"), None, 0.9, True),
    Mood("romantic", ("romantic", "romance", "loving", "in love", "sweet", "tender", "sensual", "浪漫", "甜蜜",
                      "爱情", "温柔", "柔情", "ロマンチック", "ロマンティック", "甘い"), "major", 0.45,
         True),
    Mood("hopeful", ("hopeful", "uplifting", "inspiring", "inspirational", "optimistic", "encouraging",
                     "希望", "励志", "积极", "向上", "鼓舞", "前向き", "希望に満ちた"), "major", 0.65,
         True),
    Mood("nostalgic", ("nostalgic", "nostalgia", "reminiscent", "sentimental", "怀旧", "思念", "回忆", "乡愁",
                       "怀念", "懐かしい", "ノスタルジック", "郷愁"), None, 0.4, True),
    Mood("energetic", ("energetic", "high-energy", "high energy", "intense", "driving", "lively", "vigorous",
                       "exciting", "excited", "pumping", "hype", "动感", "激情", "热血", "活力", "有力", "燃",
                       "热烈", "激烈", "奔放", "激昂", "劲爆", "激しい", "元気", "エネルギッシュ", "パワフル",
                       "熱い", "アツい", "疾走感"), None, 0.85, False),
    Mood("calm", ("calm", "calming", "peaceful", "serene", "tranquil", "relaxing", "relaxed", "soothing", "chill",
                  "chilled", "laid-back", "laid back", "mellow", "gentle", "soft", "quiet", "meditative",
                  "平静", "宁静", "安静", "放松", "安详", "恬静", "轻柔", "柔和", "治愈", "静谧", "悠闲",
                  "慵懒", "穏やか", "静か", "落ち着いた", "癒し", "優しい", "やさしい", "リラックス", "チル",
                  "しっとり", "まったり"),
         None, 0.25, False),
    Mood("dreamy", ("dreamy", "dreamlike", "ethereal", "floating", "hazy", "spacey", "梦幻", "空灵", "朦胧",
                   "唯美", "幻想的", "夢のような", "ドリーミー", "浮遊感"), None, 0.35, False),
    Mood("upbeat", ("upbeat", "bouncy", "catchy", "欢快", "明快", "俏皮", "活泼", "ノリノリ", "軽快"), "major", 0.72,
         False),
    Mood("playful", ("playful", "whimsical", "quirky", "cute", "silly", "可爱", "调皮", "诙谐", "かわいい",
                     "可愛い"), "major", 0.6, False),
    Mood("light", ("light", "lighthearted", "light-hearted", "airy", "breezy", "carefree", "轻松", "轻盈", "轻快",
                   "軽やか"), "major", 0.45, False),
    Mood("warm", ("warm", "cozy", "cosy", "comforting", "温暖", "温馨", "温かい", "暖かい", "あたたかい"), "major",
         0.45, False),
    Mood("bright", ("bright", "sunny", "summery", "明亮", "阳光", "灿烂", "清新", "明るい", "明るく", "爽やか",
                   "さわやか", "晴れやか", "爽快"), "major", 0.6, False),
    Mood("solemn", ("solemn", "serious", "reverent", "sacred", "spiritual", "庄严", "肃穆", "庄重", "神圣",
                    "荘厳", "厳か", "神聖"),
         None, 0.4, False),
    Mood("groovy", ("groovy", "grooving", "律动", "グルーヴィー", "グルーヴ", "ノリのいい"), None, 0.7, False),
    Mood("emotional", ("emotional", "heartfelt", "moving", "poignant", "touching", "soulful", "抒情", "深情",
                       "感人", "动人", "エモい", "エモーショナル", "感動的"), None, 0.45, False),
)

# ---------------------------------------------------------------------------------------
# Instruments: surface words → canonical names (INSTRUMENTS keys) or a generic "@role".

INSTRUMENT_WORDS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    # drums and percussion
    (("drum", "drums", "drum kit", "drumkit", "drum set", "drummer", "kick", "kick drum", "snare", "snare drum",
      "hi-hat", "hihat", "hi hat", "hats", "cymbal", "cymbals", "toms", "ride cymbal", "backbeat",
      "鼓", "鼓组", "鼓点", "底鼓", "军鼓", "镲", "ドラム", "ドラムス", "ドラムセット", "スネア", "キック",
      "ハイハット", "シンバル", "リズム隊"), ("@drums",)),
    (("live drums", "acoustic drums", "架子鼓", "爵士鼓"), ("drum kit",)),
    (("drum machine", "electronic drums", "electronic drum", "electronic beat", "808 drums", "909", "trap hats",
      "programmed drums", "digital drum", "digital drums", "电子鼓", "鼓机", "ドラムマシン", "打ち込み",
      "打ち込みドラム", "リズムマシン"), ("electronic drums",)),
    (("percussion", "percussions", "打击乐", "打击乐器", "パーカッション"), ("@percussion",)),
    (("shaker", "shakers", "tambourine", "conga", "congas", "bongo", "bongos", "claps",
      "handclaps", "hand claps", "clapping", "timpani", "taiko", "cajon", "woodblock", "triangle", "cowbell",
      "timbales", "maracas", "guiro", "castanets", "finger snaps", "finger snapping", "snaps", "tabla", "djembe",
      "沙锤", "铃鼓", "手鼓", "定音鼓", "木鱼", "拍手", "太鼓", "和太鼓", "タンバリン",
      "手拍子", "クラップ", "シェイカー", "ボンゴ", "コンガ", "カホン"), ("percussion",)),
    # words that contain an instrument word but name none (鼓舞 "inspiring", not a drum)
    (("鼓舞", "鼓励", "鼓起", "笛声般", "琴弦", "bass pitch", "bass register", "bass range", "bass frequencies",
      "bass frequency", "bass end", "bass boost", "bass-heavy"), ()),
    # keys
    (("piano", "pianos", "grand piano", "upright piano", "acoustic piano", "钢琴", "琴键", "电子琴", "ピアノ",
      "グランドピアノ"), ("piano",)),
    (("keys", "keyboard", "keyboards", "键盘", "键盘乐器", "キーボード", "鍵盤"), ("@keys",)),
    (("electric piano", "e-piano", "epiano", "rhodes", "wurlitzer", "fender rhodes", "电钢琴", "电钢", "エレピ",
      "エレクトリックピアノ", "ローズピアノ"),
     ("electric piano",)),
    (("organ", "hammond", "hammond organ", "church organ", "pipe organ", "风琴", "管风琴", "オルガン",
      "パイプオルガン"), ("organ",)),
    (("harpsichord", "羽管键琴", "大键琴", "チェンバロ"), ("harpsichord",)),
    (("celesta", "glockenspiel", "bells", "chimes", "钟琴", "钢片琴", "铃声", "チェレスタ", "グロッケン", "鉄琴"),
     ("celesta",)),
    (("music box", "八音盒", "音乐盒", "オルゴール"), ("music box",)),
    (("vibraphone", "vibraphones", "颤音琴", "ビブラフォン", "ヴィブラフォン"), ("vibraphone",)),
    (("marimba", "xylophone", "马林巴", "木琴", "マリンバ", "シロフォン"), ("marimba",)),
    (("accordion", "手风琴", "アコーディオン"), ("accordion",)),
    (("harmonica", "blues harp", "口琴", "ハーモニカ"), ("harmonica",)),
    # guitars and basses
    (("guitar", "guitars", "guitarist", "吉他", "ギター"), ("@guitar",)),
    (("acoustic guitar", "acoustic guitars", "folk guitar", "strummed guitar", "fingerpicked guitar", "木吉他",
      "民谣吉他", "原声吉他", "アコギ", "アコースティックギター", "フォークギター"),
     ("acoustic guitar",)),
    (("nylon guitar", "nylon-string guitar", "classical guitar", "spanish guitar", "flamenco guitar", "ukulele",
      "lute", "oud", "古典吉他", "尼龙吉他", "尤克里里", "鲁特琴", "クラシックギター", "ガットギター", "ウクレレ"),
     ("nylon guitar",)),
    (("electric guitar", "electric guitars", "clean guitar", "lead guitar", "rhythm guitar", "guitar riff",
      "guitar riffs", "电吉他", "エレキギター", "エレキ", "エレクトリックギター"), ("electric guitar",)),
    (("distorted guitar", "distorted guitars", "overdriven guitar", "heavy guitar", "heavy guitars", "power chords",
      "distortion guitar", "fuzz guitar", "失真吉他", "重型吉他", "ディストーションギター", "歪んだギター"),
     ("distorted guitar",)),
    (("steel guitar", "pedal steel", "slide guitar", "lap steel", "dobro", "夏威夷吉他", "滑棒吉他", "スライドギター",
      "スチールギター"),
     ("steel guitar",)),
    (("bass", "bassline", "bass line", "basslines", "bassist", "贝斯", "贝司", "低音", "ベース", "ベースライン"),
     ("@bass",)),
    (("bass guitar", "electric bass", "电贝斯", "低音吉他", "エレキベース"), ("bass guitar",)),
    (("upright bass", "double bass", "acoustic bass", "walking bass", "standup bass", "立式贝斯", "ウッドベース",
      "アップライトベース"), ("acoustic bass",)),
    (("contrabass", "低音提琴", "コントラバス"), ("contrabass",)),
    (("slap bass", "slapped bass", "funk bass", "击弦贝斯", "スラップベース"), ("slap bass",)),
    (("synth bass", "808", "808s", "808 bass", "sub bass", "sub-bass", "reese bass", "wobble bass", "合成器贝斯",
      "合成贝斯", "シンセベース"), ("synth bass",)),
    (("banjo", "mandolin", "班卓琴", "曼陀林", "バンジョー", "マンドリン"), ("banjo",)),
    # strings
    (("violin", "violins", "violinist", "小提琴", "提琴", "バイオリン", "ヴァイオリン"), ("violin",)),
    (("viola", "violas", "中提琴", "ビオラ", "ヴィオラ"), ("viola",)),
    (("cello", "cellos", "violoncello", "大提琴", "チェロ"), ("cello",)),
    (("strings", "string", "synth strings", "synth string", "string section", "string ensemble",
      "string orchestra", "orchestral strings", "string pads",
      "orchestra", "弦乐", "弦乐团", "弦乐组", "管弦乐团", "乐团", "ストリングス", "弦楽", "弦楽器", "オーケストラ"),
     ("strings",)),
    (("string quartet", "弦乐四重奏", "弦楽四重奏"), ("violin", "viola", "cello")),
    (("pizzicato", "pizzicato strings", "拨弦", "ピチカート", "ピッツィカート"), ("pizzicato strings",)),
    (("harp", "harps", "竖琴", "ハープ"), ("harp",)),
    (("fiddle", "fiddles", "小提琴手", "フィドル"), ("fiddle",)),
    (("morin khuur", "horsehead fiddle", "horse-head fiddle", "horse head fiddle", "马头琴", "馬頭琴"),
     ("morin khuur",)),
    # voices
    (("choir", "choirs", "choral", "chorale", "backing vocals", "backing vocal", "harmonizing vocals",
      "vocal harmonies", "合唱", "合唱团", "コーラス", "合唱団", "聖歌隊", "クワイア"), ("choir",)),
    (("vocal", "vocals", "voice", "voices", "singer", "singers", "singing", "vocalist", "vocalists", "rapper",
      "rapping", "humming", "male vocal", "female vocal", "female", "male", "人声", "歌声", "男声", "女声", "演唱",
      "歌手", "独唱",
      "哼唱", "歌词", "lyrics", "lyric", "sung", "sings", "ボーカル", "ヴォーカル", "歌詞", "ハミング",
      "女性ボーカル", "男性ボーカル",
      "弹唱", "自弹自唱", "边弹边唱", "弾き語り", "歌い手"), ("voice",)),  # 弹唱 / 弾き語り: sung to one's own playing
    # brass and winds
    (("trumpet", "trumpets", "小号", "トランペット"), ("trumpet",)),
    (("trombone", "trombones", "长号", "トロンボーン"), ("trombone",)),
    (("tuba", "tubas", "sousaphone", "大号", "チューバ"), ("tuba",)),
    (("french horn", "french horns", "圆号", "ホルン"), ("french horn",)),
    (("brass", "brass section", "horn section", "horns", "horn", "铜管", "铜管乐", "ブラス", "ホーン",
      "ホーンセクション", "金管"), ("brass",)),
    (("saxophone", "saxophones", "sax", "alto sax", "tenor sax", "saxophonist", "萨克斯", "萨克斯风", "萨克斯管",
      "サックス", "サクソフォン", "サクソフォーン"),
     ("saxophone",)),
    (("clarinet", "clarinets", "单簧管", "黑管", "クラリネット"), ("clarinet",)),
    (("oboe", "bassoon", "english horn", "双簧管", "巴松", "オーボエ", "ファゴット"), ("oboe",)),
    (("woodwind", "woodwinds", "woodwind section", "木管", "木管乐", "木管楽器"), ("flute", "clarinet")),
    (("flute", "flutes", "piccolo", "recorder", "tin whistle", "whistle", "长笛", "短笛", "竖笛", "フルート",
      "ピッコロ", "リコーダー"), ("flute",)),
    (("pan flute", "pan flutes", "panpipes", "pan pipes", "排箫", "パンフルート"), ("pan flute",)),
    (("ocarina", "ocarinas", "xun", "陶笛", "埙", "オカリナ"), ("ocarina",)),
    (("bagpipe", "bagpipes", "风笛", "バグパイプ"), ("bagpipe",)),
    (("sitar", "西塔琴", "シタール"), ("sitar",)),
    (("kalimba", "thumb piano", "mbira", "卡林巴", "拇指琴", "カリンバ"), ("kalimba",)),
    (("steelpan", "steel pan", "steel drum", "steel drums", "handpan", "hang drum", "钢鼓", "手碟", "スティールパン",
      "ハンドパン"), ("steelpan",)),
    # synths
    (("synth", "synths", "synthesizer", "synthesizers", "synthesiser", "synthesisers", "合成器", "电子合成器", "シンセ",
      "シンセサイザー"), ("@synth",)),
    (("synth lead", "lead synth", "synth melody", "synth line", "synth arpeggio", "シンセリード"), ("synth lead",)),
    (("synth pad", "synth pads", "pad", "pads", "ambient pad", "warm pad", "atmospheric pad", "铺底", "合成器铺底",
      "氛围铺底", "pad音色", "シンセパッド", "パッド"), ("synth pad",)),
    (("pluck", "plucks", "synth pluck", "plucky synth", "arpeggiator", "arpeggiated synth", "arp", "arps"),
     ("synth pluck",)),
    (("supersaw", "supersaws", "saw lead", "saw synth", "big synth chords", "超级锯齿"), ("supersaw",)),
    # Chinese instruments
    (("guzheng", "zheng", "古筝", "筝", "古琴筝"), ("guzheng",)),
    (("pipa", "琵琶", "中阮", "柳琴", "月琴", "三弦"), ("pipa",)),
    (("erhu", "huqin", "二胡", "胡琴", "板胡", "京胡"), ("erhu",)),
    (("dizi", "bamboo flute", "chinese flute", "笛子", "竹笛", "笛", "横笛", "篠笛", "龍笛"), ("dizi",)),
    (("xiao", "vertical flute", "箫", "萧", "洞箫"), ("xiao",)),
    (("guqin", "qin", "古琴", "七弦琴", "琴"), ("guqin",)),
    (("hulusi", "gourd flute", "cucurbit flute", "葫芦丝", "巴乌"), ("hulusi",)),
    (("yangqin", "hammered dulcimer", "dulcimer", "扬琴"), ("yangqin",)),
    (("sheng", "mouth organ", "笙"), ("sheng",)),
    (("suona", "唢呐"), ("suona",)),
    (("chinese percussion", "gong", "gongs", "chinese drums", "锣", "钹", "堂鼓", "大鼓", "锣鼓", "中国鼓", "战鼓",
      "编钟"), ("chinese percussion",)),
    # Japanese instruments
    (("koto", "箏", "お琴"), ("koto",)),
    (("shamisen", "三味線", "三線", "しゃみせん"), ("shamisen",)),
    (("shakuhachi", "尺八"), ("shakuhachi",)),
)

# ---------------------------------------------------------------------------------------
# Exclusions and exclusivity (read by parse.find_instrumental, find_exclusive, find_absences).
# A negated instrument word ("no drums", "without vocals", 不要人声, ドラムなし) is found by
# parse.negated_at; these are the other ways a prompt rules instruments out or in.

# The whole piece has no voice.
INSTRUMENTAL_WORDS = ("instrumental", "instrumentals", "karaoke", "karaoke version", "backing track", "non-vocal",
                      "vocalless", "vocal-less", "lyricless", "纯音乐", "纯器乐", "器乐曲", "器乐", "无人声", "无歌词",
                      "纯伴奏", "伴奏版", "伴奏带", "インスト", "インストゥルメンタル", "インスト曲", "カラオケ",
                      "歌なし", "歌無し", "ボーカルレス", "歌抜き")
# Voices only: exclusive, and sung.
A_CAPPELLA_WORDS = ("a cappella", "a capella", "acapella", "acappella", "a-cappella", "no instruments",
                    "without instruments", "without any instruments", "no instrumentation", "清唱", "无伴奏合唱",
                    "人声清唱", "无乐器", "没有乐器", "不要乐器", "不用乐器", "アカペラ", "楽器なし")
# Next to a list of named instruments, these make them the only ones that play ("only
# piano and cello", "sax only", 只有吉他, 纯钢琴, 古筝独奏, ピアノのみ, ギターだけ).
ONLY_BEFORE = ("only", "just", "solely", "purely", "exclusively", "nothing but", "nothing except", "none but",
               "keep it to", "kept to", "stick to", "sticking to", "limited to", "restricted to",
               "the only instrument is", "the only instrument being", "the sole instrument is", "only instrument:",
               "唯一的乐器是", "唯一乐器是", "唯一的乐器", "唯一的伴奏是",
               "solo", "unaccompanied", "只有", "只用", "仅有", "仅用", "只要", "唯有", "仅", "只", "纯", "单纯",
               "ソロ")
ONLY_AFTER = ("only", "alone", "solo", "on its own", "by itself", "by themselves", "独奏", "独奏曲", "单独演奏", "のみ",
              "だけ", "ソロ", "一本", "オンリー")
# Anywhere in the prompt, these make the named instruments the only ones.
NO_OTHERS = ("no other instruments", "no other instrument", "nothing else", "no accompaniment",
             "without accompaniment", "no backing instruments", "no backing band", "no backing", "no band",
             "no other sounds", "unaccompanied", "没有其他乐器", "不要其他乐器", "无其他乐器", "其他乐器都不要",
             "不加其他乐器", "没有别的乐器", "无伴奏", "没有伴奏", "不要伴奏", "他の楽器なし", "ほかの楽器なし",
             "伴奏なし")
# Words that rule out a role without naming an instrument ("drumless", "a beatless track").
ABSENCE_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("drumless", "beatless", "percussionless", "no beat", "no beats", "without a beat", "without beats",
      "无节拍", "没有节拍", "ビートなし", "ノンビート"), "drums"),
    (("bassless",), "bass"),
    (("acoustic instruments only", "only acoustic instruments", "acoustic only", "all-acoustic", "all acoustic",
      "purely acoustic", "fully acoustic", "unplugged", "no electronics", "纯原声", "全原声", "不插电",
      "アンプラグド"), "electric"),
)
