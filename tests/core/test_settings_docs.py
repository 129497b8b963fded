"""docs/operations.md lists every setting exactly as the registry defines it."""

from __future__ import annotations

from pathlib import Path

from shared.core.settings import settings_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_the_operations_doc_carries_the_generated_settings_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    begin, end = "<!-- settings:begin -->\n", "<!-- settings:end -->"
    assert begin in text and end in text, "docs/operations.md lost its settings markers"
    documented = text.split(begin, 1)[1].split(end, 1)[0]
    assert documented == settings_table(), (
        "docs/operations.md is stale: paste `python -c 'from shared.core.settings import settings_table; "
        "print(settings_table(), end=\"\")'` between the settings markers")
