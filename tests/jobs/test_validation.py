"""Validation equals rendering: every bad input gets one clear line naming the file, the
line, the field and the bad value, from `songfarm validate` (exit 2), before any Ray.

One section per class of problem: strict CSV, strict JSONL, whole-string names,
planner rules checked up front, hostile files, nothing echoed from a file beyond the bad
value, and NFC names. Then the render settings read through the shared loader."""

import json
import time
import unicodedata
from pathlib import Path

import pytest

from songfarm.jobs.cli import main
from songfarm.jobs.jobfile import JobFileError, job_to_yaml, load_job
from songfarm.models.planners.rules import PlanError, RulesPlanner
from songfarm.models.request import TrackRequest
from songfarm.models.settings import CALIBRATION_PROMPTS, CANDIDATES, MAX_ATTEMPTS, MIN_SCORE
from songfarm.pipelines.core import settings_file


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(JobFileError) as info:
        load_job(path)
    return info.value.problems


def validate(path: Path, capsys) -> str:
    """`songfarm validate PATH` must fail with exit 2; its stderr."""
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("songfarm: error: ") and "Traceback" not in err
    return err


# --- a. strict CSV: an unclosed quote never swallows later rows ----------------------------


def test_unclosed_quote_is_reported_where_it_opened(tmp_path, capsys):
    path = write(tmp_path, "rows.csv", 'id,prompt,seed\na,pop,1\nb,"oops,2\nc,rock,3\nd,jazz,4\n')
    err = validate(path, capsys)
    assert f"{path}:3: csv: a quoted cell opened on this line runs on to the end of the file" in err


def test_quote_closed_by_a_later_row_is_reported_where_it_opened(tmp_path):
    path = write(tmp_path, "rows.csv", 'id,prompt,seed\nb,"oops,2\nc,rock,3\nd,"jazz",4\n')
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:2: csv: a quoted cell opened on this line runs on to line 4")


def test_rows_swallowed_into_one_cell_are_caught_by_the_cell_count(tmp_path):
    path = write(tmp_path, "rows.csv", 'id,prompt,seed\nb,"oops,2\nc,rock,3\nd,jazz,4"\ne,folk,5\n')
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:2: csv: a quoted cell opened on this line runs on to line 4, leaving its "
                              "row 2 cells for the header's 3")


def test_every_row_has_the_headers_cell_count(tmp_path):
    path = write(tmp_path, "rows.csv", "id,prompt,seed\na,pop\nb,rock,1,extra\n")
    assert problems_of(path) == [
        f"{path}:2: row: 2 cells but the header names 3 columns (leave a cell empty with ',,' rather than leaving "
        "it out)",
        f"{path}:3: row: 4 cells but the header names 3 columns"]


def test_multi_line_cells_with_the_right_count_are_fine(tmp_path):
    path = write(tmp_path, "rows.csv", 'id,prompt,lyrics\na,pop,"[verse]\nla ""la""\n[chorus]\nhey"\nb,rock,\n')
    a, b = load_job(path).tracks
    assert a.lyrics == '[verse]\nla "la"\n[chorus]\nhey' and b.id == "b"


def test_text_after_a_closing_quote_is_refused(tmp_path):
    [problem] = problems_of(write(tmp_path, "rows.csv", 'id,prompt\na,"pop"rock\n'))
    assert problem.startswith(f"{tmp_path / 'rows.csv'}:2: csv: invalid CSV: ',' expected after '\"'")


# --- b. strict JSONL: a key given twice -----------------------------------------------------


def test_jsonl_duplicate_key_names_line_and_key(tmp_path, capsys):
    path = write(tmp_path, "sg.jsonl", '{"idx": "a", "descriptions": "x"}\n'
                 '{"idx": "b", "descriptions": "pop", "descriptions": "rock"}\n')
    err = validate(path, capsys)
    assert f"{path}:2: descriptions: given twice in one JSON object" in err and err.count("\n") == 2


def test_jsonl_numbers_too_long_or_nesting_too_deep_are_one_line_each(tmp_path):
    path = write(tmp_path, "sg.jsonl", '{"idx": "a", "descriptions": "x", "seed": ' + "1" * 5000 + "}\n"
                 + "[" * 100_000 + "]" * 100_000 + "\n")
    assert problems_of(path) == [f"{path}:1: json: invalid JSON: cannot read it (ValueError)",
                                 f"{path}:2: json: invalid JSON: cannot read it (RecursionError)"]


