"""docs/parameters.md documents every config key of the schema, and only those, with every column filled;
its default and bounds columns say what the composed config and the schema say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.schema.config import Config, PlatformConfig, dataclass_keys

DOC = Path(__file__).resolve().parents[1] / "docs" / "parameters.md"
HEADER = ["key", "unit", "default", "bounds", "meaning", "source or reason"]
REQUIRED = ["unit", "default", "bounds", "meaning", "source or reason"]
CELL_SPLIT = re.compile(r"(?<!\\)\|")  # a pipe escaped as \| stays inside its cell
BACKTICKED = re.compile(r"`([^`]+)`")


def schema_keys() -> set[str]:
    """Every leaf key of the schema; the platform roster is a dict, so its fields are keyed by ``*``."""
    keys = set(dataclass_keys(Config()))
    assert "market.platforms" in keys, "Config().market.platforms is no longer a leaf: update this test"
    keys.remove("market.platforms")
    keys |= {f"market.platforms.*.{name}" for name in dataclass_keys(PlatformConfig())}
    return keys


def cells(line: str) -> list[str]:
    return [c.strip() for c in CELL_SPLIT.split(line.strip().strip("|"))]


Row = tuple[int, dict[str, str]]


def tables_with_header(path: Path, header: list[str]) -> list[tuple[int, list[Row]]]:
    """(line of the header, [(line, row)]) of every Markdown table in ``path`` with this header."""
    tables: list[tuple[int, list[Row]]] = []
    current: list[str] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.lstrip().startswith("|"):
            current = None
            continue
        row = cells(line)
        if current is None:
            current = [c.lower() for c in row]
            if current == header:
                tables.append((number, []))
        elif current == header and not all(set(c) <= set(":- ") for c in row):
            assert len(row) == len(header), (
                f"{path.name} line {number}: {len(row)} cells, expected {len(header)}"
            )
            tables[-1][1].append((number, dict(zip(header, row, strict=True))))
    return tables


def parameter_rows() -> list[Row]:
    """(line number, row) of every body row of the tables whose header is HEADER."""
    return [row for _, rows in tables_with_header(DOC, HEADER) for row in rows]


@pytest.fixture(scope="module")
def rows() -> list[tuple[int, dict[str, str]]]:
    found = parameter_rows()
    assert found, f"no table with the header {HEADER} in {DOC}"
    return found


def assert_keys_match_schema(listed: list[str], doc: str) -> None:
    """Every schema key listed exactly once in ``doc``'s table, and nothing else."""
    duplicates = sorted({k for k in listed if listed.count(k) > 1})
    expected = schema_keys()
    missing = sorted(expected - set(listed))
    extra = sorted(set(listed) - expected)
    assert not missing and not extra and not duplicates, (
        f"{doc} is out of step with sim/schema/config.py:\n"
        f"  missing (in the schema, not in the table): {missing}\n"
        f"  extra (in the table, not in the schema): {extra}\n"
        f"  listed more than once: {duplicates}"
    )


def test_every_schema_key_is_documented_and_every_documented_key_exists(rows):
    documented: list[str] = []
    for number, row in rows:
        keys = BACKTICKED.findall(row["key"])
        assert keys, f"line {number}: no backticked key in the first column: {row['key']!r}"
        documented += keys
    assert_keys_match_schema(documented, "docs/parameters.md")


def test_every_row_has_unit_default_meaning_and_source(rows):
    empty = [
        f"line {number} {row['key']}: {column}"
        for number, row in rows
        for column in REQUIRED
        if not row[column]
    ]
    assert not empty, "empty cells in docs/parameters.md:\n  " + "\n  ".join(empty)


def test_documented_defaults_are_the_composed_defaults():
    """The default column says what `python -m sim` actually uses (tools/sync_param_docs.py)."""
    from sim.experiments.compose import compose_config
    from sim.schema.config import Config
    from tools.sync_param_docs import DOCS, default_cell

    cfg, schema = compose_config([]), Config()
    known = schema_keys()
    stale = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        columns = None
        for number, line in enumerate(lines, start=1):
            if not line.lstrip().startswith("|"):
                columns = None
                continue
            row = cells(line)
            if columns is None:
                columns = row
                continue
            if "key" not in columns or "default" not in columns:
                continue
            keys = BACKTICKED.findall(row[columns.index("key")])
            if len(keys) != 1 or keys[0] not in known:
                continue
            expected = default_cell(keys[0], cfg, schema)
            if row[columns.index("default")] != expected:
                stale.append(
                    f"{path.name}:{number} {keys[0]}: {row[columns.index('default')]!r}"
                    f" should be {expected!r}"
                )
    assert not stale, "run python tools/sync_param_docs.py:\n" + "\n".join(stale)


def test_documented_bounds_are_the_schema_bounds(rows):
    """The bounds column is what sim/schema/config.py declares and validate checks
    (tools/sync_param_docs.py)."""
    from tools.sync_param_docs import bounds_cell

    stale = []
    for number, row in rows:
        key = BACKTICKED.findall(row["key"])[0]
        expected = bounds_cell(key).replace("|", "\\|")
        if row["bounds"] != expected:
            stale.append(f"line {number} {key}: {row['bounds']!r} should be {expected!r}")
    assert not stale, "run python tools/sync_param_docs.py:\n" + "\n".join(stale)


def test_a_bound_added_to_the_schema_reaches_the_bounds_column():
    from tools.sync_param_docs import bounds_cell

    assert bounds_cell("market.shoppers.habit_weight") == "[0, 20]"
    assert bounds_cell("market.platforms.*.subsidy").startswith("[0, 0.95]; subsidy_min <= subsidy")
    assert bounds_cell("seed") == "integer in [0, 4294967295]"
    assert bounds_cell("progress") == "one of auto, on, off"
    assert bounds_cell("figures") == "true or false"
