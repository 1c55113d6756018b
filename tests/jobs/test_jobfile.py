"""Job files: YAML, SongGeneration JSONL and CSV read into a Job, with every problem
reported at once as FILE:LINE: field: message (value)."""

import json
from pathlib import Path

import pytest

from songfarm.jobs.cli import main
from songfarm.jobs.jobfile import JobFileError, job_to_yaml, load_job
from songfarm.models.errors import SongfarmError

EXAMPLES = Path(__file__).resolve().parents[2] / "jobs" / "examples"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def problems_of(path: Path, **kwargs) -> list[str]:
    with pytest.raises(JobFileError) as info:
        load_job(path, **kwargs)
    return info.value.problems


GOOD_TRACKS = """\
tracks:
  - id: one
    prompt: an upbeat pop song
  - id: two
    prompt: a calm lo-fi beat
"""


# --- YAML ---------------------------------------------------------------------------------


def test_yaml_job_resolves_defaults_and_sections(tmp_path):
    path = write(tmp_path, "small.yaml", """\
name: small
output: s3://renders/studio
s3_endpoint: http://127.0.0.1:9000
defaults:
  duration_s: 20
  candidates: 2
  genre: jazz
  min_score: 0.6
  max_attempts: 4
  format: wav
  sample_rate: 48000
  stems: true
  midi: false
resources:
  generator: {min_actors: 2, max_actors: 4, batch_size: 2, num_cpus: 1.5, num_gpus: 0.5}
  planner: {min_actors: 3}
tracks:
  - id: one
    prompt: a trio at night
  - idx: two
    descriptions: a ballad
    duration_s: 40
    candidates: 1
""")
    job = load_job(path)
    assert (job.name, job.output, job.s3_endpoint) == ("small", "s3://renders/studio", "http://127.0.0.1:9000")
    assert job.location == "s3://renders/studio/small"
    assert (job.settings.min_score, job.settings.max_attempts) == (0.6, 4)
    delivery = job.settings.delivery
    assert (delivery.format, delivery.sample_rate, delivery.stems, delivery.midi) == ("wav", 48000, True, False)
    gen = job.resources["generator"]
    assert (gen.min_actors, gen.max_actors, gen.batch_size, gen.num_cpus, gen.num_gpus) == (2, 4, 2, 1.5, 0.5)
    assert (job.resources["planner"].min_actors, job.resources["planner"].max_actors) == (3, 3)
    one, two = job.tracks
    assert (one.id, one.duration_s, one.candidates, one.genre) == ("one", 20.0, 2, "jazz")
    assert (two.id, two.prompt, two.duration_s, two.candidates) == ("two", "a ballad", 40.0, 1)
    assert {s: b.name for s, b in job.settings.backends.items()} == {"planner": "rules", "generator": "synth",
                                                                     "verifier": "features"}
    assert job.source == str(path)


def test_yaml_name_defaults_to_stem_and_output_to_renders(tmp_path):
    job = load_job(write(tmp_path, "nightly.yaml", GOOD_TRACKS))
    assert (job.name, job.output, [t.id for t in job.tracks]) == ("nightly", "./renders", ["one", "two"])


def test_output_and_endpoint_arguments_override_the_file(tmp_path):
    path = write(tmp_path, "j.yaml", "output: ftp://not/checked\n" + GOOD_TRACKS)
    job = load_job(path, output="s3://other-bucket/x", s3_endpoint="https://minio.local:9000")
    assert (job.output, job.s3_endpoint) == ("s3://other-bucket/x", "https://minio.local:9000")
    assert "--output: unsupported scheme 'gs'" in problems_of(path, output="gs://b/x")[0]