# --- c. ids and names match in full ---------------------------------------------------------


@pytest.mark.parametrize("bad", ["abc\n", "abc\r", "a\tb", "a\u200bb", "a\x00b", "a b", " abc"])
def test_ids_with_whitespace_or_control_characters_are_refused(tmp_path, bad):
    path = write(tmp_path, "job.yaml", f"tracks:\n  - {{id: {json.dumps(bad)}, prompt: x}}\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:2: tracks[0].id: track ids become file names") and repr(bad) in problem


def test_job_name_with_a_trailing_newline_is_refused(tmp_path, capsys):
    path = write(tmp_path, "job.yaml", 'name: "nightly\\n"\ntracks:\n  - {id: a, prompt: x}\n')
    err = validate(path, capsys)
    assert f"{path}:1: name: the job name becomes a folder name" in err and "('nightly\\n')" in err


def test_ids_longer_than_a_file_name_in_bytes_are_refused(tmp_path):
    path = write(tmp_path, "job.yaml", f"tracks:\n  - {{id: {'古' * 100}, prompt: x}}\n")  # 100 chars, 300 bytes
    assert "240 bytes" in problems_of(path)[0]


# --- d. what the planner refuses, validate refuses ------------------------------------------


PLANNER_RULES = [
    ("key: H major", "tracks[0].key: not a key", "('H major')"),
    ("key: 'C##'", "tracks[0].key: not a key", "('C##')"),
    ("key: Q minor", "tracks[0].key: not a key", "('Q minor')"),
    ("key: ' '", "tracks[0].key: not a key", "(' ')"),
    ("instruments: [piano, theremin]", "tracks[0].instruments: unknown instrument 'theremin'", "('theremin')"),
    ("instruments: 'guzheng, kazoo'", "tracks[0].instruments: unknown instrument 'kazoo'", "('kazoo')"),
    ("time_signature: '3/5'", "tracks[0].time_signature: must look like 3/4", "('3/5')"),
    ("time_signature: '11/8'", "tracks[0].time_signature: must look like 3/4", "('11/8')"),
]


@pytest.mark.parametrize("field,expected,value", PLANNER_RULES, ids=[r[0] for r in PLANNER_RULES])
def test_planner_rules_fail_in_validate(tmp_path, capsys, field, expected, value):
    path = write(tmp_path, "job.yaml", f"tracks:\n  - id: a\n    prompt: a pop song\n    {field}\n")
    err = validate(path, capsys)
    assert f"{path}:4: {expected}" in err and value in err


@pytest.mark.parametrize("field,value", [("key", "H major"), ("key", "C##"), ("instruments", ["theremin"]),
                                         ("time_signature", "3/5")])
def test_validate_and_the_planner_refuse_with_the_same_words(field, value):
    request = TrackRequest(id="a", prompt="a pop song", **{field: value})
    [error] = request.validate()
    with pytest.raises(PlanError) as info:
        RulesPlanner().plan(request)
    assert error.reason in str(info.value)


def test_what_validate_accepts_the_planner_plans(tmp_path):
    path = write(tmp_path, "job.yaml", """\
defaults: {key: a小调}
tracks:
  - {id: a, prompt: pop, key: "F# minor", time_signature: "6/8", instruments: [guzheng, drums, 笛子]}
  - {id: b, prompt: rock, key: Eb, time_signature: "12/8", bpm: 300}
  - {id: c, prompt: 民乐}
  - {id: d, prompt: jazz, key: B flat minor, time_signature: "7/8", bpm: 30}
""")
    planner = RulesPlanner()
    plans = [planner.plan(track) for track in load_job(path).tracks]
    assert [(p.tonic, p.mode) for p in plans] == [("F#", "minor"), ("Eb", "major"), ("A", "minor"), ("Bb", "minor")]
    assert "guzheng" in plans[0].instruments and (plans[1].beats_per_bar, plans[1].beat_unit) == (12, 8)


# --- e. hostile files: alias bombs, depth, size ---------------------------------------------


def _billion_laughs(levels: int = 10) -> str:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for level in range(1, levels):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        text += f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    return text + f"tracks:\n  - {{id: x, prompt: *{chr(ord('a') + levels - 1)}}}\n"


