"""Plugin discovery and the typed front of pluggy.

Plugins come from three places, registered in this order:

1. the built-ins in :data:`DEFAULT_PLUGINS`, which use the same hooks as everyone else;
2. installed packages that declare an entry point in the ``segkit`` group;
3. ``*.py`` files in the plugins folder (``plugins_dir`` in segkit.yaml, else ``./plugins``).

Loading code from a folder runs that code: only the configured folder is read, and the
environment variable ``SEGKIT_LOAD_PLUGINS`` (comma-separated plugin names) limits which
entry-point and folder plugins load; set it to an empty string to load built-ins only.

A plugin that implements a hook segkit does not define is warned about and unregistered; an
error raised while a plugin registers is kept with the plugin's name (see
:attr:`PluginManager.errors`) and the other plugins still load.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from segkit.engine import hookspecs
from segkit.engine.analysis import Analysis
from segkit.errors import ConfigError

DEFAULT_PLUGINS: tuple[str, ...] = (
    "segkit.analyses.pareto",
    "segkit.analyses.rfm",
    "segkit.analyses.abc_xyz",
    "segkit.analyses.quadrants",
    "segkit.analyses.migration",
    "segkit.analyses.stratification",
    "segkit.analyses.tiers",
    "segkit.analyses.service_fund",
    "segkit.analyses.scorecard",
    "segkit.analyses.satisfaction",
    "segkit.analyses.service",
    "segkit.analyses.retention",
    "segkit.analyses.funnel",
    "segkit.analyses.sources",
    "segkit.analyses.cohorts",
    "segkit.analyses.churn",
    "segkit.analyses.clv",
)
ENTRY_POINT_GROUP = "segkit"
ENV_LOAD = "SEGKIT_LOAD_PLUGINS"


@dataclass(frozen=True)
class Registered:
    """An analysis with the name of the plugin that registered it."""

    analysis: Analysis
    plugin: str


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    hooks: tuple[str, ...]
    source: str  # "built-in", "entry point" or the file path


class PluginManager:
    """segkit's plugins, with one typed method per hook."""

    def __init__(self, plugins_dir: Path | None = None, *, entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("segkit")
        self.pm.add_hookspecs(hookspecs)
        self.errors: dict[str, str] = {}
        self._sources: dict[str, tuple[str, str]] = {}
        allowed = _allowed()
        for module_name in DEFAULT_PLUGINS:
            try:
                self._register(importlib.import_module(module_name), module_name, "built-in")
            except Exception as exc:  # one broken built-in must not take the others down
                self.errors[module_name] = f"could not be loaded: {type(exc).__name__}: {exc}"
        if entry_points:
            self._load_entry_points(allowed)
        folder = plugins_dir if plugins_dir is not None else Path("plugins")
        if folder.is_dir():
            self._load_folder(folder, allowed)
        self._analyses: list[Registered] | None = None

    # -- discovery -------------------------------------------------------------------------
    def _register(self, plugin: object, name: str, source: str, version: str = "") -> None:
        if self.pm.has_plugin(name):
            return
        self.pm.register(plugin, name=name)
        unknown = [h for h in _hook_names(plugin) if h not in _spec_names()]
        if unknown:
            self.pm.unregister(plugin)
            warnings.warn(
                f"plugin '{name}' implements unknown hook(s) {', '.join(unknown)} and was not "
                f"loaded; known hooks: {', '.join(sorted(_spec_names()))}",
                stacklevel=3,
            )
            return
        if not version:
            from segkit import __version__

            version = __version__ if source == "built-in" else "unknown"
        self._sources[name] = (source, version)

    def _load_entry_points(self, allowed: set[str] | None) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and ep.name not in allowed:
                continue
            version = ep.dist.version if ep.dist else "unknown"
            try:
                self._register(ep.load(), ep.name, "entry point", version)
            except Exception as exc:  # a broken plugin must not stop the others
                self.errors[ep.name] = f"could not be loaded: {type(exc).__name__}: {exc}"

    def _load_folder(self, folder: Path, allowed: set[str] | None) -> None:
        for path in sorted(folder.glob("*.py")):
            name = path.stem
            if name.startswith("_") or (allowed is not None and name not in allowed):
                continue
            try:
                module = _import_file(path, f"segkit_plugins.{name}")
                self._register(module, name, str(path), getattr(module, "__version__", ""))
            except Exception as exc:
                self.errors[name] = f"could not be loaded from {path}: {type(exc).__name__}: {exc}"

    # -- hooks -----------------------------------------------------------------------------
    def analyses(self) -> list[Registered]:
        """Every registered analysis, in report order. Duplicate names are errors."""
        if self._analyses is None:
            found: dict[str, Registered] = {}
            # Called one implementation at a time, so a failure is pinned on its plugin and
            # does not stop the others (pluggy's hook call would abort at the first error).
            for impl in self.pm.hook.register_analyses.get_hookimpls():
                plugin_name = impl.plugin_name

                def register(analysis: Any, _plugin: str = plugin_name) -> None:
                    _check_analysis(analysis, _plugin)
                    if analysis.name in found:
                        raise ValueError(
                            f"analysis '{analysis.name}' is already registered by plugin "
                            f"'{found[analysis.name].plugin}'"
                        )
                    found[analysis.name] = Registered(analysis, _plugin)

                try:
                    impl.function(register=register)
                except Exception as exc:
                    self.errors[plugin_name] = (
                        f"register_analyses failed: {type(exc).__name__}: {exc}"
                    )
            self._analyses = sorted(
                found.values(), key=lambda r: (r.analysis.order, r.analysis.name)
            )
        return self._analyses

    def ordered_analyses(self) -> list[Registered]:
        """Analyses in an order where each comes after the ones it ``requires``."""
        by_name = {r.analysis.name: r for r in self.analyses()}
        done: dict[str, Registered] = {}

        def visit(reg: Registered, stack: tuple[str, ...]) -> None:
            name = reg.analysis.name
            if name in done:
                return
            if name in stack:
                raise ConfigError(f"analyses require each other in a cycle: {' -> '.join(stack)}")
            for req in reg.analysis.requires:
                if req in by_name:
                    visit(by_name[req], (*stack, name))
            done[name] = reg

        for reg in by_name.values():
            visit(reg, ())
        return list(done.values())

    def fund_rules(self) -> dict[str, Any]:
        """Service-fund allocation rules by name, from ``register_fund_rules``."""
        rules: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for impl in self.pm.hook.register_fund_rules.get_hookimpls():
            plugin_name = impl.plugin_name

            def register(name: str, rule: Any, _plugin: str = plugin_name) -> None:
                if name in rules:
                    raise ValueError(
                        f"fund rule '{name}' is already registered by plugin '{owners[name]}'"
                    )
                rules[name], owners[name] = rule, _plugin

            try:
                impl.function(register=register)
            except Exception as exc:
                self.errors[plugin_name] = (
                    f"register_fund_rules failed: {type(exc).__name__}: {exc}"
                )
        return rules

    def check_settings(self, analyses: Iterable[str]) -> None:
        """Raise :class:`ConfigError` for a config section that names no known analysis."""
        known = {r.analysis.name for r in self.analyses()}
        for name in analyses:
            if name not in known:
                raise ConfigError(
                    f"analyses.{name}: no analysis of that name is loaded; loaded: "
                    f"{', '.join(sorted(known))}"
                )

    def info(self) -> list[PluginInfo]:
        """What `segkit plugins` lists: name, version, hooks, where it came from."""
        out = []
        for name, plugin in sorted(self.pm.list_name_plugin()):
            source, version = self._sources.get(name, ("", ""))
            hooks = tuple(sorted(_hook_names(plugin)))
            out.append(PluginInfo(name, version, hooks, source))
        return out


def _allowed() -> set[str] | None:
    value = os.environ.get(ENV_LOAD)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


def _spec_names() -> set[str]:
    return {n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "segkit_spec")}


def _hook_names(plugin: object) -> list[str]:
    """Names of a plugin's hook implementations, including hooks segkit does not define."""
    return [a for a in dir(plugin) if hasattr(getattr(plugin, a, None), "segkit_impl")]


def _import_file(path: Path, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _check_analysis(analysis: Any, plugin: str) -> None:
    missing = [
        attr
        for attr in ("name", "title", "order", "defaults", "requires", "definitions", "run")
        if not hasattr(analysis, attr)
    ]
    if missing:
        raise TypeError(f"plugin '{plugin}' registered an analysis without {', '.join(missing)}")