def test_tracks_from_referenced_csv_and_jsonl_files(tmp_path):
    write(tmp_path, "more.csv", "id,prompt,duration_s,seed,bpm,candidates\nc1,rock song,25,3,140,2\nc2,folk,,,,\n")
    (tmp_path / "sub").mkdir()
    write(tmp_path, "sub/sg.jsonl", json.dumps({"idx": "j1", "descriptions": "female, pop", "gt_lyric": "[verse] la"}))
    path = write(tmp_path, "mixed.yaml", """\
defaults: {duration_s: 30, seed: 9}
tracks:
  - {id: inline, prompt: ambient pads}
  - file: more.csv
  - file: sub/sg.jsonl
""")
    job = load_job(path)
    by_id = {t.id: t for t in job.tracks}
    assert list(by_id) == ["inline", "c1", "c2", "j1"]
    assert (by_id["c1"].duration_s, by_id["c1"].seed, by_id["c1"].bpm, by_id["c1"].candidates) == (25.0, 3, 140.0, 2)
    assert (by_id["c2"].duration_s, by_id["c2"].seed, by_id["c2"].bpm) == (30.0, 9, None)  # empty cells → defaults
    assert (by_id["j1"].prompt, by_id["j1"].lyrics) == ("female, pop", "[verse] la")


# --- SongGeneration JSONL and CSV on their own -----------------------------------------


