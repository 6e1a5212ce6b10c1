"""docs/data-contract.md shows exactly the contract the code enforces."""

from __future__ import annotations

from pathlib import Path

from segkit.data.contract import markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "data-contract.md"


def test_doc_contains_the_generated_contract() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("-->\n", text.index("<!-- generated")) + 4
    end = text.index("<!-- end of generated part -->")
    assert text[start:end].strip() == markdown().strip(), (
        "docs/data-contract.md is out of date: replace its generated part with "
        "segkit.data.contract.markdown()"
    )
