"""The house rules that a reader of the code can rely on, checked on the source itself:
layers import only downwards, SQL lives in store/, modules stay small."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# From the bottom up; a package may import only packages listed before it.
LAYERS = ("onemap", "geo", "store", "accounts", "intake", "loaders", "planning", "reports",
          "dashboard", "cli")
RANK = {name: i for i, name in enumerate(LAYERS)}
SQL = re.compile(r"^\s*(WITH\s+\w+\s+AS|SELECT\s|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)",
                 re.MULTILINE)
MAX_LINES = 600


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


def test_every_layer_exists_and_there_is_no_dashboard_api() -> None:
    for name in LAYERS:
        assert (ROOT / name / "__init__.py").is_file(), name
    assert not (ROOT / "dashboard" / "api").exists()
    assert (ROOT / "intake" / "http" / "__init__.py").is_file()


def test_imports_only_point_down() -> None:
    upward: list[str] = []
    edges: dict[str, set[str]] = defaultdict(set)
    for package in LAYERS:
        for path in _sources(package):
            for target in _imports(path) - {package}:
                edges[package].add(target)
                if RANK[target] > RANK[package]:
                    upward.append(f"{path.relative_to(ROOT)} imports {target}")
    assert not upward, "imports that point up:\n" + "\n".join(upward)
    assert edges["onemap"] == set(), edges["onemap"]
    for a, targets in edges.items():
        for b in targets:
            assert a not in edges.get(b, set()), f"{a} and {b} import each other"


def test_sql_lives_in_store() -> None:
    """No SQL statement in a string outside store/ (tests and bench may hold their own)."""
    offenders = []
    for package in LAYERS:
        if package == "store":
            continue
        for path in _sources(package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and SQL.search(node.value):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, "SQL outside store/:\n" + "\n".join(offenders)


def test_the_sql_check_would_see_a_statement() -> None:
    assert SQL.search('"SELECT id FROM unit"') is None  # quotes are not part of the string
    assert SQL.search("SELECT id FROM unit WHERE code = :c")
    assert SQL.search("\n    UPDATE incident SET status = 'x'")
    assert not SQL.search("select a village, then click grids")


def test_modules_stay_under_600_lines() -> None:
    long = [f"{p.relative_to(ROOT)}: {n}" for package in LAYERS for p in _sources(package)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
            and "migrations" not in p.parts]
    assert not long, "modules over 600 lines:\n" + "\n".join(long)