def test_yaml_alias_bomb_is_refused_at_once(tmp_path, capsys):
    path = write(tmp_path, "job.yaml", _billion_laughs())
    started = time.perf_counter()
    err = validate(path, capsys)
    assert time.perf_counter() - started < 5  # generous on a loaded 2-core machine; typically ~10 ms
    assert f"{path}:6: yaml: invalid YAML: too many aliases" in err and len(err) < 300


def test_a_few_aliases_are_still_fine(tmp_path):
    path = write(tmp_path, "job.yaml", """\
defaults: &common {duration_s: 20, seed: 3}
tracks:
  - {<<: *common, id: a, prompt: pop}
  - {<<: *common, id: b, prompt: rock}
""")
    assert [(t.duration_s, t.seed) for t in load_job(path).tracks] == [(20.0, 3), (20.0, 3)]


def test_recursive_alias_and_deep_nesting_are_one_line_each(tmp_path):
    path = write(tmp_path, "job.yaml", "tracks: &t [*t]\n")
    assert problems_of(path)[0].startswith(f"{path}:1: yaml: invalid YAML:")
    path = write(tmp_path, "deep.yaml", "tracks: " + "[" * 10_000 + "]" * 10_000 + "\n")
    assert problems_of(path) == [f"{path}:1: yaml: invalid YAML: nested more than 64 levels deep"]


def test_values_python_cannot_hold_are_yaml_errors_with_a_line(tmp_path):
    path = write(tmp_path, "job.yaml", f"tracks:\n  - {{id: a, prompt: x, seed: {'9' * 5000}}}\n")
    assert problems_of(path) == [f"{path}:2: yaml: invalid YAML: cannot read this int value (ValueError)"]
    path = write(tmp_path, "date.yaml", "name: 2024-02-30\ntracks:\n  - {id: a, prompt: x}\n")
    assert problems_of(path) == [f"{path}:1: yaml: invalid YAML: cannot read this timestamp value (ValueError)"]


def test_files_beyond_the_size_limit_are_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(settings_file, "MAX_FILE_BYTES", 1000)
    write(tmp_path, "rows.csv", "id,prompt\n" + "".join(f"r{i},pop\n" for i in range(200)))
    path = write(tmp_path, "job.yaml", "tracks:\n  - file: rows.csv\n")
    assert problems_of(path) == [f"{path}:2: tracks[0].file: {tmp_path / 'rows.csv'} is larger than 0 MiB; "
                                 "split it into several files"]
    big = write(tmp_path, "big.yaml", "# " + "x" * 2000 + "\n")
    assert "is larger than" in problems_of(big)[0]


# --- f. nothing of a file is echoed beyond the bad field's value ----------------------------


SECRET = "TOP-SECRET lyrics nobody may see"


@pytest.mark.parametrize("name,content", [
    ("notes.csv", f"{SECRET}\n{SECRET}, again\n"),  # not a track CSV at all
    ("notes.jsonl", f"{SECRET}\n"),
    ("broken.csv", f'id,prompt\na,"{SECRET}\n'),
    ("latin1.csv", f"id,prompt\na,{SECRET} caf\xe9\n".encode("latin-1")),
])
def test_referenced_file_problems_never_echo_its_text(tmp_path, capsys, name, content):
    write(tmp_path, name, content)
    path = write(tmp_path, "job.yaml", f"tracks:\n  - file: {name}\n")
    err = validate(path, capsys)
    assert "SECRET" not in err and f"{tmp_path / name}:" in err


@pytest.mark.parametrize("content", [
    f"{SECRET}\n",  # a scalar document
    f"- {SECRET}\n- another\n",  # a list
    f"name: x\ntracks: [{SECRET}\n",  # a syntax error
    f"name: x\n\t{SECRET}: 1\n",  # a tab where YAML forbids one
    b"name: x\ntracks: [\xff]\n",  # not UTF-8
])
def test_yaml_job_problems_never_echo_its_text(tmp_path, capsys, content):
    err = validate(write(tmp_path, "job.yaml", content), capsys)
    assert "SECRET" not in err


def test_odd_keys_are_shown_escaped_and_short(tmp_path):
    key = "\x1b[31m" + "k" * 200
    path = write(tmp_path, "job.yaml", f"tracks:\n  - {{id: a, prompt: x}}\n{json.dumps(key)}: 1\n")
    [problem] = problems_of(path)
    assert "\x1b" not in problem and "k" * 80 not in problem and problem.startswith(f"{path}:3: '\\x1b[31mkkk")


