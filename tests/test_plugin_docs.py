"""docs/plugins.md documents every hook with its exact signature (after datasette's test).

Adding a hook without documenting it, changing a hook's parameters or their annotations, or
documenting a hook that no longer exists fails here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from segkit.engine import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HOOKS_SECTION = "Hooks"


def hook_specs() -> dict[str, Callable[..., Any]]:
    """The functions of ``segkit.engine.hookspecs`` marked ``@hookspec``."""
    return {
        name: obj
        for name, obj in vars(hookspecs).items()
        if callable(obj) and hasattr(obj, "segkit_spec")
    }


def headings(text: str) -> list[tuple[int, str]]:
    """Markdown headings outside code blocks as (level, text), inline-code ticks removed."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        m = re.match(r"^(#{1,6})\s+(.*?)\s*$", line)
        if m and not fenced:
            out.append((len(m.group(1)), m.group(2).replace("`", "")))
    return out


def hook_headings(text: str) -> list[str]:
    """Level-3 headings of the Hooks section."""
    found, inside = [], False
    for level, title in headings(text):
        if level <= 2:
            inside = title == HOOKS_SECTION
        elif inside and level == 3:
            found.append(title)
    return found


def call_signature(name: str, fn: Callable[..., Any]) -> str:
    """``name(param, ...)``: the hook's parameters as a plugin author writes them."""
    sig = inspect.signature(fn)
    bare = sig.replace(
        parameters=[p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )
    return f"{name}{bare}"


def typed_signature(name: str, fn: Callable[..., Any]) -> str:
    """``def name(param: Type, ...) -> Return`` with the annotations as written in hookspecs."""
    # hookspecs uses postponed annotations, so they are the source text; str() quotes them.
    return f"def {name}{inspect.signature(fn)}".replace("'", "")


@pytest.fixture(scope="module")
def docs() -> str:
    return DOCS.read_text(encoding="utf-8")


def test_there_are_hooks() -> None:
    assert {"register_analyses", "register_fund_rules"} <= set(hook_specs())


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_hook_is_documented_with_its_exact_signature(name: str, docs: str) -> None:
    fn = hook_specs()[name]
    assert call_signature(name, fn) in hook_headings(docs), (
        f"docs/plugins.md needs a heading '### {call_signature(name, fn)}' under '## Hooks'"
    )
    typed = typed_signature(name, fn)
    assert typed in docs.splitlines(), f"docs/plugins.md needs the line '{typed}'"


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_hook_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(hook_specs()[name])
    assert doc and doc.strip(), f"hook {name} in segkit.engine.hookspecs has no docstring"


def test_docs_describe_no_hook_that_does_not_exist(docs: str) -> None:
    documented = {title.split("(")[0] for title in hook_headings(docs)}
    assert documented == set(hook_specs())


def test_signature_helpers_on_a_known_example() -> None:
    # Checked by hand against the text of hookspecs.register_fund_rules.
    fn = hook_specs()["register_fund_rules"]
    assert call_signature("register_fund_rules", fn) == "register_fund_rules(register)"
    assert typed_signature("register_fund_rules", fn) == (
        "def register_fund_rules(register: Callable[[str, Any], None]) -> None"
    )
