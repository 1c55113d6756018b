"""The bilingual vocabulary of the `rules` planner: tempo terms, genres, moods, instruments.

Plain tables, no logic. Each entry lists the surface words (English, Italian, Chinese)
that name it; `parse.py` compiles them into regexes once at import. English words
match whole words, case-insensitively; Chinese words match anywhere. Where two entries
could match at the same place, the longer word wins (长笛 is a flute, not a 笛子).

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
# Everyday words (slow, mid-tempo, fast, 慢, 中速, 快 …) have no formal standard; their
# ranges below follow the same table (slow ≈ Larghetto–Adagio, medium ≈ Andante–
# Moderato, fast ≈ Allegro, very fast ≈ Presto).


@dataclass(frozen=True)
class TempoTerm:
    name: str  # canonical spelling, recorded in plan conflicts and tests
    low: float  # BPM, inclusive
    high: float  # BPM, inclusive
    typical: float  # where the planner puts the tempo when nothing narrows the range
    italian: bool  # a formal metronome marking: outranks everyday words in one prompt
    words: tuple[str, ...]  # surface forms


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
    # everyday words
    TempoTerm("very slow", 40, 60, 54, False, ("very slow", "extremely slow", "很慢", "极慢", "非常慢")),
    TempoTerm("slow", 60, 80, 70, False, (
        "slow", "slow-paced", "slow tempo", "slowly", "slow-tempo", "downtempo", "down-tempo",
        "慢", "慢速", "缓慢", "慢节奏", "慢歌", "慢板歌")),
    TempoTerm("medium-slow", 76, 92, 84, False, ("medium-slow", "moderately slow", "中慢速", "中慢板")),
    TempoTerm("medium", 90, 115, 104, False, (
        "medium tempo", "medium-tempo", "mid-tempo", "midtempo", "mid tempo", "moderate tempo", "moderate pace",
        "moderately paced", "medium pace", "medium-paced", "medium speed", "moderate speed", "walking pace",
        "中速", "中等速度", "中等节奏", "中板速度", "不快不慢")),
    TempoTerm("medium-fast", 110, 130, 120, False, ("medium-fast", "moderately fast", "中快速", "中快板")),
    TempoTerm("upbeat", 110, 140, 124, False, ("upbeat", "up-tempo", "uptempo", "brisk", "轻快")),
    TempoTerm("lively", 110, 140, 124, False, ("欢快", "明快")),
    TempoTerm("fast", 120, 160, 140, False, (
        "fast", "fast-paced", "fast tempo", "quick", "quick tempo", "rapid", "high tempo", "high-tempo",
        "快", "快速", "快节奏", "很快的节奏")),
    TempoTerm("impassioned", 120, 150, 136, False, ("激昂", "慷慨激昂")),
    TempoTerm("very fast", 160, 200, 176, False, ("very fast", "extremely fast", "super fast", "blazing fast",
                                                  "极快", "非常快", "飞快")),
    TempoTerm("gentle", 60, 85, 72, False, ("舒缓", "悠扬", "悠缓")),
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
}

# When nothing names a genre, the instruments named can: Chinese instruments give a
# Chinese style, an orchestral line-up gives classical, and otherwise the first rule of
# INSTRUMENT_STYLE_HINTS with an instrument in the prompt decides.
CHINESE_INSTRUMENTS = frozenset({"guzheng", "pipa", "erhu", "dizi", "xiao", "guqin", "yangqin", "sheng", "suona",
                                 "chinese percussion"})
BAND_INSTRUMENTS = frozenset({"drum kit", "electronic drums", "bass guitar", "synth bass", "electric guitar",
                              "distorted guitar", "synth lead", "synth pad", "supersaw", "slap bass"})
ORCHESTRAL_INSTRUMENTS = frozenset({"piano", "violin", "viola", "cello", "contrabass", "strings", "harp",
                                    "pizzicato strings", "french horn", "oboe", "clarinet", "flute", "harpsichord",
                                    "choir", "celesta", "trumpet", "trombone", "brass"})
INSTRUMENT_STYLE_HINTS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"distorted guitar"}), "rock"),
    (frozenset({"banjo", "fiddle", "steel guitar"}), "country"),
    (frozenset({"saxophone", "acoustic bass", "vibraphone"}), "jazz"),
    (frozenset({"supersaw", "electronic drums", "synth bass", "synth pluck"}), "edm"),
    (frozenset({"slap bass"}), "funk"),
    (frozenset({"harmonica"}), "blues"),
    (frozenset({"nylon guitar"}), "latin"),
    (frozenset({"acoustic guitar"}), "folk"),
    (frozenset({"electric guitar"}), "rock"),
    (frozenset({"synth pad"}), "ambient"),
    (frozenset({"electric piano"}), "lofi"),
)

# ---------------------------------------------------------------------------------------
# Genres. `strong=False` marks words that often describe a sound rather than a genre
# ("electronic drums", "ambient sounds of clapping", "epic"); they decide the style only
# when no strong genre word is present.


@dataclass(frozen=True)
class Genre:
    label: str  # the genre as the plan names it (may be a sub-genre)
    style: str  # composer style, one of models/styles.STYLE_NAMES
    words: tuple[str, ...]  # surface forms
    strong: bool = True
    tempo: tuple[float, float] | None = None  # typical BPM when the sub-genre is narrower than its style
    beats_per_bar: int | None = None  # the metre a genre implies (a waltz is in 3)


GENRES: tuple[Genre, ...] = (
    # Chinese styles first: 国风 pop and traditional music
    Genre("guofeng", "guofeng", ("国风", "中国风", "guofeng", "chinese style", "chinese-style", "chinese pop style",
                                 "新国风", "国潮")),
    Genre("gufeng", "guofeng", ("古风", "gufeng", "ancient chinese style", "ancient style")),
    Genre("chinese traditional", "chinese_traditional", (
        "民乐", "民族音乐", "民族乐", "中国传统音乐", "传统音乐", "传统民乐", "国乐", "丝竹", "江南丝竹",
        "戏曲", "古曲",
        "chinese traditional", "traditional chinese", "chinese folk", "chinese classical", "chinese instrumental")),
    Genre("chinese folk tune", "chinese_traditional", ("民歌", "小调民歌", "山歌")),
    # pop and its kin
    Genre("pop", "pop", ("pop", "pop music", "pop song", "流行", "流行乐", "流行音乐", "流行歌曲", "华语流行", "c-pop",
                         "cpop", "mandopop", "cantopop", "k-pop", "kpop", "j-pop", "jpop", "dance pop", "dance-pop",
                         "electropop", "synth-pop", "synthpop", "indie pop", "power pop", "teen pop", "bubblegum")),
    Genre("ballad", "pop", ("ballad", "power ballad", "piano ballad", "抒情歌", "情歌", "抒情流行"), tempo=(62, 80)),
    Genre("lo-fi hip hop", "lofi", ("lo-fi", "lofi", "lo fi", "lo-fi hip hop", "lofi hip hop", "chillhop",
                                    "低保真", "chill beats")),
    Genre("hip hop", "hiphop", ("hip hop", "hip-hop", "hiphop", "rap", "boom bap", "boom-bap", "说唱", "嘻哈", "饶舌",
                                "中文说唱", "gangsta rap")),
    Genre("trap", "hiphop", ("trap", "trap music", "drill", "陷阱"), tempo=(130, 150)),
    Genre("trip hop", "lofi", ("trip hop", "trip-hop"), tempo=(75, 95)),
    # rock and metal
    Genre("rock", "rock", ("rock", "rock music", "rock song", "rock and roll", "rock 'n' roll", "rock n roll",
                           "hard rock", "alternative rock", "alt rock", "alt-rock", "indie rock", "classic rock",
                           "soft rock", "garage rock", "grunge", "britpop", "post-rock", "post rock", "摇滚",
                           "摇滚乐", "硬摇滚", "独立摇滚", "另类摇滚")),
    Genre("punk", "rock", ("punk", "punk rock", "pop punk", "pop-punk", "朋克"), tempo=(150, 190)),
    Genre("metal", "metal", ("metal", "heavy metal", "metalcore", "death metal", "thrash metal", "thrash",
                             "black metal", "nu metal", "nu-metal", "power metal", "djent", "金属", "重金属",
                             "金属乐")),
    # electronic
    Genre("edm", "edm", ("edm", "electronic dance music", "电子舞曲", "电音", "big room", "electro house")),
    Genre("house", "edm", ("house", "house music", "deep house", "tech house", "progressive house", "浩室"),
          tempo=(120, 126)),
    Genre("techno", "edm", ("techno", "科技舞曲", "铁克诺"), tempo=(125, 135)),
    Genre("trance", "edm", ("trance", "psytrance", "迷幻舞曲"), tempo=(132, 140)),
    Genre("dubstep", "edm", ("dubstep", "回响贝斯"), tempo=(138, 142)),
    Genre("drum and bass", "edm", ("drum and bass", "drum & bass", "drum'n'bass", "drum n bass", "dnb", "jungle",
                                   "鼓打贝斯"), tempo=(170, 176)),
    Genre("synthwave", "edm", ("synthwave", "retrowave", "outrun", "vaporwave", "chiptune", "8-bit", "8 bit"),
          tempo=(80, 118)),
    Genre("future bass", "edm", ("future bass",), tempo=(140, 160)),
    Genre("electronic", "edm", ("electronic", "electronica", "电子", "电子音乐", "电子乐"), strong=False),
    Genre("dance", "edm", ("dance", "dance music", "club", "舞曲"), strong=False),
    # jazz, soul, funk, blues
    Genre("jazz", "jazz", ("jazz", "jazzy", "swing", "bebop", "be-bop", "big band", "smooth jazz", "jazz fusion",
                           "cool jazz", "爵士", "爵士乐", "摇摆乐")),
    Genre("r&b", "rnb", ("r&b", "rnb", "r'n'b", "rhythm and blues", "neo-soul", "neo soul", "soul", "gospel",
                         "motown", "节奏布鲁斯", "节奏蓝调", "灵魂乐", "福音")),
    Genre("funk", "funk", ("funk", "funky", "disco", "nu-disco", "放克", "迪斯科", "迪斯可")),
    Genre("blues", "blues", ("blues", "bluesy", "delta blues", "12-bar blues", "twelve-bar blues", "蓝调", "布鲁斯",
                             "布鲁斯音乐")),
    # acoustic and roots
    Genre("folk", "folk", ("folk", "folk song", "folk music", "indie folk", "singer-songwriter", "acoustic folk",
                           "celtic", "irish folk", "民谣", "城市民谣", "校园民谣")),
    Genre("acoustic", "folk", ("acoustic", "unplugged", "不插电"), strong=False),
    Genre("country", "country", ("country", "country music", "country pop", "bluegrass", "americana", "honky tonk",
                                 "honky-tonk", "western", "乡村", "乡村音乐", "蓝草")),
    Genre("reggae", "reggae", ("reggae", "ska", "dub", "dancehall", "雷鬼", "斯卡")),
    Genre("bossa nova", "latin", ("bossa nova", "bossa", "波萨诺瓦", "巴萨诺瓦"), tempo=(110, 140)),
    Genre("latin", "latin", ("latin", "salsa", "samba", "cumbia", "reggaeton", "flamenco", "tango", "rumba",
                             "mambo", "cha-cha", "拉丁", "萨尔萨", "桑巴", "探戈", "弗拉明戈")),
    # orchestral and atmospheric
    Genre("classical", "classical", ("classical", "classical music", "baroque", "chamber music", "string quartet",
                                     "symphony", "symphonic", "sonata", "concerto", "etude", "nocturne", "minuet",
                                     "romantic era", "古典", "古典音乐", "古典乐", "巴洛克", "室内乐", "交响乐",
                                     "奏鸣曲", "协奏曲", "夜曲", "小步舞曲")),
    Genre("waltz", "classical", ("waltz", "valse", "华尔兹", "圆舞曲"), tempo=(84, 100), beats_per_bar=3),
    Genre("march", "classical", ("military march", "进行曲"), tempo=(110, 124), beats_per_bar=2),
    Genre("lullaby", "classical", ("lullaby", "berceuse", "摇篮曲", "催眠曲"), tempo=(60, 76)),
    Genre("cinematic", "cinematic", ("cinematic", "film score", "movie score", "soundtrack", "film music",
                                     "trailer music", "epic orchestral", "orchestral score", "game music",
                                     "video game music", "电影配乐", "影视配乐", "配乐", "游戏配乐", "原声")),
    Genre("orchestral", "cinematic", ("orchestral", "orchestra", "管弦", "管弦乐", "交响"), strong=False),
    Genre("epic", "cinematic", ("epic", "史诗", "史诗级"), strong=False),
    Genre("ambient", "ambient", ("ambient music", "drone", "new age", "new-age", "meditation music", "meditation",
                                 "spa music", "sleep music", "氛围音乐", "环境音乐", "冥想", "冥想音乐", "新世纪音乐",
                                 "助眠")),
    Genre("ambient", "ambient", ("ambient", "atmospheric", "氛围"), strong=False),
)

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
                   "festive", "celebratory", "快乐", "开心", "欢乐", "愉快", "喜悦", "高兴", "喜庆", "欢喜", "幸福"),
         "major", 0.7, True),
    Mood("sad", ("sad", "sadness", "sorrowful", "sorrow", "mournful", "heartbroken", "heartbreaking", "grief",
                 "grieving", "tearful", "tragic", "depressing", "悲伤", "伤感", "忧伤", "难过", "哀伤", "悲痛",
                 "悲凉", "凄凉", "心碎", "哀愁", "伤心", "悲"), "minor", 0.3, True),
    Mood("melancholic", ("melancholic", "melancholy", "somber", "sombre", "gloomy", "bittersweet", "wistful",
                         "忧郁", "惆怅", "哀婉", "凄美", "低沉"), "minor", 0.35, True),
    Mood("angry", ("angry", "anger", "furious", "rage", "aggressive", "violent", "hostile", "愤怒", "狂暴", "暴躁",
                   "咆哮"), "minor", 0.95, True),
    Mood("dark", ("dark", "ominous", "sinister", "menacing", "eerie", "creepy", "haunting", "scary", "horror",
                  "spooky", "黑暗", "阴暗", "诡异", "恐怖", "阴森", "暗黑"), "minor", 0.55, True),
    Mood("tense", ("tense", "suspenseful", "suspense", "anxious", "nervous", "urgent", "紧张", "悬疑", "焦虑",
                   "紧迫"), "minor", 0.7, True),
    Mood("lonely", ("lonely", "loneliness", "lonesome", "isolated", "孤独", "寂寞", "孤单"), "minor", 0.3, True),
    Mood("mysterious", ("mysterious", "mystical", "mystic", "enigmatic", "神秘", "玄妙"), "minor", 0.4, True),
    Mood("epic", ("epic", "heroic", "majestic", "grand", "triumphant", "anthemic", "powerful", "史诗", "恢弘",
                  "恢宏", "壮丽", "宏大", "磅礴", "大气", "豪迈", "壮阔"), None, 0.9, True),
    Mood("romantic", ("romantic", "romance", "loving", "in love", "sweet", "tender", "sensual", "浪漫", "甜蜜",
                      "爱情", "温柔", "柔情"), "major", 0.45, True),
    Mood("hopeful", ("hopeful", "uplifting", "inspiring", "inspirational", "optimistic", "encouraging",
                     "希望", "励志", "积极", "向上", "鼓舞"), "major", 0.65, True),
    Mood("nostalgic", ("nostalgic", "nostalgia", "reminiscent", "sentimental", "怀旧", "思念", "回忆", "乡愁",
                       "怀念"), None, 0.4, True),
    Mood("energetic", ("energetic", "high-energy", "high energy", "intense", "driving", "lively", "vigorous",
                       "exciting", "excited", "pumping", "hype", "动感", "激情", "热血", "活力", "有力", "燃",
                       "热烈", "激烈", "奔放"), None, 0.85, False),
    Mood("calm", ("calm", "calming", "peaceful", "serene", "tranquil", "relaxing", "relaxed", "soothing", "chill",
                  "chilled", "laid-back", "laid back", "mellow", "gentle", "soft", "quiet", "meditative",
                  "平静", "宁静", "安静", "放松", "安详", "恬静", "轻柔", "柔和", "治愈", "静谧", "悠闲"),
         None, 0.25, False),
    Mood("dreamy", ("dreamy", "dreamlike", "ethereal", "floating", "hazy", "spacey", "梦幻", "空灵", "朦胧"),
         None, 0.35, False),
    Mood("upbeat", ("upbeat", "bouncy", "catchy", "欢快", "明快", "俏皮", "活泼"), "major", 0.72, False),
    Mood("playful", ("playful", "whimsical", "quirky", "cute", "silly", "可爱", "调皮", "诙谐"), "major", 0.6, False),
    Mood("light", ("light", "lighthearted", "light-hearted", "airy", "breezy", "carefree", "轻松", "轻盈", "轻快"),
         "major", 0.45, False),
    Mood("warm", ("warm", "cozy", "cosy", "comforting", "温暖", "温馨"), "major", 0.45, False),
    Mood("bright", ("bright", "sunny", "summery", "明亮", "阳光", "灿烂", "清新"), "major", 0.6, False),
    Mood("solemn", ("solemn", "serious", "reverent", "sacred", "spiritual", "庄严", "肃穆", "庄重", "神圣"),
         None, 0.4, False),
    Mood("groovy", ("groovy", "grooving", "律动"), None, 0.7, False),
    Mood("emotional", ("emotional", "heartfelt", "moving", "poignant", "touching", "抒情", "深情", "感人", "动人"),
         None, 0.45, False),
)

# Words that, right after "light", make it describe the sound, not the mood.
LIGHT_NOUNS = ("percussion", "drum", "drums", "beat", "beats", "touch", "rain", "reverb", "piano", "guitar",
               "strumming", "synth", "pad", "pads", "hat", "hats", "shaker", "cymbal", "cymbals", "bass", "show")

# ---------------------------------------------------------------------------------------
# Instruments: surface words → canonical names (INSTRUMENTS keys) or a generic "@role".

INSTRUMENT_WORDS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    # drums and percussion
    (("drum", "drums", "drum kit", "drumkit", "drum set", "drummer", "kick", "kick drum", "snare", "snare drum",
      "hi-hat", "hihat", "hi hat", "hats", "cymbal", "cymbals", "toms", "ride cymbal", "backbeat",
      "鼓", "鼓组", "鼓点", "底鼓", "军鼓", "镲"), ("@drums",)),
    (("live drums", "acoustic drums", "架子鼓", "爵士鼓"), ("drum kit",)),
    (("drum machine", "electronic drums", "electronic drum", "electronic beat", "808 drums", "909", "trap hats",
      "programmed drums", "digital drum", "digital drums", "电子鼓", "鼓机"), ("electronic drums",)),
    (("percussion", "percussions", "shaker", "shakers", "tambourine", "conga", "congas", "bongo", "bongos", "claps",
      "handclaps", "hand claps", "clapping", "timpani", "taiko", "cajon", "woodblock", "triangle", "cowbell",
      "timbales", "maracas", "guiro", "castanets", "finger snaps", "finger snapping", "snaps", "tabla", "djembe",
      "打击乐",
      "打击乐器", "沙锤", "铃鼓", "手鼓", "定音鼓", "木鱼", "拍手"), ("percussion",)),
    # words that contain an instrument word but name none (鼓舞 "inspiring", not a drum)
    (("鼓舞", "鼓励", "鼓起", "笛声般"), ()),
    # keys
    (("piano", "pianos", "grand piano", "upright piano", "acoustic piano", "keys", "keyboard", "keyboards",
      "钢琴", "琴键", "电子琴"), ("piano",)),
    (("electric piano", "e-piano", "epiano", "rhodes", "wurlitzer", "fender rhodes", "电钢琴", "电钢"),
     ("electric piano",)),
    (("organ", "hammond", "hammond organ", "church organ", "pipe organ", "风琴", "管风琴"), ("organ",)),
    (("harpsichord", "羽管键琴", "大键琴"), ("harpsichord",)),
    (("celesta", "glockenspiel", "bells", "chimes", "钟琴", "钢片琴", "铃声"), ("celesta",)),
    (("music box", "八音盒", "音乐盒"), ("music box",)),
    (("vibraphone", "vibraphones", "颤音琴"), ("vibraphone",)),
    (("marimba", "xylophone", "马林巴", "木琴"), ("marimba",)),
    (("accordion", "手风琴"), ("accordion",)),
    (("harmonica", "blues harp", "口琴"), ("harmonica",)),
    # guitars and basses
    (("guitar", "guitars", "guitarist", "吉他"), ("@guitar",)),
    (("acoustic guitar", "acoustic guitars", "folk guitar", "strummed guitar", "木吉他", "民谣吉他", "原声吉他"),
     ("acoustic guitar",)),
    (("nylon guitar", "nylon-string guitar", "classical guitar", "spanish guitar", "flamenco guitar", "ukulele",
      "lute", "oud", "古典吉他", "尼龙吉他", "尤克里里", "鲁特琴"), ("nylon guitar",)),
    (("electric guitar", "electric guitars", "clean guitar", "lead guitar", "rhythm guitar", "guitar riff",
      "guitar riffs", "电吉他"), ("electric guitar",)),
    (("distorted guitar", "distorted guitars", "overdriven guitar", "heavy guitar", "heavy guitars", "power chords",
      "distortion guitar", "fuzz guitar", "失真吉他", "重型吉他"), ("distorted guitar",)),
    (("steel guitar", "pedal steel", "slide guitar", "lap steel", "dobro", "夏威夷吉他", "滑棒吉他"),
     ("steel guitar",)),
    (("bass", "bassline", "bass line", "basslines", "bassist", "贝斯", "贝司", "低音"), ("@bass",)),
    (("bass guitar", "electric bass", "电贝斯", "低音吉他"), ("bass guitar",)),
    (("upright bass", "double bass", "acoustic bass", "walking bass", "standup bass", "立式贝斯"), ("acoustic bass",)),
    (("contrabass", "低音提琴"), ("contrabass",)),
    (("slap bass", "slapped bass", "funk bass", "击弦贝斯"), ("slap bass",)),
    (("synth bass", "808", "808s", "808 bass", "sub bass", "sub-bass", "reese bass", "wobble bass", "合成器贝斯",
      "合成贝斯"), ("synth bass",)),
    (("banjo", "mandolin", "班卓琴", "曼陀林"), ("banjo",)),
    # strings
    (("violin", "violins", "violinist", "小提琴"), ("violin",)),
    (("viola", "violas", "中提琴"), ("viola",)),
    (("cello", "cellos", "violoncello", "大提琴"), ("cello",)),
    (("strings", "string", "synth strings", "synth string", "string section", "string ensemble",
      "string orchestra", "orchestral strings", "string pads",
      "orchestra", "弦乐", "弦乐团", "弦乐组", "弦乐四重奏", "管弦乐团", "乐团"), ("strings",)),
    (("string quartet",), ("violin", "viola", "cello")),
    (("pizzicato", "pizzicato strings", "拨弦"), ("pizzicato strings",)),
    (("harp", "harps", "竖琴"), ("harp",)),
    (("fiddle", "fiddles", "小提琴手"), ("fiddle",)),
    # voices
    (("choir", "choirs", "choral", "chorale", "backing vocals", "backing vocal", "harmonizing vocals",
      "vocal harmonies", "合唱", "合唱团"), ("choir",)),
    (("vocal", "vocals", "voice", "voices", "singer", "singers", "singing", "vocalist", "vocalists", "rapper",
      "rapping", "humming", "male vocal", "female vocal", "人声", "歌声", "男声", "女声", "演唱", "歌手", "独唱",
      "哼唱", "歌词"), ("voice",)),
    # brass and winds
    (("trumpet", "trumpets", "小号"), ("trumpet",)),
    (("trombone", "trombones", "tuba", "长号", "大号"), ("trombone",)),
    (("french horn", "french horns", "圆号"), ("french horn",)),
    (("brass", "brass section", "horn section", "horns", "horn", "铜管", "铜管乐"), ("brass",)),
    (("saxophone", "saxophones", "sax", "alto sax", "tenor sax", "saxophonist", "萨克斯", "萨克斯风", "萨克斯管"),
     ("saxophone",)),
    (("clarinet", "clarinets", "单簧管", "黑管"), ("clarinet",)),
    (("oboe", "bassoon", "english horn", "双簧管", "巴松"), ("oboe",)),
    (("woodwind", "woodwinds", "woodwind section", "木管", "木管乐"), ("flute", "clarinet")),
    (("flute", "flutes", "piccolo", "recorder", "tin whistle", "whistle", "长笛", "短笛", "竖笛"), ("flute",)),
    (("pan flute", "pan flutes", "panpipes", "pan pipes", "排箫"), ("pan flute",)),
    # synths
    (("synth", "synths", "synthesizer", "synthesizers", "synthesiser", "synth lead", "lead synth", "synth melody",
      "synth line", "synth arpeggio", "合成器", "电子合成器"), ("synth lead",)),
    (("synth pad", "synth pads", "pad", "pads", "ambient pad", "warm pad", "atmospheric pad", "铺底", "合成器铺底",
      "氛围铺底", "pad音色"), ("synth pad",)),
    (("pluck", "plucks", "synth pluck", "plucky synth", "arpeggiator", "arpeggiated synth", "arp", "arps"),
     ("synth pluck",)),
    (("supersaw", "supersaws", "saw lead", "saw synth", "big synth chords", "超级锯齿"), ("supersaw",)),
    # Chinese instruments (and their Japanese relatives, played on the same timbres)
    (("guzheng", "zheng", "koto", "古筝", "筝", "古琴筝"), ("guzheng",)),
    (("pipa", "shamisen", "琵琶"), ("pipa",)),
    (("erhu", "huqin", "二胡", "胡琴", "板胡", "京胡"), ("erhu",)),
    (("dizi", "bamboo flute", "chinese flute", "笛子", "竹笛", "笛", "横笛"), ("dizi",)),
    (("xiao", "shakuhachi", "vertical flute", "箫", "洞箫", "尺八"), ("xiao",)),
    (("guqin", "qin", "古琴", "七弦琴"), ("guqin",)),
    (("yangqin", "hammered dulcimer", "dulcimer", "扬琴"), ("yangqin",)),
    (("sheng", "mouth organ", "笙"), ("sheng",)),
    (("suona", "唢呐"), ("suona",)),
    (("chinese percussion", "gong", "gongs", "chinese drums", "锣", "钹", "堂鼓", "大鼓", "锣鼓", "中国鼓", "战鼓",
      "编钟"), ("chinese percussion",)),
)

# Words that make the named instrument the whole band ("solo piano", "古筝独奏").
SOLO_WORDS = ("solo", "独奏", "unaccompanied", "alone", "only", "just")
# Words that remove the voice ("instrumental", "纯音乐").
NO_VOICE_WORDS = ("instrumental", "纯音乐", "无人声", "纯器乐", "伴奏")
