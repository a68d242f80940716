"""Which files in a folder are inputs: documentation and hidden files are not, named files always are."""

from __future__ import annotations

from pathlib import Path

import pytest

from earnest.core.errors import DataError
from earnest.sources.registry import iter_input_files


def test_folders_skip_documentation_and_hidden_files(tmp_path: Path) -> None:
    for name in (
        "cm05JUL2024bhav.csv",
        "sub/EQ050724.CSV",
        "README.md",
        "readme.txt",
        "PROVENANCE.md",
        "provenance.txt",
        ".DS_Store",
        "sub/cm04JUL2024bhav.csv.zip.part",
    ):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    got = [p.relative_to(tmp_path).as_posix() for p in iter_input_files([tmp_path])]
    assert got == ["cm05JUL2024bhav.csv", "sub/EQ050724.CSV"]


def test_a_file_named_explicitly_is_always_an_input(tmp_path: Path) -> None:
    readme = tmp_path / "readme.txt"
    readme.write_text("x")
    assert iter_input_files([readme]) == [readme]


def test_a_missing_path_names_itself(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        iter_input_files([tmp_path / "nope"])
