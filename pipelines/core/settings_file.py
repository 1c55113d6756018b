"""Render settings read from a file: the one loader of `RenderSettings`, and the careful
file reading and line-tracking YAML it needs.

Job files (jobs/jobfile.py) and the Serve config (pipelines/online/config.py) both fill
their `RenderSettings` through `read_settings`, so a key means the same in both, each
default comes from models/settings.py, and every problem reads

    FILE:LINE: field: message (value)

Nothing here raises for bad input: each problem goes to a `report(file, line, field,
message, value)` callable (a `Problems`), so a file lists all of its problems at once.
The keys (in a job file `backends` is a section of its own and the others sit under
`defaults:`; in the Serve config all are top-level):

    backends:             {planner: rules, generator: {name: synth, options: {...}}, verifier: features}
    min_score: 0.75       # acceptance threshold, in [0, 1]
    max_attempts: 3       # render rounds per track, in [1, MAX_ATTEMPTS_LIMIT]
    candidates: 1         # takes per round for requests that do not say
    format: flac          # delivery: flac | wav, sample_rate, stems, midi
    sample_rate: 44100
    stems: false
    midi: true
    calibration_prompts: [a solo piano ballad, ...]   # or, in a job file, `job`

Input is untrusted: files are read up to MAX_FILE_BYTES, YAML aliases are bounded (a
"billion laughs" file is refused in milliseconds), and messages show at most the bad
field's value, shortened, never a file's raw text.
"""

from __future__ import annotations

import dataclasses
import difflib
import stat
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from ...models import factory
from ...models.request import MAX_CANDIDATES, MAX_PROMPT_CHARS
from ...models.settings import (CALIBRATION_PROMPTS, FORMATS, JOB_PROMPTS, MAX_ATTEMPTS_LIMIT, SAMPLE_RATES, STAGES,
                                BackendSpec, RenderSettings)

# report(file, line, field, message, value) — value is left out of the message when it is NO_VALUE.
Report = Callable[..., None]
NO_VALUE = object()

SETTINGS_KEYS = ("backends", "min_score", "max_attempts", "candidates", "format", "sample_rate", "stems", "midi",
                 "calibration_prompts")
MAX_FILE_BYTES = 16 * 2**20  # a job file or a file it references; a studio's 100k-row CSV is ~10 MiB
MAX_ALIASES = 1000  # YAML aliases (*name) per file: enough for a `<<: *defaults` on each of many tracks
MAX_ALIAS_NODES = 100_000  # nodes that aliases add when expanded (a billion laughs adds 10**9)
MAX_DEPTH = 64  # nesting of YAML collections; a job needs five
MAX_SHOWN_CHARS = 60  # of a value or a field name in a message
MAX_SHOWN_PATH = 200  # of a path inside a message


class Problems:
    """Collects problems; `sorted()` orders them by file (in order of first mention), then line."""

    def __init__(self):
        self.items: list[tuple[str, int, str]] = []
        self.file_order: dict[str, int] = {}

    def __call__(self, file: str, line: int | None, field: str, message: str, value: Any = NO_VALUE) -> None:
        self.file_order.setdefault(file, len(self.file_order))
        place = f"{file}:{line}" if line else file
        shown = "" if value is NO_VALUE else f" ({shorten(value)})"
        self.items.append((file, line or 0, f"{place}: {field_name(field)}: {message}{shown}"))

    def __len__(self) -> int:
        return len(self.items)

    def sorted(self) -> list[str]:
        ordered = sorted(self.items, key=lambda item: (self.file_order[item[0]], item[1]))
        return [text for _, _, text in ordered]


def shorten(value: Any) -> str:
    """repr, at most MAX_SHOWN_CHARS: a value in a message, control characters escaped."""
    shown = repr(value)
    return shown if len(shown) <= MAX_SHOWN_CHARS else shown[:MAX_SHOWN_CHARS - 3] + "..."


