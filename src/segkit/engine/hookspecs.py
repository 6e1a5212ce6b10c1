"""Hook specifications: the whole plugin interface of segkit.

Built-in analyses and third-party plugins implement the very same hooks. Every hook here is
documented in ``docs/plugins.md`` with its exact signature (a test checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("segkit")
hookimpl = pluggy.HookimplMarker("segkit")


@hookspec
def register_analyses(register: Callable[[Any], None]) -> None:
    """Register analyses: call ``register(analysis)`` once for each report section you add."""


@hookspec
def register_fund_rules(register: Callable[[str, Any], None]) -> None:
    """Register service-fund allocation rules: call ``register(name, rule)`` for each."""