# --- g. names are NFC-normalised before they are checked --------------------------------------


def test_nfd_names_pass_and_are_stored_nfc(tmp_path):
    nfd = unicodedata.normalize("NFD", "café")
    assert nfd != "café"
    path = write(tmp_path, "job.yaml", f"name: {nfd}-night\ntracks:\n  - {{id: {nfd}, prompt: x}}\n")
    job = load_job(path)
    assert job.name == "café-night" and job.tracks[0].id == "café"


def test_nfc_and_nfd_spellings_of_one_id_are_duplicates(tmp_path):
    nfd = unicodedata.normalize("NFD", "café")
    path = write(tmp_path, "rows.csv", f"id,prompt\ncafé,x\n{nfd},y\n")
    assert problems_of(path) == [f"{path}:3: id: duplicate track id 'café' at {path}:2 ('café')"]


def test_a_csv_job_named_after_an_nfd_file_name_is_nfc(tmp_path):
    path = write(tmp_path, unicodedata.normalize("NFD", "été.csv"), "id,prompt\na,x\n")
    assert load_job(path).name == "été"


# --- render settings: the shared loader ------------------------------------------------------


def test_settings_defaults_come_from_render_settings(tmp_path):
    job = load_job(write(tmp_path, "job.yaml", "tracks:\n  - {id: a, prompt: x}\n"))
    s = job.settings
    assert (s.min_score, s.max_attempts, s.candidates, s.calibration_prompts) == (MIN_SCORE, MAX_ATTEMPTS, CANDIDATES,
                                                                                  [])
    assert job.tracks[0].candidates == CANDIDATES


def test_candidates_default_is_a_setting_and_every_tracks_default(tmp_path):
    path = write(tmp_path, "job.yaml", "defaults: {candidates: 3}\ntracks:\n  - {id: a, prompt: x}\n"
                 "  - {id: b, prompt: y, candidates: 1}\n")
    job = load_job(path)
    assert job.settings.candidates == 3 and [t.candidates for t in job.tracks] == [3, 1]
    path = write(tmp_path, "bad.yaml", "defaults: {candidates: 99}\ntracks:\n  - {id: a, prompt: x}\n")
    assert problems_of(path) == [f"{path}:1: defaults.candidates: must be an integer in [1, 16] (99)"]


def test_calibration_prompts_job_means_the_jobs_distinct_prompts(tmp_path):
    rows = "".join(f"  - {{id: t{i}, prompt: prompt {i % 80}}}\n" for i in range(100))
    path = write(tmp_path, "job.yaml", "defaults: {calibration_prompts: job}\ntracks:\n" + rows)
    job = load_job(path)
    assert job.settings.calibration_prompts == [f"prompt {i}" for i in range(CALIBRATION_PROMPTS)]
    (tmp_path / "out").mkdir()
    again = load_job(write(tmp_path / "out", "job.yaml", job_to_yaml(job)))
    assert again.settings == job.settings  # job.yaml holds the resolved list


@pytest.mark.parametrize("value,expected", [
    ("everyone", "defaults.calibration_prompts: must be a list of prompts (text), at most 64, or `job`"),
    ("[a, '', 3]", "defaults.calibration_prompts[1]: must be non-empty text"),
    (json.dumps([f"p{i}" for i in range(65)]), "defaults.calibration_prompts: 65 prompts"),
])
def test_bad_calibration_prompts(tmp_path, value, expected):
    path = write(tmp_path, "job.yaml",
                 f"defaults:\n  calibration_prompts: {value}\ntracks:\n  - {{id: a, prompt: x}}\n")
    assert problems_of(path)[0].startswith(f"{path}:2: {expected}")


def test_one_loader_for_a_plain_mapping_without_lines():
    report = settings_file.Problems()
    settings = settings_file.read_settings({"min_score": 0.5, "format": "ogg", "backends": {"planner": "rules"}},
                                           "args", report)
    assert settings.min_score == 0.5 and settings.delivery.format == "flac"
    assert report.sorted() == ["args: format: must be one of flac, wav ('ogg')"]
    assert settings_file.read_settings(settings_file.settings_dict(settings), "args", report) == settings
