"""An install from a wheel (not only an editable one) carries every config file."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch

from tests.conftest import ROOT


def test_every_config_file_is_package_data():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {package: ROOT / path for package, path in setuptools["package-dir"].items()}
    patterns = setuptools["package-data"]
    missing = []
    for path in sorted((ROOT / "conf").rglob("*.yaml")):
        owners = [p for p, folder in folders.items() if path.is_relative_to(folder)]
        # The innermost package holding the file must list it (setuptools matches per package).
        owner = max(owners, key=lambda p: len(folders[p].parts))
        relative = path.relative_to(folders[owner]).as_posix()
        if not any(
            fnmatch(relative, pattern) and relative.count("/") == pattern.count("/")
            for pattern in patterns.get(owner, [])
        ):
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