def field_name(field: Any) -> str:
    """A field as shown: keys come from the file, so a long or unprintable one is shown as
    a shortened repr (no raw newline or terminal escape reaches the message)."""
    text = str(field)
    return text if text and text.isprintable() and len(text) <= MAX_SHOWN_CHARS else shorten(text)


def shown_path(path: Any) -> str:
    """A path as shown inside a message: at most MAX_SHOWN_PATH characters, unprintable
    characters escaped (a file reference is the file's own text)."""
    text = str(path)
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= MAX_SHOWN_PATH else "..." + text[-(MAX_SHOWN_PATH - 3):]


def did_you_mean(name: str, known: Iterable[str], extra: tuple[str, ...] = ()) -> str:
    """"; did you mean 'x'?" for a likely typo, else the known names. `extra` names
    (aliases) may be suggested but are not listed."""
    known = list(known)
    close = difflib.get_close_matches(name[:100], known + list(extra), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (known: {', '.join(known)})"


# --- reading files ------------------------------------------------------------------------


def read_text(path: Path, file: str, report: Report, line: int | None = None, where: str = "file") -> str | None:
    """A UTF-8 file's text (a leading BOM is dropped), or None after reporting why not.

    At most MAX_FILE_BYTES are read, so a huge file, a device or a FIFO cannot exhaust
    memory. `line` and `where` place the problems that are not about the file's content
    at the line that references it.
    """
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            report(file, line, where, f"cannot read {shown_path(path)}: it is a folder, not a file")
            return None
        if not stat.S_ISREG(mode):  # a FIFO would block the open, a device never end
            report(file, line, where, f"cannot read {shown_path(path)}: not a regular file")
            return None
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        report(file, line, where, f"cannot read {shown_path(path)} ({exc.strerror or type(exc).__name__})")
        return None
    except ValueError:  # a NUL byte or a lone surrogate in the name
        report(file, line, where, f"cannot read {shown_path(path)} (not a valid file name: a NUL byte or "
               "a lone surrogate)")
        return None
    if len(data) > MAX_FILE_BYTES:
        report(file, line, where, f"{shown_path(path)} is larger than {MAX_FILE_BYTES // 2**20} MiB; split it into "
               "several files")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        report(str(path), bad_line, "encoding",
               f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}; save the file as UTF-8")
        return None


# --- YAML with line numbers -------------------------------------------------------------


class LineDict(dict):
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict


class LineList(list):
    """A YAML sequence that remembers its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list


class _LineLoader(yaml.SafeLoader):
    """PyYAML's safe loader, building LineDict/LineList, noting duplicate keys (which PyYAML
    would otherwise resolve silently to the last value) and bounding aliases and depth."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicate_keys: list[tuple[int, Any, int]] = []  # (line, key, line of the first)
        self.aliases = 0
        self.alias_nodes = 0  # nodes the aliases so far add when expanded
        self.depth = 0
        self._sizes: dict[int, int | None] = {}  # id(node) → expanded size; None while being counted

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            self.aliases += 1
            self.alias_nodes += self._expanded_size(node, mark)
            if self.aliases > MAX_ALIASES or self.alias_nodes > MAX_ALIAS_NODES:
                raise yaml.composer.ComposerError(
                    None, None, f"too many aliases: more than {MAX_ALIASES} aliases or {MAX_ALIAS_NODES} nodes "
                    "repeated through them", mark)
            return node
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _expanded_size(self, node: yaml.Node, mark) -> int:
        """Nodes in `node` with every alias in it expanded, memoised: linear in the distinct nodes."""
        key = id(node)
        if key in self._sizes:
            size = self._sizes[key]
            if size is None:
                raise yaml.composer.ComposerError(None, None, "an alias refers to a node that contains it", mark)
            return size
        self._sizes[key] = None
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._expanded_size(child, mark) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._expanded_size(k, mark) + self._expanded_size(v, mark) for k, v in node.value)
        self._sizes[key] = size
        return size

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            # e.g. a 5000-digit integer or the date 2024-02-30: place it like a YAML error.
            kind = node.tag.rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(None, None, f"cannot read this {kind} value "
                                                    f"({type(exc).__name__})", node.start_mark) from None


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    # The mapping's own keys, as written; `<<: *anchor` merges put the merged pairs first,
    # and a key written here overrides a merged one (that is what a merge is for).
    own = {id(key_node) for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)  # applies `<<: *anchor` merges
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    written: set = set()  # keys written in this mapping itself (not merged in)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                    "found an unhashable key", key_node.start_mark) from None
        line = key_node.start_mark.line + 1
        if key in written and id(key_node) in own:
            loader.duplicate_keys.append((line, key, mapping.key_lines[key]))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = line
        if id(key_node) in own:
            written.add(key)
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    seq = LineList(loader.construct_object(child, deep=True) for child in node.value)
    seq.line = node.start_mark.line + 1
    seq.item_lines = [child.start_mark.line + 1 for child in node.value]
    return seq


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def parse_yaml(text: str, file: str, report: Report) -> Any:
    """YAML text → LineDict/LineList/scalars, or None after reporting the problem (with
    PyYAML's own words, never the file's text)."""
    loader = None
    try:
        loader = _LineLoader(text)  # the reader refuses NUL and other control characters here
        data = loader.get_single_data()
    except yaml.reader.ReaderError as exc:
        # Its str() would quote the file; the position says where.
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        report(file, line, "yaml", f"invalid YAML: unacceptable character #x{exc.character:04x} (control "
               "characters are not allowed in YAML text)")
        return None
    except yaml.YAMLError as exc:
        # PyYAML marks where it noticed the problem and, for unclosed things, where they began.
        problem, context = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
        mark = problem or context
        line = mark.line + 1 if mark is not None else None
        begun = f" (begun at line {context.line + 1})" if problem and context and context.line != problem.line else ""
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        # str(exc) would quote a snippet of the file: only PyYAML's own words are shown.
        message = " ".join(str(p) for p in parts if p) or type(exc).__name__
        if len(message) > 160:
            message = message[:157] + "..."
        report(file, line, "yaml", f"invalid YAML: {message}{begun}")
        return None
    except RecursionError:
        report(file, None, "yaml", "invalid YAML: nested too deeply to read")
        return None
    finally:
        if loader is not None:
            loader.dispose()
    for line, key, first in loader.duplicate_keys:
        report(file, line, key, f"given twice in one mapping (first at line {first}); YAML keeps only the last")
    return data


