"""The import rules of the layout (docs/architecture.md), checked on the source with `ast`.

    models/     imports nothing of ours outside models/
    pipelines/  imports models/ and itself; never jobs/ or cluster/
    cluster/    imports models/ and itself at most
    jobs/       may import everything

Every import counts, at the top of a file or inside a function. Relative imports are
resolved against the file's package (models/x.py is songfarm.models.x); a bare `models`,
`pipelines`, `jobs` or `cluster` import is ours too (it only works from the repo root).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "pipelines", "jobs", "cluster")  # the top-level folders, installed as songfarm.<name>
ALLOWED = {  # package → the packages of ours it may import
    "models": {"models"},
    "pipelines": {"models", "pipelines"},
    "cluster": {"models", "cluster"},
    "jobs": set(PACKAGES),
}


def module_name(path: Path) -> tuple[str, bool]:
    """models/planners/rules.py → ("songfarm.models.planners.rules", False); __init__.py → (package, True)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(["songfarm", *parts]), is_package


def imported(tree: ast.AST, module: str, is_package: bool):
    """(line, what the statement imports as an absolute name or None, source text) for every import.

    None means a relative import that climbs above the songfarm namespace."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            text = f"from {'.' * node.level}{node.module or ''} import {', '.join(a.name for a in node.names)}"
            if node.level:
                parts = package.split(".")
                if node.level - 1 >= len(parts):
                    yield node.lineno, None, text
                    continue
                base = ".".join(parts[:len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from . import plan` and `from songfarm import cluster`: the names may be the modules.
            targets = [f"{base}.{a.name}" for a in node.names] if node.module is None or base == "songfarm" \
                else [base]
            for target in targets:
                yield node.lineno, target, text


def ours(target: str) -> str | None:
    """The package of ours an absolute module name belongs to, or None for anything else."""
    parts = target.split(".")
    if parts[0] == "songfarm":
        return parts[1] if len(parts) > 1 else "songfarm"
    return parts[0] if parts[0] in PACKAGES else None


def parse(path: Path, rel: Path) -> ast.Module:
    """`path` as an AST. CPython 3.11 keeps the AST constructor's recursion depth per
    interpreter, not per thread, so a compile() in another thread at the same moment (this
    session's Ray, Serve and moto threads import and compile too) can raise a spurious
    "AST constructor recursion depth mismatch" SystemError (python/cpython#106905): parse
    again, as the file itself is fine."""
    source = path.read_text(encoding="utf-8")
    for _ in range(2):
        try:
            return ast.parse(source, filename=str(rel))
        except SystemError:
            continue
    return ast.parse(source, filename=str(rel))  # a third failure is not that race


def violations(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if ".venv" in path.parts or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(ROOT)
        module, is_package = module_name(path)
        tree = parse(path, rel)
        for line, target, text in sorted(imported(tree, module, is_package), key=lambda t: t[0]):
            if target is None:
                out.append(f"{rel}:{line}: climbs out of the songfarm packages: {text}")
                continue
            theirs = ours(target)
            if theirs is not None and theirs not in ALLOWED[package]:
                out.append(f"{rel}:{line}: {package} imports {target}: {text}")
    return out


def test_every_package_has_source():
    for package in PACKAGES:
        assert list((ROOT / package).rglob("*.py")), package


@pytest.mark.parametrize("package", ["models", "pipelines", "cluster"])
def test_import_rules(package):
    found = violations(package)
    assert not found, (f"{len(found)} import(s) break the layout rule of {package}/ "
                       f"(may import: {', '.join(sorted(ALLOWED[package]))}):\n" + "\n".join(found))


def test_the_checker_sees_every_kind_of_import(tmp_path):
    """The resolver on written source: relative at each level, absolute, bare, in a function."""
    source = (
        "from . import plan\n"                       # songfarm.models.planners.plan
        "from ..take import Take\n"                  # songfarm.models.take
        "from ...pipelines.core import shell\n"      # songfarm.pipelines.core
        "from .... import x\n"                       # above songfarm
        "import songfarm.jobs.cli\n"
        "from songfarm import cluster\n"
        "def f():\n"
        "    import cluster.connect\n"
        "    import numpy\n"
    )
    found = imported(ast.parse(source), "songfarm.models.planners.rules", False)
    got = sorted((line, target or "") for line, target, _ in found)
    assert got == [(1, "songfarm.models.planners.plan"), (2, "songfarm.models.take"),
                   (3, "songfarm.pipelines.core"), (4, ""), (5, "songfarm.jobs.cli"),
                   (6, "songfarm.cluster"), (8, "cluster.connect"), (9, "numpy")]
    assert [ours(t) for _, t in got if t] == ["models", "models", "pipelines", "jobs", "cluster", "cluster", None]
    # An __init__.py is its own package: `from . import x` stays inside it.
    init = [t for _, t, _ in imported(ast.parse("from . import x\n"), "songfarm.pipelines.core", True)]
    assert init == ["songfarm.pipelines.core.x"]
    assert ours("songfarm.pipelines.core.x") == "pipelines" and ours("numpy") is None
