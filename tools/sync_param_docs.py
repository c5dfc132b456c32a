"""Write the `default` and `bounds` columns of the parameter tables from the config and the schema.

    python tools/sync_param_docs.py

The defaults in docs/parameters.md and docs/ODD.md come from one place, the config that
`sim run` composes (conf/ and the schema in sim/schema/config.py); tests/test_parameter_docs.py
fails when a table says otherwise, for example after tools/fit_defaults.py write=true. The bounds
come from each field's metadata in sim/schema/config.py (``bounds``, ``choice``, ``iso_date``,
``nonempty``, ``note``), the same metadata ``validate`` checks.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

from sim.experiments.compose import compose_config
from sim.schema.config import Config, PlatformConfig, allowed_text, config_value

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "docs" / "parameters.md", ROOT / "docs" / "ODD.md"]
KEY_CELL = re.compile(r"^`([^`]+)`$")


def fmt(value: Any) -> str:
    if value is None:
        return "null"
    if value == "":
        return '""'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {fmt(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(fmt(getattr(v, "__dict__", v)) for v in value) or "none"
    return str(value)


def default_cell(key: str, cfg: Config, schema: Config) -> str:
    """The documented default of a key: the composed value, and the schema's if it differs."""
    if key.startswith("market.platforms.*."):
        name = key.rsplit(".", 1)[1]
        values = {p.name: getattr(p, name) for p in cfg.market.platforms.values()}
        texts = {k: fmt(v) for k, v in values.items()}
        schema_value = fmt(getattr(type(next(iter(cfg.market.platforms.values())))(), name))
        cell = (
            f"{next(iter(texts.values()))} (all six)"
            if len(set(texts.values())) == 1
            else ", ".join(f"{k} {v}" for k, v in texts.items())
        )
        return cell if set(texts.values()) == {schema_value} else f"{cell} (schema {schema_value})"
    value, schema_value = fmt(config_value(cfg, key)), fmt(config_value(schema, key))
    return value if value == schema_value else f"{value} (schema {schema_value})"


def _field(key: str) -> tuple[dataclasses.Field, typing.Any]:
    """The dataclass field of a dotted key (``market.platforms.*.NAME`` for the roster's fields)."""
    cls: typing.Any = Config
    parts = key.split(".")
    if key.startswith("market.platforms.*."):
        cls, parts = PlatformConfig, parts[3:]
    for i, part in enumerate(parts):
        hints = typing.get_type_hints(cls)
        found = {f.name: f for f in dataclasses.fields(cls)}[part]
        if i == len(parts) - 1:
            return found, hints[part]
        cls = hints[part]
    raise KeyError(key)


def bounds_cell(key: str) -> str:
    """What the schema allows for a key, in words (the ``bounds`` column)."""
    found, kind = _field(key)
    text = allowed_text(found.metadata, getattr(kind, "__name__", ""))
    if kind is bool:
        text = "; ".join(filter(None, ["true or false", text]))
    return text or "any text"


def sync(path: Path, cfg: Config, schema: Config) -> bool:
    """Rewrite the default cells of every parameter table in ``path``; True if anything changed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    columns: list[str] | None = None
    changed = False
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("|"):
            columns = None
            continue
        parts = line.split("|")
        cells = [c.strip() for c in parts[1:-1]]
        if columns is None:
            columns = cells
            continue
        if "key" not in columns or "default" not in columns or set(cells) <= {"---", ""}:
            continue
        match = KEY_CELL.match(cells[columns.index("key")])
        if not match or set(cells[0]) <= set("-:"):
            continue
        cells_by_column = {"default": default_cell(match.group(1), cfg, schema)}
        if "bounds" in columns:
            cells_by_column["bounds"] = bounds_cell(match.group(1)).replace("|", "\\|")
        for column, cell in cells_by_column.items():
            j = columns.index(column) + 1
            if parts[j].strip() != cell:
                parts[j] = f" {cell} "
                lines[i] = "|".join(parts)
                changed = True
    if changed:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return changed


def main() -> None:
    cfg, schema = compose_config([]), Config()
    for path in DOCS:
        if path.is_file():
            print(f"{path}: {'updated' if sync(path, cfg, schema) else 'already in step'}")


if __name__ == "__main__":
    main()