def plain(value: Any) -> Any:
    """LineDict/LineList → dict/list, all the way down, for values kept after checking."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def kind_of(value: Any) -> str:
    """What a value is, for a message that must not echo it: 'a list', 'text'."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    return "a number" if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


# --- render settings ----------------------------------------------------------------------


def read_settings(section: Mapping[str, Any], file: str, report: Report, *, keys: Iterable[str] = SETTINGS_KEYS,
                  names: Mapping[str, str] | None = None, settings: RenderSettings | None = None,
                  job_file: bool = False) -> RenderSettings:
    """Fill `settings` (default: a new RenderSettings) from the `keys` that `section` holds;
    other keys of `section` are the caller's. Returns the settings; every problem goes to
    `report`, and a bad value leaves that setting at its default.

    `section` is a LineDict (lines are reported) or a plain dict (no lines). `names` says
    how a key is shown in messages where it differs from the key (a job file's
    "defaults.min_score"). `job_file` allows `calibration_prompts: job` (the caller fills
    in the job's prompts, see models.settings.job_prompts); elsewhere it is an error.

    Once the backends are known, each stage's options as the backend will be built with
    them (RenderSettings.stage_options: settings pushed into backends included) are
    checked against its config class, as `songfarm render` and `songfarm serve` do before
    anything starts; no model is loaded.
    """
    settings = settings or RenderSettings()
    names = names or {}
    key_lines = getattr(section, "key_lines", {})
    at: dict[str, int | None] = {}
    for key in keys:
        if key not in section:
            continue
        value, line, field = section[key], key_lines.get(key), names.get(key, key)
        at[key] = line
        if key == "backends":
            settings.backends = _read_backends(value, file, line, field, report)
        else:
            _read_value(settings, key, value, file, line, field, report, job_file)
    if at:
        _check_stage_options(settings, file, report, at, names)
    return settings


