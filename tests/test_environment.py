"""pyproject.toml, constraints.txt and environment.yml describe the same environment."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: '{line}' is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def _project() -> tuple[list[Requirement], list[Requirement]]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [Requirement(r) for r in meta["dependencies"]]
    dev = [Requirement(r) for r in meta["optional-dependencies"]["dev"]]
    return core, dev


def _conda_pip() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    out = {}
    for line in pip_section:
        if line.startswith("-"):
            continue
        name, _, version = line.partition("==")
        out[canonicalize_name(name)] = version
    return out


def test_every_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    core, dev = _project()
    for req in core + dev:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[name]), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject's {req.specifier}"
        )


def test_environment_yml_agrees_with_pyproject_and_pins() -> None:
    pins = _pins()
    core, dev = _project()
    conda = _conda_pip()
    expected = {canonicalize_name(r.name): pins[canonicalize_name(r.name)] for r in core + dev}
    assert conda == expected


def test_environment_yml_python_and_pip_match() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    plain = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in plain
    assert f"pip={_pins()['pip']}" in plain
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert Requirement(f"python{requires}").specifier.contains("3.11")


def test_installed_environment_matches_the_pins() -> None:
    """The environment the tests run in is the pinned one (make test builds it)."""
    pins = _pins()
    core, dev = _project()
    for req in core + dev:
        installed = importlib.metadata.version(req.name)
        assert installed == pins[canonicalize_name(req.name)], req.name
