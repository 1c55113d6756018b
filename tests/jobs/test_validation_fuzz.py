"""The job loader against the whole class of malformed input, generated here in code.

Every case is a small tree of files (a YAML job, the CSV/JSONL files it references, or a
standalone SongGeneration JSONL or CSV) and what `songfarm validate` must say about it:
exit 2 with one "songfarm: error:" message that names the file, the line where there is
one, the field and (shortened) the bad value, never a traceback, never more of a
referenced file than the bad value; or exit 0 for the unusual inputs that are valid
(CRLF, a BOM, anchors and merge keys, quoted newlines, `id: 123` read as "123").
`load_job` on the same file raises JobFileError and nothing else. Then 200 seeded random
mutations of jobs/examples/demo.yaml: each passes or fails the same clean way.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from songfarm.jobs.cli import main
from songfarm.jobs.jobfile import JobFileError, load_job

DEMO = Path(__file__).resolve().parents[2] / "jobs" / "examples" / "demo.yaml"
MAX_MESSAGE = 4000
SECRET = "SECRET-ROW-TEXT-7f3a"  # in referenced files beyond the bad value: must never be shown


@dataclass
class Case:
    name: str
    files: dict[str, str | bytes]  # relative path → content; a path ending in "/" is a folder
    entry: str = "job.yaml"
    ok: bool = False
    line: int | None = None  # the ":LINE:" the message must show
    field: str | None = None  # must appear in the message
    where: str | None = None  # the file the message must name (default: entry)
    shows: str | None = None  # the bad value as it must appear (repr, shortened)
    absent: tuple[str, ...] = (SECRET,)


def track(extra: str = "", id_: str = "t1", prompt: str = "a calm piano piece") -> str:
    """A one-track YAML job; `extra` is line 5 (a field of the track)."""
    text = f"name: fuzz\ntracks:\n  - id: {id_}\n    prompt: {prompt}\n"
    return text + (f"    {extra}\n" if extra else "")


def head(section: str) -> str:
    """A YAML job whose line 2 is `section` and whose one track is valid."""
    return f"name: fuzz\n{section}\ntracks:\n  - {{id: t1, prompt: a calm piano piece}}\n"


CASES: list[Case] = []


def add(*cases: Case) -> None:
    CASES.extend(cases)


# --- a. every track field with a wrong type or value (line 5 of a YAML job) ---------------

_BAD_FIELDS = {
    "duration_s": ["0", "-5", "1e9", "long", "[1]", "{a: 1}", "true", ".nan", ".inf", "-.inf", "1e400", "'30'"],
    "seed": ["-1", "1.5", "18446744073709551616", "x", "true", "[1]", ".nan", ".inf", "{a: 1}", "9" * 5000,
             "2024-02-30"],
    "candidates": ["0", "1000", "two", "2.5", "true", "-3", "[2]"],
    "bpm": ["10", "1000", "fast", ".nan", ".inf", "-1", "[120]", "false"],
    "key": ["H minor", "5", "[C]", "''", "C# blorp", "{tonic: C}", "true", "'" + "C" * 3000 + "'"],
    "time_signature": ["'7/0'", "'0/4'", "'4/3'", "'x/4'", "4", "''", "'4/4/4'", "[3, 4]", "'3/4 extra'", "0.75"],
    "instruments": ["[1, 2]", "[kazooblaster]", "{a: b}", "5", "'piano, kazooblaster'", "[[piano]]", "[null]"],
    "genre": ["[pop]", "5", "{a: b}", "true"],
    "moods": ["5", "[1]", "{a: b}", "[[happy]]", "true"],
    "lyrics": ["5", "[a]", "{a: b}", "true", "'" + "la " * 8000 + "'"],
    "reference_audio": ["5", "[a.wav]", "{a: b}"],
    "prompt": ["''", "'   '", "5", "[a]", "{a: b}", "null", "'" + "x" * 5000 + "'", "true", '"bad \\x00 nul"',
               '"lone \\ud800 surrogate"', '"escape \\x1b[31m"'],
    "id": ["'has space'", "a/b", "'..'", "a..b", ".hidden", "x" * 200, "''", "true", "[a]", "null", "1.5",
           "'a\\b'", '"tab\\tid"', '"ctl\\x01"', "2024-01-01", "'é '", "'" + "界" * 100 + "'", "'a:b'"],
}
for _field, _values in _BAD_FIELDS.items():
    for _i, _value in enumerate(_values):
        if _field in ("prompt", "id"):
            # replace the track's own id / prompt (line 3 / 4)
            text = track(id_=_value) if _field == "id" else track(prompt=_value)
            line = 3 if _field == "id" else 4
        else:
            text, line = track(f"{_field}: {_value}"), 5
        # values Python cannot hold (a 5000-digit int, 30 February) are YAML errors at their line
        unreadable = _value in ("9" * 5000, "2024-02-30")
        add(Case(f"track-{_field}-{_i}", {"job.yaml": text}, line=line,
                 field="yaml" if unreadable else f"tracks[0].{_field}"))

add(
    Case("track-unknown-field", {"job.yaml": track("durration_s: 3")}, line=5, field="tracks[0].durration_s"),
    Case("track-int-key", {"job.yaml": track("1: x")}, line=5, field="tracks[0].1"),
    Case("track-null-key", {"job.yaml": track("~: x")}, line=5, field="tracks[0].None"),
    Case("track-int-id-negative", {"job.yaml": track(id_="-1")}, ok=True),
    Case("track-alias-twice", {"job.yaml": track("tempo: 120\n    bpm: 100")}, line=6, field="bpm"),
    Case("track-duplicate-key", {"job.yaml": track("seed: 1\n    seed: 2")}, line=6, field="seed",
         shows="first at line 5"),
    Case("track-missing-prompt", {"job.yaml": "tracks:\n  - id: a\n"}, line=2, field="tracks[0].prompt"),
    Case("track-missing-id", {"job.yaml": "tracks:\n  - prompt: a song\n"}, line=2, field="tracks[0].id"),
    Case("track-style-not-text", {"job.yaml": track("auto_prompt_audio_type: 5")}, line=5,
         field="auto_prompt_audio_type"),
    Case("track-file-and-id", {"job.yaml": "tracks:\n  - {file: rows.csv, id: a}\n",
                               "rows.csv": "id,prompt\nb,pop\n"}, line=2, field="tracks[0].id"),
)

# valid but unusual track fields
add(
    Case("track-int-id", {"job.yaml": track(id_="123")}, ok=True),
    Case("track-instruments-as-text", {"job.yaml": track("instruments: piano, guitar")}, ok=True),
    Case("track-moods-as-text", {"job.yaml": track("moods: happy")}, ok=True),
    Case("track-unknown-lyric-tags", {"job.yaml": track("lyrics: \"[wobble]\\nla la\\n[verse 2]\\nhey\"")},
         ok=True),
    Case("track-null-duration", {"job.yaml": track("duration_s: null")}, ok=True),
    Case("track-unquoted-metre", {"job.yaml": track("time_signature: 6/8")}, ok=True),
    Case("track-cjk-id", {"job.yaml": track(id_="国风-01")}, ok=True),
)

# --- b. the job's own sections -------------------------------------------------------------

_BAD_SECTIONS = {
    "name": ["a/b", "'..'", "''", "[a]", "{a: b}", "'has space'", "x" * 300, ".hidden", "true", "null"],
    "output": ["''", "ftp://host/x", "5", "[a]", "s3://UPPER/x", "s3://ab", "null", "http://x/y",
               "s3://user:pw@bucket/x", "'s3://bucket/../x'", "'" + "d" * 5000 + "'", "file://host/x",
               '"bad\\x00out"', "'s3://[::1/x'", '"lone\\ud800"'],
    "s3_endpoint": ["ftp://x", "5", "'http://'", "'http://h:99999'", "[a]", "'http://u:p@h'", '"http://h\\x1b/"',
                    '"http://h\\ud800/"'],
    "defaults": ["[1]", "5", "{foo: 1}", "{id: x}", "{prompt: x}", "{duration_s: x}", "{candidates: 0}",
                 "{min_score: 2}", "{min_score: .nan}", "{max_attempts: 0}", "{format: mp3}", "{sample_rate: 12345}",
                 "{stems: 'yes'}", "{midi: 1}", "{calibration_prompts: 5}", "{calibration_prompts: [1]}",
                 "{seed: -1}", "{bpm: .inf}", "{1: 2}", "{key: 7/0}", "{calibration_prompts: other}",
                 "{max_attempts: 1e30}"],
    "backends": ["[1]", "5", "{planner: nope}", "{gpu: x}", "{generator: {name: synth, options: {bogus: 1}}}",
                 "{generator: {name: synth, options: {soundfont: 5}}}", "{generator: {name: 5}}",
                 "{generator: {nam: synth}}", "{generator: [synth]}", "{generator: {name: synth, options: [1]}}",
                 "{generator: {options: {}}}", "{generator: {name: synth, options: {sample_rate: x}}}",
                 "{generator: null}", "{planner: ''}", "{verifier: {name: features, options: {x: 1}}}"],
    "resources": ["[1]", "5", "{gpu: {}}", "{generator: 5}", "{generator: {min_actors: 0}}",
                  "{generator: {min_actors: -1}}", "{generator: {num_cpus: -1}}", "{generator: {num_cpus: .nan}}",
                  "{generator: {num_cpus: .inf}}", "{generator: {num_cpus: 1.0e+300}}",
                  "{generator: {num_gpus: 1.0e+9}}",
                  "{generator: {batch_size: 1e20}}", "{generator: {max_actors: 1, min_actors: 3}}",
                  "{generator: {num_gpus: 1.5}}", "{generator: {bogus: 1}}", "{generator: {num_cpus: '1'}}",
                  "{generator: {num_cpus: true}}", "{generator: {max_actors: 2.5}}"],
}
for _section, _values in _BAD_SECTIONS.items():
    for _i, _value in enumerate(_values):
        add(Case(f"section-{_section}-{_i}", {"job.yaml": head(f"{_section}: {_value}")}, line=2, field=_section))

add(
    Case("section-unknown", {"job.yaml": head("trakcs: 1")}, line=2, field="trakcs"),
    Case("section-unknown-null-key", {"job.yaml": head("~: 1")}, line=2, field="None"),
    Case("section-unknown-bool-key", {"job.yaml": head("true: 1")}, line=2, field="True"),
    Case("section-duplicate-name", {"job.yaml": "name: a\nname: b\ntracks: [{id: t, prompt: p}]\n"}, line=2,
         field="name", shows="first at line 1"),
    Case("section-defaults-null", {"job.yaml": head("defaults: null")}, ok=True),
    Case("section-name-int", {"job.yaml": "name: 2024\ntracks: [{id: t, prompt: p}]\n"}, line=1, field="name",
         shows="(2024)"),
    Case("section-name-quoted-int", {"job.yaml": "name: '2024'\ntracks: [{id: t, prompt: p}]\n"}, ok=True),
    Case("section-output-s3", {"job.yaml": head("output: s3://my-bucket/renders")}, ok=True),
)

# --- c. the shape of the YAML ------------------------------------------------------------------

add(
    Case("yaml-empty", {"job.yaml": ""}, field="job"),
    Case("yaml-whitespace", {"job.yaml": "   \n\n\t\n"}, field="job"),
    Case("yaml-only-comment", {"job.yaml": "# nothing here\n"}, field="job"),
    Case("yaml-top-level-list", {"job.yaml": "- a\n- b\n"}, line=1, field="job"),
    Case("yaml-top-level-scalar", {"job.yaml": "hello\n"}, line=1, field="job"),
    Case("yaml-tracks-mapping", {"job.yaml": "tracks: {id: a, prompt: b}\n"}, line=1, field="tracks"),
    Case("yaml-tracks-scalar", {"job.yaml": "tracks: 5\n"}, line=1, field="tracks"),
    Case("yaml-tracks-empty", {"job.yaml": "tracks: []\n"}, line=1, field="tracks"),
    Case("yaml-tracks-null", {"job.yaml": "tracks:\n"}, line=1, field="tracks"),
    Case("yaml-no-tracks", {"job.yaml": "name: x\n"}, field="tracks"),
    Case("yaml-track-scalar", {"job.yaml": "tracks:\n  - 5\n"}, line=2, field="tracks[0]"),
    Case("yaml-track-list", {"job.yaml": "tracks:\n  - [a, b]\n"}, line=2, field="tracks[0]"),
    Case("yaml-tabs", {"job.yaml": "name: x\ntracks:\n\t- id: a\n"}, line=3, field="yaml"),
    Case("yaml-python-tag", {"job.yaml": "name: !!python/object:os.system {}\ntracks: []\n"}, line=1,
         field="yaml"),
    Case("yaml-python-apply", {"job.yaml": "tracks:\n  - !!python/object/apply:os.system [ls]\n"}, line=2,
         field="yaml"),
    Case("yaml-custom-tag", {"job.yaml": "tracks:\n  - !track {id: a, prompt: b}\n"}, line=2, field="yaml"),
    Case("yaml-binary-prompt", {"job.yaml": track(prompt="!!binary aGVsbG8=")}, line=4, field="tracks[0].prompt"),
    Case("yaml-multi-document", {"job.yaml": "name: a\ntracks: [{id: t, prompt: p}]\n---\nname: b\n"}, line=3,
         field="yaml"),
    Case("yaml-unclosed-flow", {"job.yaml": "tracks: [{id: a, prompt: b}\n"}, field="yaml"),
    Case("yaml-unclosed-quote", {"job.yaml": 'name: "abc\ntracks: []\n'}, field="yaml"),
    Case("yaml-bad-indent", {"job.yaml": "tracks:\n  - id: a\n   prompt: b\n"}, line=3, field="yaml"),
    Case("yaml-unhashable-key", {"job.yaml": "? [a, b]\n: 1\ntracks: []\n"}, line=1, field="yaml"),
    Case("yaml-undefined-alias", {"job.yaml": "tracks:\n  - *nothing\n"}, line=2, field="yaml"),
    Case("yaml-bad-merge", {"job.yaml": "tracks:\n  - {<<: 5, id: a, prompt: b}\n"}, line=2, field="yaml"),
    Case("yaml-recursive-alias", {"job.yaml": "tracks: &a\n  - *a\n"}, line=1, field="yaml"),
    Case("yaml-deep-nesting", {"job.yaml": "tracks: " + "[" * 200 + "]" * 200 + "\n"}, line=1, field="yaml"),
    Case("yaml-billion-laughs", {"job.yaml": "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                                 + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
                                           for p, c in zip("abcdefgh", "bcdefghi"))
                                 + "tracks: []\n"}, field="yaml"),
    Case("yaml-nul-byte", {"job.yaml": "name: a\x00b\ntracks: []\n"}, line=1, field="yaml"),
    Case("yaml-control-char", {"job.yaml": "name: x\ntracks:\n  - {id: a, prompt: b\x07}\n"}, line=3, field="yaml"),
    Case("yaml-date-id", {"job.yaml": track(id_="2024-02-30")}, line=3, field="yaml"),
    # valid but unusual
    Case("yaml-crlf", {"job.yaml": track("seed: 3").replace("\n", "\r\n")}, ok=True),
    Case("yaml-bom", {"job.yaml": b"\xef\xbb\xbf" + track().encode()}, ok=True),
    Case("yaml-anchors-merge", {"job.yaml": "name: fuzz\nx-base: &base {duration_s: 20, seed: 4}\n"
                                "tracks:\n  - {<<: *base, id: a, prompt: a song}\n"}, line=2, field="x-base"),
    Case("yaml-merge-ok", {"job.yaml": "name: fuzz\ntracks:\n  - &first {id: a, prompt: a song, seed: 3}\n"
                           "  - {<<: *first, id: b}\n"}, ok=True),
    Case("yaml-alias-scalar", {"job.yaml": "name: fuzz\ntracks:\n  - {id: a, prompt: &p a calm song}\n"
                               "  - {id: b, prompt: *p}\n"}, ok=True),
    Case("yaml-explicit-document", {"job.yaml": "---\n" + track() + "...\n"}, ok=True),
)

# --- d. encodings and bytes ------------------------------------------------------------------

add(
    Case("bytes-utf16", {"job.yaml": track().encode("utf-16")}, line=1, field="encoding"),
    Case("bytes-utf16-csv", {"rows.csv": "id,prompt\na,pop\n".encode("utf-16")}, entry="rows.csv", line=1,
         field="encoding"),
    Case("bytes-latin1", {"job.yaml": track(prompt="caf\xe9 song").encode("latin-1")}, line=4, field="encoding"),
    Case("bytes-garbage", {"job.yaml": random.Random(1).randbytes(500)}, field="encoding"),
    Case("bytes-garbage-jsonl", {"rows.jsonl": random.Random(2).randbytes(500)}, entry="rows.jsonl",
         field="encoding"),
    Case("bytes-separators-jsonl", {"rows.jsonl": "\x1c\x1d\x1e\x1f\n"}, entry="rows.jsonl", line=1, field="json"),
    Case("bytes-ascii-garbage", {"job.yaml": "".join(random.Random(3).choice("abc:-[]{} #\n\t'\"&*!|>")
                                                     for _ in range(300))}, field=None),
    Case("bytes-nul-jsonl", {"rows.jsonl": '{"idx": "a", "descriptions": "b\x00c"}\n'}, entry="rows.jsonl",
         line=1, field="json"),
    Case("bytes-nul-csv", {"rows.csv": "id,prompt\na,po\x00p\n"}, entry="rows.csv", line=2, field="prompt"),
    Case("bytes-bom-csv", {"rows.csv": b"\xef\xbb\xbfid,prompt\na,pop\n"}, entry="rows.csv", ok=True),
    Case("bytes-bom-jsonl", {"rows.jsonl": b'\xef\xbb\xbf{"idx": "a", "descriptions": "pop"}\n'},
         entry="rows.jsonl", ok=True),
    Case("bytes-crlf-csv", {"rows.csv": "id,prompt\r\na,pop\r\nb,rock\r\n"}, entry="rows.csv", ok=True),
    Case("bytes-crlf-jsonl", {"rows.jsonl": '{"idx": "a", "descriptions": "pop"}\r\n{"idx": "b", '
                              '"descriptions": "rock"}\r\n'}, entry="rows.jsonl", ok=True),
    Case("bytes-cr-jsonl", {"rows.jsonl": '{"idx": "a", "descriptions": "pop"}\r{"idx": "b", '
                            '"descriptions": "rock"}\r'}, entry="rows.jsonl", ok=True),
    Case("bytes-surrogate-jsonl", {"rows.jsonl": '{"idx": "a", "descriptions": "x\\ud800y"}\n'},
         entry="rows.jsonl", line=1, field="descriptions"),
)

# --- e. standalone CSV ---------------------------------------------------------------------

def csv_case(name: str, text: str | bytes, **kw) -> Case:
    return Case(name, {"rows.csv": text}, entry="rows.csv", **kw)


add(
    csv_case("csv-empty", "", field="tracks"),
    csv_case("csv-whitespace", "  \n \n", line=1, field="header"),
    csv_case("csv-no-header", f"a,pop {SECRET}\nb,rock\n", line=1, field="header"),
    csv_case("csv-duplicate-columns", "id,prompt,prompt\na,pop,rock\n", line=1, field="prompt"),
    csv_case("csv-header-only", "id,prompt\n", field="tracks"),
    csv_case("csv-unknown-column", "id,prompt,colour\na,pop,red\n", line=1, field="colour"),
    csv_case("csv-empty-column-name", "id,prompt,\na,pop,x\n", line=1, field="column 3"),
    csv_case("csv-extra-cells", f"id,prompt\na,pop,{SECRET}\n", line=2, field="row"),
    csv_case("csv-missing-cells", "id,prompt,seed\na,pop\n", line=2, field="row"),
    csv_case("csv-semicolons", "id;prompt\na;pop\n", line=1, field="header", shows="';'"),
    csv_case("csv-tabs", "id\tprompt\na\tpop\n", line=1, field="header", shows="tab"),
    csv_case("csv-unclosed-quote", f'id,prompt\na,"pop\nb,{SECRET}\n', line=2, field="csv"),
    csv_case("csv-text-after-quote", 'id,prompt\na,"pop"rock\n', line=2, field="csv"),
    csv_case("csv-seed-text", "id,prompt,seed\na,pop,lots\n", line=2, field="seed"),
    csv_case("csv-seed-inf", "id,prompt,seed\na,pop,1e400\n", line=2, field="seed"),
    csv_case("csv-seed-huge", "id,prompt,seed\na,pop,1e30\n", line=2, field="seed"),
    csv_case("csv-seed-negative", "id,prompt,seed\na,pop,-4\n", line=2, field="seed"),
    csv_case("csv-duration-nan", "id,prompt,duration_s\na,pop,nan\n", line=2, field="duration_s"),
    csv_case("csv-bpm-inf", "id,prompt,bpm\na,pop,inf\n", line=2, field="bpm"),
    csv_case("csv-candidates-zero", "id,prompt,candidates\na,pop,0\n", line=2, field="candidates"),
    csv_case("csv-bad-id", "id,prompt\n../up,pop\n", line=2, field="id"),
    csv_case("csv-bad-key", "id,prompt,key\na,pop,Q major\n", line=2, field="key"),
    csv_case("csv-bad-metre", "id,prompt,time_signature\na,pop,7/0\n", line=2, field="time_signature"),
    csv_case("csv-bad-instrument", "id,prompt,instruments\na,pop,\"piano,zither-o-matic\"\n", line=2,
             field="instruments"),
    csv_case("csv-duplicate-ids", "id,prompt\na,pop\nb,rock\nA,jazz\n", line=4, field="id", shows="rows.csv:2"),
    csv_case("csv-id-and-idx", "id,idx,prompt\na,b,pop\n", line=1, field="idx"),
    csv_case("csv-huge-cell", "id,prompt\na," + "x" * 200_000 + "\n", line=2, field="csv"),
    csv_case("csv-long-prompt", "id,prompt\na," + "x" * 5000 + "\n", line=2, field="prompt"),
    csv_case("csv-missing-prompt-cell", "id,prompt,seed\na,,3\n", line=2, field="prompt"),
    # valid but unusual
    csv_case("csv-quoted-newline", 'id,prompt\na,"pop\nwith a second line"\nb,rock\n', ok=True),
    csv_case("csv-blank-lines", "id,prompt\n\na,pop\n\n\nb,rock\n", ok=True),
    csv_case("csv-aliases", "idx,descriptions,gt_lyric\na,pop,[verse] la\n", ok=True),
    csv_case("csv-padded", " id , prompt , seed \n a , pop , 3 \n", ok=True),
    csv_case("csv-numeric-id", "id,prompt\n123,pop\n", ok=True),
)

# --- f. standalone SongGeneration JSONL ------------------------------------------------------

def jsonl_case(name: str, text: str | bytes, **kw) -> Case:
    return Case(name, {"rows.jsonl": text}, entry="rows.jsonl", **kw)


_OK_ROW = '{"idx": "a", "descriptions": "pop"}'
add(
    jsonl_case("jsonl-empty", "", field="tracks"),
    jsonl_case("jsonl-blank-lines-only", "\n\n  \n", field="tracks"),
    jsonl_case("jsonl-number-line", f"{_OK_ROW}\n5\n", line=2, field="json"),
    jsonl_case("jsonl-string-line", f'{_OK_ROW}\n"{SECRET}"\n', line=2, field="json"),
    jsonl_case("jsonl-array-line", f'{_OK_ROW}\n["a", "{SECRET}"]\n', line=2, field="json"),
    jsonl_case("jsonl-null-line", f"{_OK_ROW}\nnull\n", line=2, field="json"),
    jsonl_case("jsonl-trailing-comma", f'{_OK_ROW}\n{{"idx": "b", "descriptions": "{SECRET}",}}\n', line=2,
               field="json"),
    jsonl_case("jsonl-comment", f"// {SECRET}\n{_OK_ROW}\n", line=1, field="json"),
    jsonl_case("jsonl-hash-comment", f"# {SECRET}\n{_OK_ROW}\n", line=1, field="json"),
    jsonl_case("jsonl-pretty-printed", '{\n  "idx": "a",\n  "descriptions": "pop"\n}\n', line=1, field="json"),
    jsonl_case("jsonl-duplicate-key", '{"idx": "a", "idx": "b", "descriptions": "pop"}\n', line=1, field="idx"),
    jsonl_case("jsonl-unknown-field", '{"idx": "a", "descriptions": "pop", "colour": 1}\n', line=1,
               field="colour"),
    jsonl_case("jsonl-empty-key", '{"idx": "a", "descriptions": "pop", "": 1}\n', line=1, field="''"),
    jsonl_case("jsonl-nan", '{"idx": "a", "descriptions": "pop", "duration": NaN}\n', line=1, field="duration"),
    jsonl_case("jsonl-inf-id", '{"idx": 1e400, "descriptions": "pop"}\n', line=1, field="idx"),
    jsonl_case("jsonl-seed-huge", '{"idx": "a", "descriptions": "pop", "seed": 99999999999999999999999}\n',
               line=1, field="seed"),
    jsonl_case("jsonl-seed-float", '{"idx": "a", "descriptions": "pop", "seed": 1.5}\n', line=1, field="seed"),
    jsonl_case("jsonl-seed-bool", '{"idx": "a", "descriptions": "pop", "seed": true}\n', line=1, field="seed"),
    jsonl_case("jsonl-prompt-list", '{"idx": "a", "descriptions": ["pop"]}\n', line=1, field="descriptions"),
    jsonl_case("jsonl-lyric-number", '{"idx": "a", "descriptions": "pop", "gt_lyric": 5}\n', line=1,
               field="gt_lyric"),
    jsonl_case("jsonl-style-number", '{"idx": "a", "auto_prompt_audio_type": 5}\n', line=1,
               field="auto_prompt_audio_type"),
    jsonl_case("jsonl-huge-line", '{"idx": "a", "descriptions": "' + "x" * 1_000_000 + '"}\n', line=1,
               field="descriptions"),
    jsonl_case("jsonl-deep", "[" * 100_000 + "]" * 100_000 + "\n", line=1, field="json"),
    jsonl_case("jsonl-huge-number", '{"idx": "a", "descriptions": "pop", "seed": ' + "9" * 5000 + "}\n", line=1,
               field="json"),
    jsonl_case("jsonl-file-reference", '{"file": "more.csv"}\n', line=1, field="file"),
    jsonl_case("jsonl-duplicate-ids", f"{_OK_ROW}\n\n{_OK_ROW}\n", line=3, field="idx", shows="rows.jsonl:1"),
    jsonl_case("jsonl-control-id", '{"idx": "a\\u0007", "descriptions": "pop"}\n', line=1, field="idx"),
    # valid but unusual
    jsonl_case("jsonl-blank-lines", f"\n{_OK_ROW}\n\n\n", ok=True),
    jsonl_case("jsonl-int-id", '{"idx": 7, "descriptions": "pop"}\n', ok=True),
    jsonl_case("jsonl-style-only", '{"idx": "a", "auto_prompt_audio_type": "Pop"}\n', ok=True),
    jsonl_case("jsonl-u2028", '{"idx": "a", "descriptions": "pop\u2028song"}\n', ok=True),
)

# --- g. YAML jobs referencing files ----------------------------------------------------------

def ref_job(name: str = "rows.csv", extra: str = "") -> str:
    return f"name: fuzz\ntracks:\n  - {{id: inline, prompt: a song}}\n  - file: {name}\n{extra}"


add(
    Case("ref-missing", {"job.yaml": ref_job("nope.csv")}, line=4, field="tracks[1].file"),
    Case("ref-directory", {"job.yaml": ref_job("dir.csv"), "dir.csv/": ""}, line=4, field="tracks[1].file"),
    Case("ref-self", {"job.yaml": ref_job("job.yaml")}, line=4, field="tracks[1].file"),
    Case("ref-yaml", {"job.yaml": ref_job("other.yml"), "other.yml": "tracks: []\n"}, line=4,
         field="tracks[1].file"),
    Case("ref-txt", {"job.yaml": ref_job("rows.txt"), "rows.txt": "id,prompt\n"}, line=4, field="tracks[1].file"),
    Case("ref-number", {"job.yaml": ref_job("5")}, line=4, field="tracks[1].file"),
    Case("ref-list", {"job.yaml": ref_job("[a.csv]")}, line=4, field="tracks[1].file"),
    Case("ref-null", {"job.yaml": ref_job("null")}, line=4, field="tracks[1].file"),
    Case("ref-empty", {"job.yaml": ref_job("''")}, line=4, field="tracks[1].file"),
    Case("ref-nul", {"job.yaml": ref_job('"a\\x00b.csv"')}, line=4, field="tracks[1].file"),
    Case("ref-surrogate", {"job.yaml": ref_job('"a\\ud800b.csv"')}, line=4, field="tracks[1].file"),
    Case("ref-long-name", {"job.yaml": ref_job("a" * 5000 + ".csv")}, line=4, field="tracks[1].file"),
    Case("ref-with-options", {"job.yaml": "tracks:\n  - file: rows.csv\n    seed: 3\n",
                              "rows.csv": "id,prompt\na,pop\n"}, line=3, field="tracks[0].seed"),
    Case("ref-empty-csv", {"job.yaml": ref_job(), "rows.csv": ""}, line=4, field="tracks[1].file"),
    Case("ref-header-only", {"job.yaml": ref_job(), "rows.csv": "id,prompt\n"}, line=4, field="tracks[1].file"),
    Case("ref-bad-row", {"job.yaml": ref_job(), "rows.csv": f"id,prompt,seed\na,{SECRET},x\n"},
         where="rows.csv", line=2, field="seed"),
    Case("ref-bad-utf8", {"job.yaml": ref_job(), "rows.csv": b"id,prompt\na,pop\nb,caf\xe9\n"}, where="rows.csv",
         line=3, field="encoding"),
    Case("ref-jsonl-array", {"job.yaml": ref_job("rows.jsonl"), "rows.jsonl": f'["{SECRET}"]\n'},
         where="rows.jsonl", line=1, field="json"),
    Case("ref-duplicate-across-files", {"job.yaml": ref_job() + "  - file: more.jsonl\n",
                                        "rows.csv": "id,prompt\nx,pop\n",
                                        "more.jsonl": '{"idx": "x", "descriptions": "rock"}\n'},
         where="more.jsonl", line=1, field="idx", shows="rows.csv:2"),
    Case("ref-duplicate-inline", {"job.yaml": ref_job(), "rows.csv": "id,prompt\ninline,pop\n"},
         where="rows.csv", line=2, field="id", shows="job.yaml:3"),
    Case("ref-same-file-twice", {"job.yaml": ref_job() + "  - file: rows.csv\n", "rows.csv": "id,prompt\nx,pop\n"},
         where="rows.csv", line=2, field="id", shows="duplicate track id"),
    Case("ref-nested-reference", {"job.yaml": ref_job("rows.jsonl"), "rows.jsonl": '{"file": "x.csv"}\n'},
         where="rows.jsonl", line=1, field="file"),
    Case("ref-csv-file-column", {"job.yaml": ref_job(), "rows.csv": "id,prompt,file\na,pop,x.csv\n"},
         where="rows.csv", line=1, field="file"),
    Case("ref-utf16", {"job.yaml": ref_job(), "rows.csv": "id,prompt\na,pop\n".encode("utf-16")},
         where="rows.csv", line=1, field="encoding"),
    Case("ref-too-large", {"job.yaml": ref_job(), "rows.csv": b"id,prompt\n" + b"a" * (16 * 2**20 + 10)},
         line=4, field="tracks[1].file"),
    Case("ref-fifo", {"job.yaml": ref_job("pipe.csv"), "pipe.csv|": ""}, line=4, field="tracks[1].file",
         shows="not a regular file"),
    Case("ref-symlink-loop", {"job.yaml": ref_job("loop.csv"), "loop.csv@": "loop.csv"}, line=4,
         field="tracks[1].file"),
    Case("ref-directory-message", {"job.yaml": ref_job("d.jsonl"), "d.jsonl/": ""}, line=4, field="tracks[1].file",
         shows="is a folder"),
    # valid but unusual
    Case("ref-subfolder-up", {"job.yaml": ref_job("sub/../rows.csv"), "sub/": "", "rows.csv": "id,prompt\na,pop\n"},
         ok=True),
    Case("ref-parent-folder", {"jobs/job.yaml": ref_job("../rows.csv"), "rows.csv": "id,prompt\na,pop\n"},
         entry="jobs/job.yaml", ok=True),
    Case("ref-crlf", {"job.yaml": ref_job(), "rows.csv": "id,prompt\r\na,\"pop\r\nsong\"\r\n"}, ok=True),
    Case("ref-upper-suffix", {"job.yaml": ref_job("ROWS.CSV"), "ROWS.CSV": "id,prompt\na,pop\n"}, ok=True),
)

# --- h. the command line's own argument ------------------------------------------------------

add(
    Case("arg-missing", {}, entry="missing.yaml", field="file"),
    Case("arg-folder", {"folder.yaml/": ""}, entry="folder.yaml", field="file"),
    Case("arg-no-suffix", {"job": track()}, entry="job", field="file"),
    Case("arg-wrong-suffix", {"job.toml": track()}, entry="job.toml", field="file"),
    Case("arg-fifo", {"job.yaml|": ""}, entry="job.yaml", field="file", shows="not a regular file"),
)


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        if name.endswith("@"):  # a symbolic link to `content`
            os.symlink(content, root / name[:-1])
            continue
        if name.endswith("|"):  # a FIFO nobody writes to: opening it would block
            os.mkfifo(root / name[:-1])
            continue
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


def _run_validate(path: Path, capsys) -> tuple[int, str, str]:
    try:
        status = main(["validate", str(path)])
    except BaseException as exc:  # noqa: BLE001 - anything escaping is the bug under test
        pytest.fail(f"validate raised {type(exc).__name__}: {exc!r}"[:2000])
    out, err = capsys.readouterr()
    return status, out, err


def _load_raises_only_job_file_error(path: Path, ok: bool) -> None:
    try:
        load_job(path)
    except JobFileError:
        assert not ok
    except BaseException as exc:  # noqa: BLE001
        pytest.fail(f"load_job raised {type(exc).__name__}: {exc!r}"[:2000])
    else:
        assert ok


def test_enough_cases():
    assert len(CASES) >= 120
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_job(case: Case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, case.files)
    entry = tmp_path / case.entry
    status, out, err = _run_validate(entry, capsys)
    assert "Traceback" not in out + err
    if case.ok:
        assert status == 0, err
        assert err == "" and ": ok" in out
    else:
        assert status == 2, out
        assert out == ""
        assert err.startswith("songfarm: error: "), err[:500]
        assert len(err) < MAX_MESSAGE, err[:500]
        where = str(tmp_path / case.where) if case.where else str(entry)
        assert where in err, err[:1000]
        if case.line is not None:
            assert f"{Path(where).name}:{case.line}:" in err, err[:1000]
        if case.field is not None:
            assert case.field in err, err[:1000]
        if case.shows is not None:
            assert case.shows in err, err[:1000]
        for text in case.absent:
            assert text not in err, err[:1000]
    _load_raises_only_job_file_error(entry, case.ok)


# --- random mutations of the demo job ------------------------------------------------------


def _mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if op < 4 and text:
            i = rng.randrange(len(text))
            if op == 0:  # delete a few characters
                text = text[:i] + text[i + rng.randint(1, 5):]
            elif op == 1:  # duplicate a few characters
                text = text[:i] + text[i:i + rng.randint(1, 5)] * 2 + text[i + 5:]
            elif op == 2:  # swap two characters
                j = rng.randrange(len(text))
                chars = list(text)
                chars[i], chars[j] = chars[j], chars[i]
                text = "".join(chars)
            else:  # insert a character YAML cares about
                text = text[:i] + rng.choice(":-[]{}&*!|>'\"#,\t\n ?%@`\x00é界") + text[i:]
        else:
            lines = text.split("\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            if op == 4:
                del lines[i]
            elif op == 5:
                lines.insert(i, lines[j])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


def test_random_mutations_of_the_demo_job(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    demo = DEMO.read_text(encoding="utf-8")
    rng = random.Random(20261201)
    outcomes = {0: 0, 2: 0}
    for n in range(200):
        path = tmp_path / f"m{n}" / "demo.yaml"
        path.parent.mkdir()
        path.write_text(_mutate(demo, rng), encoding="utf-8")
        status, out, err = _run_validate(path, capsys)
        assert "Traceback" not in out + err
        assert status in (0, 2), (n, status, err[:500])
        outcomes[status] += 1
        if status == 2:
            assert err.startswith("songfarm: error: ") and str(path) in err and len(err) < MAX_MESSAGE, err[:500]
            assert out == ""
        _load_raises_only_job_file_error(path, status == 0)
    assert outcomes[0] and outcomes[2]  # the mutations reach both outcomes