def settings_dict(settings: RenderSettings) -> dict[str, Any]:
    """The settings as the keys `read_settings` reads (delivery flattened), plain values:
    what a Serve config's `args` and a resolved job.yaml hold."""
    return {"backends": {stage: {"name": spec.name, "options": dict(spec.options)}
                         for stage, spec in settings.backends.items()},
            "min_score": settings.min_score, "max_attempts": settings.max_attempts,
            "candidates": settings.candidates, **dataclasses.asdict(settings.delivery),
            "calibration_prompts": list(settings.calibration_prompts)}


def _read_value(settings: RenderSettings, key: str, value: Any, file: str, line: int | None, field: str,
                report: Report, job_file: bool) -> None:
    delivery = settings.delivery
    if key == "min_score":
        if not _is_number(value) or not 0.0 <= value <= 1.0:
            report(file, line, field, "must be a verifier score in [0, 1]", value)
        else:
            settings.min_score = float(value)
    elif key == "max_attempts":
        if not _is_int(value) or not 1 <= value <= MAX_ATTEMPTS_LIMIT:
            report(file, line, field, f"must be an integer in [1, {MAX_ATTEMPTS_LIMIT}]", value)
        else:
            settings.max_attempts = int(value)
    elif key == "candidates":
        if not _is_int(value) or not 1 <= value <= MAX_CANDIDATES:
            report(file, line, field, f"must be an integer in [1, {MAX_CANDIDATES}]", value)
        else:
            settings.candidates = int(value)
    elif key == "format":
        if value not in FORMATS:
            report(file, line, field, f"must be one of {', '.join(FORMATS)}", value)
        else:
            delivery.format = value
    elif key == "sample_rate":
        if not _is_int(value) or value not in SAMPLE_RATES:
            report(file, line, field, f"must be one of {', '.join(map(str, SAMPLE_RATES))} (Hz)", value)
        else:
            delivery.sample_rate = int(value)
    elif key in ("stems", "midi"):
        if not isinstance(value, bool):
            report(file, line, field, "must be true or false", value)
        else:
            setattr(delivery, key, value)
    elif key == "calibration_prompts":
        prompts = _read_prompts(value, file, line, field, report, job_file)
        if prompts is not None:
            settings.calibration_prompts = prompts
    else:
        raise ValueError(f"not a render setting: {key!r}")  # a caller's mistake, not the file's


def _read_prompts(value: Any, file: str, line: int | None, field: str, report: Report,
                  job_file: bool) -> list[str] | None:
    if value == JOB_PROMPTS:
        if job_file:
            return []  # the caller fills in the job's own prompts once its tracks are read
        report(file, line, field, f"`{JOB_PROMPTS}` (a job's own prompts) means something only in a job file; "
               "list the prompts", value)
        return None
    usage = f"must be a list of prompts (text), at most {CALIBRATION_PROMPTS}" + (
        f", or `{JOB_PROMPTS}` for the job's own prompts" if job_file else "")
    if value is None:
        return []
    if not isinstance(value, list):
        report(file, line, field, usage, value)
        return None
    item_lines = getattr(value, "item_lines", [line] * len(value))
    ok = len(value) <= CALIBRATION_PROMPTS
    if not ok:
        report(file, line, field, f"{len(value)} prompts: {usage}")
    for index, (prompt, at) in enumerate(zip(value, item_lines)):
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT_CHARS:
            report(file, at, f"{field}[{index}]", f"must be non-empty text of at most {MAX_PROMPT_CHARS} characters",
                   prompt)
            ok = False
    return [p.strip() for p in value] if ok else None