def test_songgeneration_jsonl_is_a_job(tmp_path):
    rows = [{"idx": "sg_01", "descriptions": "male, dark, rock", "gt_lyric": "[verse] a ; [chorus] b",
             "prompt_audio_path": "ref/voice.wav"},
            {"idx": "sg_02", "gt_lyric": "[verse] 你好", "auto_prompt_audio_type": "Chinese Tradition"},
            {"idx": "sg_03", "descriptions": "jazz", "auto_prompt_audio_type": "Auto"}]
    path = write(tmp_path, "batch_7.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    job = load_job(path)
    assert job.name == "batch_7"
    a, b, c = job.tracks
    assert (a.id, a.prompt, a.lyrics, a.reference_audio) == ("sg_01", "male, dark, rock", "[verse] a ; [chorus] b",
                                                             "ref/voice.wav")
    assert (b.prompt, b.genre) == ("Chinese Tradition", "Chinese Tradition")  # the style stands in for a prompt
    assert (c.prompt, c.genre) == ("jazz", None)  # "Auto" states nothing


def test_csv_is_a_job_with_numbers_converted(tmp_path):
    path = write(tmp_path, "studio.csv", '\ufeffid,prompt,duration_s,seed,candidates,bpm,moods,lyrics\n'
                 'a,"pop, bright",12.5,4,2,96,"happy, warm","[verse]\nline one\n[chorus]\nline two"\n'
                 'b,二胡独奏,30,5,1,,,\n')
    job = load_job(path)
    a, b = job.tracks
    assert job.name == "studio"
    assert (a.prompt, a.duration_s, a.seed, a.candidates, a.bpm, a.moods) == (
        "pop, bright", 12.5, 4, 2, 96.0, ["happy", "warm"])
    assert a.lyrics == "[verse]\nline one\n[chorus]\nline two"
    assert (b.prompt, b.bpm) == ("二胡独奏", None)


# --- every kind of problem, each with its file, line and field ---------------------------


TRACK_ERRORS = [
    # (track mapping lines under `tracks:`, expected text, line of the problem)
    ("  - {id: a, prompt: x}\n  - {id: a, prompt: y}\n", "tracks[1].id: duplicate track id 'a' at {f}:3", 4),
    ("  - {id: Intro, prompt: x}\n  - {id: intro, prompt: y}\n", "differs only in case from 'Intro'", 4),
    ("  - {id: ../x, prompt: x}\n", "tracks[0].id: track ids become file names", 3),
    ("  - {id: a/b, prompt: x}\n", "('a/b')", 3),
    ("  - {id: .hidden, prompt: x}\n", "('.hidden')", 3),
    ("  - id: a\n    duration_s: 9\n", "tracks[0].prompt: missing prompt", 3),
    ("  - {prompt: x}\n", "tracks[0].id: missing track id", 3),
    ("  - {id: a, prompt: '  '}\n", "tracks[0].prompt: missing prompt", 3),
    ("  - id: a\n    prompt: x\n    duration_s: long\n",
     "tracks[0].duration_s: must be a number of seconds in [2, 600] ('long')", 5),
    ("  - {id: a, prompt: x, duration_s: 1}\n", "must be a number of seconds in [2, 600] (1)", 3),
    ("  - {id: a, prompt: x, duration_s: 601}\n", "(601)", 3),
    ("  - {id: a, prompt: x, candidates: 0}\n", "tracks[0].candidates: must be an integer in [1, 16] (0)", 3),
    ("  - {id: a, prompt: x, candidates: 17}\n", "(17)", 3),
    ("  - {id: a, prompt: x, candidates: [2]}\n", "([2])", 3),
    ("  - {id: a, prompt: x, seed: -1}\n", "tracks[0].seed: must be an integer in [0, 2**32) (-1)", 3),
    ("  - {id: a, prompt: x, moods: 3}\n", "tracks[0].moods: must be a list of text (3)", 3),
    ("  - {id: a, prompt: [x]}\n", "tracks[0].prompt: prompt must be non-empty text (['x'])", 3),
    ("  - id: a\n    prompt: x\n    duraton_s: 20\n",
     "tracks[0].duraton_s: unknown field; did you mean 'duration_s'? (20)", 5),
    ("  - {id: a, idx: b, prompt: x}\n", "tracks[0].idx: given twice, as 'id' and 'idx'", 3),
    ("  - just a string\n", "tracks[0]: must be a track mapping", 3),
    ("  - file: nowhere.csv\n", "tracks[0].file: cannot read", 3),
    ("  - file: notes.txt\n", "tracks[0].file: tracks can be read from .jsonl or .csv files", 3),
    ("  - {file: more.csv, seed: 1}\n", "tracks[0].seed: a file reference takes only `file`", 3),
]


@pytest.mark.parametrize("tracks,expected,line", TRACK_ERRORS, ids=[e[1][:40] for e in TRACK_ERRORS])
def test_track_problem_is_reported_with_file_line_and_field(tmp_path, tracks, expected, line):
    write(tmp_path, "more.csv", "id,prompt\nm1,x\n")
    path = write(tmp_path, "job.yaml", "name: j\ntracks:\n" + tracks)
    problems = problems_of(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line}: "), problems
    assert expected.format(f=path) in problems[0]


JOB_ERRORS = [
    ("name: my job\n" + GOOD_TRACKS, "1: name: the job name becomes a folder name", "('my job')"),
    ("name: ../up\n" + GOOD_TRACKS, "1: name:", "('../up')"),
    ("name: 7\n" + GOOD_TRACKS, "1: name:", "(7)"),
    ("output: ftp://host/x\n" + GOOD_TRACKS, "1: output: unsupported scheme 'ftp'", ""),
    ("output: s3://\n" + GOOD_TRACKS, "1: output: not a valid S3 bucket name", ""),
    ("output: s3://Bad_Bucket/x\n" + GOOD_TRACKS, "1: output: not a valid S3 bucket name", ""),
    ("output: s3://bucket/a/../b\n" + GOOD_TRACKS, "1: output: an S3 prefix cannot hold", ""),
    ("output: s3://AKIAXX:hunter2@bucket/x\n" + GOOD_TRACKS, "1: output: credentials do not belong",
     "s3://***@bucket/x"),
    ("output: [a]\n" + GOOD_TRACKS, "1: output: must be a local folder or s3://bucket/prefix", ""),
    ("s3_endpoint: minio:9000\n" + GOOD_TRACKS, "1: s3_endpoint: must be an http:// or https:// URL", ""),
    ("colour: red\n" + GOOD_TRACKS, "1: colour: unknown section", ""),
    ("defaults: {duration_s: 1}\n" + GOOD_TRACKS, "1: defaults.duration_s: must be a number of seconds", "(1)"),
    ("defaults: {format: mp3}\n" + GOOD_TRACKS, "1: defaults.format: must be one of flac, wav", "('mp3')"),
    ("defaults: {sample_rate: 44000}\n" + GOOD_TRACKS, "1: defaults.sample_rate: must be one of", "(44000)"),
    ("defaults: {min_score: 1.5}\n" + GOOD_TRACKS, "1: defaults.min_score: must be a verifier score in [0, 1]", ""),
    ("defaults: {max_attempts: 0}\n" + GOOD_TRACKS, "1: defaults.max_attempts: must be an integer in [1, 10]", ""),
    ("defaults: {stems: maybe}\n" + GOOD_TRACKS, "1: defaults.stems: must be true or false", "('maybe')"),
    ("defaults: {prompt: x}\n" + GOOD_TRACKS, "1: defaults.prompt: every track needs its own id and prompt", ""),
    ("defaults: {candidats: 2}\n" + GOOD_TRACKS, "1: defaults.candidats: unknown default; did you mean 'candidates'?",
     ""),
    ("defaults: [1]\n" + GOOD_TRACKS, "1: defaults: must be a mapping", ""),
    ("backends: {generator: wavenet}\n" + GOOD_TRACKS,
     "1: backends.generator: unknown backend 'wavenet' (known: synth, diffusion)", ""),
    ("backends: {generatr: synth}\n" + GOOD_TRACKS, "1: backends.generatr: unknown stage; did you mean 'generator'?",
     ""),
    ("backends: {planner: {name: rules, opts: {}}}\n" + GOOD_TRACKS,
     "1: backends.planner.opts: a backend takes only `name` and `options`", ""),
    ("backends: {planner: {options: {}}}\n" + GOOD_TRACKS, "1: backends.planner.name: must be a backend name", ""),
    ("backends: {planner: 3}\n" + GOOD_TRACKS, "1: backends.planner: must be a backend name or", ""),
    ("resources: {generator: {min_actors: 0}}\n" + GOOD_TRACKS,
     "1: resources.generator.min_actors: must be a whole number, at least 1", "(0)"),
    ("resources: {generator: {min_actors: 3, max_actors: 2}}\n" + GOOD_TRACKS,
     "1: resources.generator.max_actors: must be at least min_actors, 3", "(2)"),
    ("resources: {verifier: {num_gpus: -1}}\n" + GOOD_TRACKS, "1: resources.verifier.num_gpus: must be a number", ""),
    ("resources: {verifier: {num_gpus: 1.5}}\n" + GOOD_TRACKS,
     "1: resources.verifier.num_gpus: more than one GPU per actor must be a whole number", "(1.5)"),
    ("resources: {verifier: {gpus: 1}}\n" + GOOD_TRACKS, "1: resources.verifier.gpus: unknown setting; did you mean",
     ""),
    ("resources: {sink: {num_cpus: 1}}\n" + GOOD_TRACKS, "1: resources.sink: unknown stage", ""),
    ("prices: {per_hour: {GPU: -1}}\n" + GOOD_TRACKS, "1: prices.per_hour.GPU: must be a price per hour", "(-1)"),
    ("prices: {per_hour: [1]}\n" + GOOD_TRACKS, "1: prices.per_hour: must be a mapping of Ray resource names", ""),
    ("prices: {curency: EUR}\n" + GOOD_TRACKS, "1: prices.curency: unknown setting; did you mean 'currency'?", ""),
    ("prices: 3\n" + GOOD_TRACKS, "1: prices: must be a mapping of currency, per_hour and node_types", "(3)"),
    ("name: x\n", "1: tracks: empty job", ""),
    ("name: x\ntracks: []\n", "2: tracks: empty job", ""),
    ("name: x\ntracks: one.csv\n", "2: tracks: must be a list", ""),
    ("name: x\nname: y\n" + GOOD_TRACKS, "2: name: given twice in one mapping (first at line 1)", ""),
    ("- a\n- b\n", "1: job: must be a mapping", ""),
    ("name: x\ntracks:\n  - id: a\n    prompt: \"unclosed\n", "5: yaml: invalid YAML", "(begun at line 4)"),
    ("name: x\ntracks: [a, b\n", "3: yaml: invalid YAML: while parsing a flow sequence", "(begun at line 2)"),
]


@pytest.mark.parametrize("text,expected,also", JOB_ERRORS, ids=[e[1][:40] for e in JOB_ERRORS])
def test_job_problem_is_reported_with_line_and_field(tmp_path, text, expected, also):
    path = write(tmp_path, "job.yaml", text)
    problems = problems_of(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{expected}"), problems
    assert also in problems[0]


def test_credentials_never_appear_in_the_message(tmp_path):
    path = write(tmp_path, "job.yaml", "output: s3://AKIAXX:hunter2@bucket/x\n"
                 "s3_endpoint: http://user:pw@minio:9000\n" + GOOD_TRACKS)
    problems = problems_of(path)
    assert len(problems) == 2 and not any("hunter2" in p or "pw@" in p or "AKIAXX" in p for p in problems)


def test_empty_yaml_file(tmp_path):
    path = write(tmp_path, "job.yaml", "")
    assert problems_of(path) == [f"{path}: job: empty job file"]


@pytest.mark.parametrize("name,content,expected", [
    ("job.yaml", b"name: x\ntracks:\n  - {id: a, prompt: caf\xe9}\n", ":3: encoding: not UTF-8 text: byte 0xe9"),
    ("job.csv", b"id,prompt\na,ok\nb,\xff\xfe\n", ":3: encoding: not UTF-8 text: byte 0xff"),
    ("job.jsonl", b'{"idx": "a", "descriptions": "\xc3"}\n', ":1: encoding: not UTF-8 text"),
])
def test_bad_encoding_names_the_line(tmp_path, name, content, expected):
    path = write(tmp_path, name, content)
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}{expected}")


def test_bad_encoding_in_a_referenced_file(tmp_path):
    write(tmp_path, "rows.csv", b"id,prompt\na,na\xefve\n")
    path = write(tmp_path, "job.yaml", "tracks:\n  - file: rows.csv\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{tmp_path / 'rows.csv'}:2: encoding: not UTF-8")


def test_unreadable_job_file_and_unknown_type(tmp_path):
    assert "cannot read" in problems_of(tmp_path / "absent.yaml")[0]
    assert "unknown job file type '.txt'" in problems_of(write(tmp_path, "job.txt", "x"))[0]


@pytest.mark.parametrize("lines,expected", [
    (['{"idx": "a", "descriptions": "x"}', '{"idx": "b", "descriptions": '], ":2: json: invalid JSON: Expecting value"),
    (['{"idx": "a", "descriptions": "x"}', '', '[1, 2]'], ":3: json: each line must be one JSON object"),
    (['{"idx": "a", "descriptions": "x"}', '{"idx": "a", "descriptions": "y"}'],
     ":2: idx: duplicate track id 'a' at {f}:1 ('a')"),
    (['{"idx": "a", "descriptions": "x", "lyric": "[verse] hi"}'], ":1: lyric: unknown field; did you mean 'lyrics'?"),
    (['{"idx": "a", "gt_lyric": "[verse] la", "auto_prompt_audio_type": "Auto"}'], ":1: prompt: missing prompt"),
    (['{"idx": "../../etc/passwd", "descriptions": "x"}'], ":1: idx: track ids become file names"),
    (['{"idx": "a", "descriptions": "x", "duration": 9000}'], ":1: duration: must be a number of seconds"),
    ([''], ": tracks: empty job: no track rows"),
])
def test_jsonl_problems(tmp_path, lines, expected):
    path = write(tmp_path, "sg.jsonl", "\n".join(lines) + "\n")
    problems = problems_of(path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}{expected.format(f=path)}"), problems


@pytest.mark.parametrize("text,expected", [
    ("id,prompt,seed\na,x,abc\n", ":2: seed: must be an integer ('abc')"),
    ("id,prompt,seed\na,x,1.5\n", ":2: seed: must be an integer ('1.5')"),
    ("id,prompt,duration_s\na,x,ten\n", ":2: duration_s: must be a number ('ten')"),
    ("id,prompt,bpm\na,x,fast\n", ":2: bpm: must be a number ('fast')"),
    ("id,prompt,candidates\na,x,99\n", ":2: candidates: must be an integer in [1, 16] (99)"),
    ("id,prompt,colour\na,x,red\n", ":1: colour: unknown column"),
    ("id,prompt,prompt\na,x,y\n", ":1: prompt: column given twice"),
    ("prompt,seed\na,1\n", ":1: header: no 'id' column"),
    ("id,prompt\na,x\n,y\n", ":3: id: missing track id"),
    ("id,prompt\na,\"two\nlines\"\nb,\nc,z\n", ":4: prompt: missing prompt"),
    ("id,prompt\na,x,extra\n", ":2: row: 3 cells but the header names 2 columns"),
    ("id,prompt\n", ": tracks: empty job: no track rows"),
    ("", ": tracks: empty job: no track rows"),
])
def test_csv_problems(tmp_path, text, expected):
    path = write(tmp_path, "rows.csv", text)
    problems = problems_of(path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}{expected}"), problems


def test_csv_duplicate_after_a_multiline_cell_names_both_lines(tmp_path):
    path = write(tmp_path, "rows.csv", 'id,prompt,lyrics\na,x,"[verse]\nla\nla"\nb,y,\na,z,\n')
    assert problems_of(path) == [f"{path}:6: id: duplicate track id 'a' at {path}:2 ('a')"]


def test_referenced_csv_without_a_prompt_column_is_one_problem(tmp_path):
    write(tmp_path, "rows.csv", "id,seed\na,1\n")
    [problem] = problems_of(write(tmp_path, "job.yaml", "tracks:\n  - file: rows.csv\n"))
    assert problem.startswith(f"{tmp_path / 'rows.csv'}:1: header: no 'prompt' column")


def test_jsonl_text_may_hold_unicode_line_separators(tmp_path):
    path = write(tmp_path, "sg.jsonl", '{"idx": "a", "descriptions": "x\u2028y"}\r\n'
                 '{"idx": "b", "descriptions": "z"}\r\n')
    assert [t.prompt for t in load_job(path).tracks] == ["x\u2028y", "z"]


def test_bad_job_name_from_a_file_stem(tmp_path):
    path = write(tmp_path, "my songs.csv", "id,prompt\na,x\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: name:") and "rename the file" in problem


def test_all_problems_are_reported_together_in_file_and_line_order(tmp_path):
    write(tmp_path, "more.csv", "id,prompt,seed\nc1,rock,1\nc2,folk,x\nshared,jazz,2\n")
    path = write(tmp_path, "job.yaml", """\
name: all wrong
output: s3://AKIA:secret@bucket
defaults:
  format: ogg
backends:
  verifier: ears
resources:
  generator: {max_actors: 0}
tracks:
  - id: shared
    prompt: pop
    duration_s: 9999
  - id: ../escape
  - file: more.csv
  - file: gone.jsonl
""")
    with pytest.raises(JobFileError) as info:
        load_job(path)
    problems, f, csv = info.value.problems, str(path), str(tmp_path / "more.csv")
    assert [p.split(": ", 2)[:2] for p in problems] == [
        [f"{f}:1", "name"],
        [f"{f}:2", "output"],
        [f"{f}:4", "defaults.format"],
        [f"{f}:6", "backends.verifier"],
        [f"{f}:8", "resources.generator.max_actors"],
        [f"{f}:12", "tracks[0].duration_s"],
        [f"{f}:13", "tracks[1].prompt"],
        [f"{f}:13", "tracks[1].id"],
        [f"{f}:15", "tracks[3].file"],
        [f"{csv}:3", "seed"],
        [f"{csv}:4", "id"],
    ], problems
    assert problems[-1].endswith(f"duplicate track id 'shared' at {f}:10 ('shared')")
    message = str(info.value)
    assert message.startswith(f"11 problems in {f}:\n  {f}:1: name: ")
    assert message.count("\n") == 11
    assert isinstance(info.value, SongfarmError) and "secret" not in message


def test_message_lists_at_most_fifty_problems(tmp_path):
    rows = "".join(f"r{i},x,bad\n" for i in range(60))
    with pytest.raises(JobFileError) as info:
        load_job(write(tmp_path, "many.csv", "id,prompt,seed\n" + rows))
    assert len(info.value.problems) == 60
    assert str(info.value).startswith("60 problems in ") and str(info.value).endswith("... and 10 more")


# --- backends: names and options checked without loading a model -------------------------


def test_unknown_backend_option_is_reported_at_its_line(tmp_path):
    path = write(tmp_path, "job.yaml", "backends:\n  generator:\n    name: synth\n    options:\n"
                 "      no_such_option: 1\n" + GOOD_TRACKS)
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:5: backends.generator.options.no_such_option: unknown option of 'synth'")


def test_bad_backend_option_value_is_reported_at_the_options_line(tmp_path):
    path = write(tmp_path, "job.yaml", "backends:\n  generator:\n    name: synth\n"
                 "    options: {sample_rate: high}\n" + GOOD_TRACKS)
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:4: backends.generator.options: sample_rate='high': must be an integer")


def test_path_options_are_left_to_the_backend_at_start_up(tmp_path):
    path = write(tmp_path, "job.yaml", "backends:\n  generator: {name: synth, options: {soundfont: /no/such.sf2}}\n"
                 + GOOD_TRACKS)
    assert load_job(path).settings.backends["generator"].options == {"soundfont": "/no/such.sf2"}


def test_backend_names_and_empty_options_resolve(tmp_path):
    path = write(tmp_path, "job.yaml", "backends:\n  planner: rules\n  verifier: {name: features}\n" + GOOD_TRACKS)
    job = load_job(path)
    backends = job.settings.backends
    assert (backends["planner"].name, backends["verifier"].name, backends["verifier"].options) == (
        "rules", "features", {})


# --- examples, round trip, the command line ------------------------------------------------


@pytest.mark.parametrize("name,tracks", [("demo.yaml", 5), ("overnight.yaml", 100), ("chinese.yaml", 5),
                                         ("songgeneration.jsonl", 5), ("overnight.csv", 100)])
def test_examples_load(name, tracks):
    job = load_job(EXAMPLES / name)
    assert len(job.tracks) == tracks and len({t.id for t in job.tracks}) == tracks
    assert job.name == Path(name).stem


def test_example_contents():
    demo = load_job(EXAMPLES / "demo.yaml")
    assert all(20 <= t.duration_s <= 30 for t in demo.tracks)
    overnight = load_job(EXAMPLES / "overnight.yaml")
    assert all(t.duration_s == 30 for t in overnight.tracks)
    chinese_prompts = [t for t in overnight.tracks if any("\u4e00" <= c <= "\u9fff" for c in t.prompt)]
    assert 5 <= len(chinese_prompts) < 50
    chinese = load_job(EXAMPLES / "chinese.yaml")
    text = " ".join(t.prompt for t in chinese.tracks)
    assert all(word in text for word in ("国风", "民乐", "古筝", "二胡"))
    assert any("[verse]" in (t.lyrics or "") and "[chorus]" in (t.lyrics or "") for t in chinese.tracks)


def test_round_trip_through_job_yaml(tmp_path):
    write(tmp_path, "rows.csv",
          "id,prompt,lyrics,moods\nc1,江南小调,\"[verse]\n月色\n[chorus]\n灯火\",\"calm, warm\"\n")
    path = write(tmp_path, "job.yaml", """\
name: trip
output: s3://renders/night
s3_endpoint: http://127.0.0.1:9000
defaults: {duration_s: 22, candidates: 3, key: A minor, max_attempts: 2, format: wav, stems: true}
resources:
  generator: {min_actors: 1, max_actors: 3, num_gpus: 0.25}
prices: {currency: EUR, per_hour: {CPU: 0.05, GPU: 2}, node_types: {gpu_worker: 3.5}}
tracks:
  - {id: a, prompt: "pop: bright, \\"quoted\\"", bpm: 120, time_signature: "6/8", instruments: [piano, bass]}
  - file: rows.csv
""")
    job = load_job(path)
    text = job_to_yaml(job)
    assert "[verse]\n" in text and "|" in text  # lyrics stay readable
    (tmp_path / "out").mkdir()
    again = load_job(write(tmp_path / "out", "job.yaml", text))
    first, second = job.to_dict(), again.to_dict()
    first.pop("source"), second.pop("source")
    assert first == second
    assert again.tracks[1].lyrics == "[verse]\n月色\n[chorus]\n灯火" and again.tracks[1].moods == ["calm", "warm"]
    assert again.prices.currency == "EUR" and again.prices.per_hour == {"CPU": 0.05, "GPU": 2.0}
    assert again.prices.node_types == {"gpu_worker": 3.5}


def test_prices_default_to_none_and_price_held_hours():
    from songfarm.models.prices import Prices, held_resource_hours

    assert not load_job(EXAMPLES / "demo.yaml").prices.given
    assert Prices().cost({"CPU": 10.0}) is None  # no prices: no cost anywhere
    pools = {"generator": {"actors": 2, "num_cpus": 1, "num_gpus": 0.5, "resources": {"cpu_pool": 0.1}},
             "verifier": {"actors": 1, "num_cpus": 0.5, "num_gpus": 0}}
    hours = held_resource_hours(pools, 1800.0)  # half an hour
    assert hours == pytest.approx({"CPU": 1.25, "GPU": 0.5, "cpu_pool": 0.1})
    prices = Prices(per_hour={"CPU": 0.04, "GPU": 2.0}, node_types={"gpu_worker": 3.0})
    assert prices.cost(hours, {"gpu_worker": 2.0}) == pytest.approx(1.25 * 0.04 + 0.5 * 2.0 + 6.0)
    assert prices.format(7.05) == "USD 7.05"


def test_job_yaml_redacts_secret_options():
    from songfarm.models.job import Job
    from songfarm.models.request import TrackRequest
    from songfarm.models.settings import BackendSpec, RenderSettings

    settings = RenderSettings()
    settings.backends["planner"] = BackendSpec("llm", {"checkpoint": "/models/q", "api_key": "sk-123",
                                                       "hf_token": "hf_abc"})
    job = Job(name="j", output="./renders", tracks=[TrackRequest(id="a", prompt="x")], settings=settings)
    text = job_to_yaml(job)
    assert "sk-123" not in text and "hf_abc" not in text and "/models/q" in text
    assert text.count("<redacted>") == 2


def test_cli_validate_ok(capsys):
    code = main(["validate", str(EXAMPLES / "songgeneration.jsonl")])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "ok" in out and "5 tracks" in out


def test_cli_validate_reports_problems_and_exits_2(capsys, tmp_path):
    path = write(tmp_path, "job.yaml", "tracks:\n  - {id: a/b, prompt: x}\n  - {id: c, prompt: y, candidates: 0}\n")
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith(f"songfarm: error: 2 problems in {path}:\n")
    assert f"  {path}:2: tracks[0].id: " in err and f"  {path}:3: tracks[1].candidates: " in err
    assert "Traceback" not in err
