"""Every table of a committed reproduction that the README shows is the reproduction's own
``summary.md`` (or ``slopes.md``), verbatim: a number in the README cannot drift from the
committed data. Reproductions that write such a file and are absent from the README fail too."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TABLES = sorted((ROOT / "results").glob("*/summary.md")) + sorted(
    (ROOT / "results").glob("*/slopes.md")
)


def test_reproductions_commit_their_tables():
    assert TABLES, "no committed summary.md under results/"


@pytest.mark.parametrize("table", TABLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_readme_shows_the_committed_table_verbatim(table):
    text = table.read_text().strip()
    assert text in README, f"README.md does not show {table.relative_to(ROOT)} verbatim"
