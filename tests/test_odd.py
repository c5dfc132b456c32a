"""docs/ODD.md keeps the ODD structure, and its parameter table stays in step with the schema.

The parameter table (header ``symbol | key | unit | default | source``) must list every leaf key of
the config schema exactly once, collected by the same rule as ``tests/test_parameter_docs.py``;
every row needs a symbol (or "—" for run-control keys), a unit, a default and a source; and every
symbol of a model parameter must be used in the math of the text above the table, so that the
equations and the table agree.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_parameter_docs import assert_keys_match_schema, tables_with_header

ODD = Path(__file__).resolve().parents[1] / "docs" / "ODD.md"
HEADER = ["symbol", "key", "unit", "default", "source"]
REQUIRED = ["symbol", "unit", "default", "source"]
NO_SYMBOL = {"—", "–", "-"}  # run-control and label keys that no equation uses
SECTIONS = [
    (1, r"Purpose and patterns"),
    (2, r"Entities, state variables,? and scales"),
    (3, r"Process overview and scheduling"),
    (4, r"Design concepts"),
    (5, r"Initiali[sz]ation"),
    (6, r"Input data"),
    (7, r"Submodels"),
]
BACKTICKED = re.compile(r"`([^`]+)`")
DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.S)
INLINE_MATH = re.compile(r"\$([^$]+?)\$", re.S)
LATEX_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\S")
# A symbol is not "used" where it only appears decorated or inside another symbol's sub/superscript:
# p_j inside \bar p_j, or d inside d_t.
NOT_BEFORE = {"\\bar", "\\hat", "\\tilde", "\\dot", "\\vec", "\\overline", "\\underline", "_", "^"}
NOT_AFTER = {"_"}


def parameter_table() -> tuple[int, list[tuple[int, dict[str, str]]]]:
    """(line number of the header, [(line number, row)]) of the one table whose header is HEADER."""
    tables = tables_with_header(ODD, HEADER)
    assert len(tables) == 1, (
        f"expected exactly one table with the header {' | '.join(HEADER)} in {ODD}, found {len(tables)}"
    )
    return tables[0]


def math_token_runs(text: str) -> list[list[str]]:
    """The LaTeX tokens of every math span ($$...$$ and $...$) in ``text``, one list per span."""
    text = text.replace("\\$", "")  # an escaped dollar is a currency sign, not math
    spans = DISPLAY_MATH.findall(text)
    spans += INLINE_MATH.findall(DISPLAY_MATH.sub(" ", text))
    return [LATEX_TOKEN.findall(span) for span in spans]


def used_in(symbol: list[str], runs: list[list[str]]) -> bool:
    n = len(symbol)
    for run in runs:
        for start in range(len(run) - n + 1):
            if run[start : start + n] != symbol:
                continue
            before = run[start - 1] if start > 0 else ""
            after = run[start + n] if start + n < len(run) else ""
            if before not in NOT_BEFORE and after not in NOT_AFTER:
                return True
    return False


@pytest.fixture(scope="module")
def table() -> tuple[int, list[tuple[int, dict[str, str]]]]:
    header_line, rows = parameter_table()
    assert rows, f"the parameter table in {ODD} (line {header_line}) has no rows"
    return header_line, rows


def test_odd_has_the_seven_sections_in_order():
    text = ODD.read_text(encoding="utf-8")
    positions = []
    missing = []
    for number, title in SECTIONS:
        match = re.search(rf"^##\s+{number}\.?\s+{title}\s*$", text, re.M | re.I)
        if match is None:
            missing.append(f"## {number}. {title}")
        else:
            positions.append(match.start())
    assert not missing, f"{ODD} lacks the ODD section headings: {missing}"
    assert positions == sorted(positions), "the ODD sections are out of order"


def test_parameter_table_is_in_section_7(table):
    header_line, _ = table
    lines = ODD.read_text(encoding="utf-8").splitlines()
    section_7 = next(
        (i for i, line in enumerate(lines, start=1) if re.match(r"^##\s+7\.?\s+Submodels", line, re.I)), None
    )
    assert section_7 is not None and header_line > section_7, (
        f"the parameter table (line {header_line}) must be in section 7 (line {section_7})"
    )


def test_every_schema_key_is_in_the_table_exactly_once(table):
    _, rows = table
    listed: list[str] = []
    for number, row in rows:
        keys = BACKTICKED.findall(row["key"])
        assert len(keys) == 1, f"ODD.md line {number}: expected one backticked key, got {row['key']!r}"
        listed += keys
    assert_keys_match_schema(listed, "the parameter table of docs/ODD.md")


def test_every_row_has_symbol_unit_default_and_source(table):
    _, rows = table
    empty = [
        f"line {number} {row['key']}: {column}"
        for number, row in rows
        for column in REQUIRED
        if not row[column]
    ]
    assert not empty, "empty cells in the parameter table of docs/ODD.md:\n  " + "\n  ".join(empty)


def test_every_parameter_symbol_is_used_in_the_text_above_the_table(table):
    header_line, rows = table
    above = "\n".join(ODD.read_text(encoding="utf-8").splitlines()[: header_line - 1])
    runs = math_token_runs(above)
    not_math: list[str] = []
    unused: list[str] = []
    for number, row in rows:
        symbol = row["symbol"]
        if symbol in NO_SYMBOL:
            continue
        spans = INLINE_MATH.findall(symbol.replace("\\$", ""))
        if not spans:
            not_math.append(f"line {number} {row['key']}: {symbol!r}")
        for span in spans:
            if not used_in(LATEX_TOKEN.findall(span), runs):
                unused.append(f"line {number} {row['key']}: ${span}$")
    assert not not_math, "symbols must be $...$ math (or — for run-control keys):\n  " + "\n  ".join(not_math)
    assert not unused, (
        "symbols of the parameter table that no equation or text above it uses:\n  " + "\n  ".join(unused)
    )
