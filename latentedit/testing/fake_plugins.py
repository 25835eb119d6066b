"""Fake entry points for tests: exercise plugin discovery and loading without installing anything.

    def test_something(monkeypatch, tmp_path):
        mod = write_plugin_module(tmp_path, "my_fake_plugin", SOURCE)   # importable module on a temp sys.path
        monkeypatch.syspath_prepend(str(tmp_path))
        use_fake_entry_points(monkeypatch, [fake_entry_point("mine", f"{mod}:MyMapper", dist="fake-dist")])

``isolate_plugins(monkeypatch)`` gives a test a hermetic plugin world (no installed plugins, no registrations, no
env switches). ``use_fake_entry_points`` replaces ``importlib.metadata.entry_points`` for the test only
(``monkeypatch`` undoes it) and clears the registry's cache of loaded plugins.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata as metadata
import textwrap
import uuid
from collections.abc import Iterable
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class FakeDistribution:
    """Stands in for ``importlib.metadata.Distribution`` where only ``name`` and ``version`` are read."""

    name: str
    version: str = "0.0.1"


def fake_entry_point(name: str, value: str, *, group: str = "latentedit.mappers", dist: str | None = "fake-dist",
                     version: str = "0.0.1") -> metadata.EntryPoint:
    """A real ``importlib.metadata.EntryPoint`` (its ``load()`` imports ``value``) tied to a fake distribution."""
    ep = metadata.EntryPoint(name=name, value=value, group=group)
    if dist is not None:
        ep = ep._for(FakeDistribution(dist, version))  # what importlib.metadata itself does for real distributions
    return ep


def use_fake_entry_points(monkeypatch, entry_points: Iterable[metadata.EntryPoint]) -> None:
    """Make the ``latentedit.*`` entry-point groups hold exactly ``entry_points`` for this test.

    Every other query (torch, triton, pytest plugins ...) goes to the real ``entry_points``, so libraries that
    discover their own plugins while the test runs are unaffected.
    """
    fakes = list(entry_points)
    real_entry_points = metadata.entry_points

    def fake(**params):
        group = params.get("group")
        if group is None or not str(group).startswith("latentedit."):
            return real_entry_points(**params)  # other libraries' plugins: the real thing, untouched
        return metadata.EntryPoints(fakes).select(**params)

    monkeypatch.setattr(metadata, "entry_points", fake)
    from latentedit.plugins import registry

    registry.clear_cache()
    monkeypatch.setattr(registry, "_loaded", {})


def isolate_plugins(monkeypatch, entry_points: Iterable[metadata.EntryPoint] = ()) -> None:
    """A hermetic plugin world for one test: no installed entry points (only ``entry_points``), no in-process
    registrations from elsewhere, no allow-list/disable variables, an empty load cache."""
    from latentedit.plugins import registry

    monkeypatch.delenv(registry.ENV_ALLOW, raising=False)
    monkeypatch.delenv(registry.ENV_DISABLE, raising=False)
    monkeypatch.setattr(registry, "_registered", {g: {} for g in registry.GROUPS.values()})
    use_fake_entry_points(monkeypatch, entry_points)


def unique_module_name(prefix: str = "fake_plugin") -> str:
    """A module name no other test uses (so ``sys.modules`` caching never mixes tests)."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def write_plugin_module(directory: str | Path, name: str, source: str) -> str:
    """Write ``source`` as ``directory/name.py`` and return ``name`` (add ``directory`` to ``sys.path`` yourself)."""
    path = Path(directory) / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return name