def _read_backends(backends: Any, file: str, line: int | None, field: str, report: Report) -> dict[str, BackendSpec]:
    """Names and options checked against each backend's config class; no model is loaded.
    Stages not given (or given wrongly) keep their default backend."""
    specs = {stage: BackendSpec(name) for stage, name in factory.DEFAULTS.items()}
    if not isinstance(backends, dict):
        report(file, line, field, "must be a mapping of planner, generator and verifier", backends)
        return specs
    key_lines = getattr(backends, "key_lines", {})
    for stage, spec in backends.items():
        at, where = key_lines.get(stage, line), f"{field}.{stage}"
        if stage not in STAGES:
            report(file, at, where, f"unknown stage{did_you_mean(str(stage), STAGES)}")
            continue
        spec_lines = getattr(spec, "key_lines", {})
        if isinstance(spec, str):
            name, options = spec, {}
        elif isinstance(spec, dict):
            extra = [key for key in spec if key not in ("name", "options")]
            for key in extra:
                report(file, spec_lines.get(key, at), f"{where}.{key}", "a backend takes only `name` and `options`")
            if extra:
                continue
            name, options = spec.get("name"), spec.get("options") or {}
            if not isinstance(options, dict):
                report(file, spec_lines.get("options", at), f"{where}.options", "must be a mapping", options)
                continue
        else:
            report(file, at, where, "must be a backend name or {name: ..., options: {...}}", spec)
            continue
        if not isinstance(name, str):
            report(file, at, f"{where}.name", "must be a backend name", name)
            continue
        try:
            factory.check_backend(stage, name)
        except factory.BackendError as exc:
            report(file, at, where, str(exc).removeprefix(f"backends.{stage}: "))
            continue
        if _check_options(stage, name, options, file, spec_lines.get("options", at), where, report):
            specs[stage] = BackendSpec(name, plain(options))
    return specs


def _check_options(stage: str, name: str, options: dict, file: str, line: int | None, where: str,
                   report: Report) -> bool:
    try:
        config_cls = factory.config_class(stage, name)
    except ImportError as exc:
        missing = exc.name or str(exc)
        if missing.startswith(factory.__package__ + "."):
            why = f"is not part of this songfarm installation (no module {missing})"
        else:
            why = f"needs {missing!r}, which is not installed on this machine"
        report(file, line, where, f"backend {name!r} {why}; its options cannot be checked")
        return False
    known = [f.name for f in dataclasses.fields(config_cls)]
    option_lines = getattr(options, "key_lines", {})
    ok = True
    for key in options:
        if key not in known:
            report(file, option_lines.get(key, line), f"{where}.options.{key}",
                   f"unknown option of {name!r}{did_you_mean(str(key), known)}", options[key])
            ok = False
    if ok:
        try:
            factory.build_config(config_cls, plain(options), f"{where}.options")
        except factory.BackendError as exc:
            report(file, line, f"{where}.options", str(exc).removeprefix(f"{where}.options: "))
            ok = False
    return ok


def _check_stage_options(settings: RenderSettings, file: str, report: Report, at: Mapping[str, int | None],
                         names: Mapping[str, str]) -> None:
    """Each backend's config built as it will be (own options + the settings it takes)."""
    backends_field = names.get("backends", "backends")
    for stage, spec in settings.backends.items():
        try:
            config_cls = factory.config_class(stage, spec.name)
        except ImportError:
            continue  # reported with the backend's options
        where = f"{backends_field}.{stage}"
        try:
            factory.build_config(config_cls, settings.stage_options(stage), where)
        except factory.BackendError as exc:
            line = at.get("backends") or next((line for line in at.values() if line), None)
            report(file, line, where, f"with these settings: {str(exc).removeprefix(f'{where}: ')}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer())
