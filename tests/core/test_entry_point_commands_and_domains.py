"""Commands and domains that installed packages declare (``latentedit.commands``, ``latentedit.domains``): listed
without importing them, loaded when used, and a broken one explains itself without taking anything else down."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from latentedit.cli.main import cli
from latentedit.domains import DomainError, domain_names, domains, load_domain
from latentedit.domains import registry as domain_registry
from latentedit.testing.fake_plugins import (fake_entry_point, unique_module_name, use_fake_entry_points,
                                             write_plugin_module)

COMMAND = '''
import click

@click.command("hello")
@click.option("--name", default="world")
def hello(name):
    """Say hello."""
    click.echo(f"hello {name}")
'''

DOMAIN = '''
from latentedit.domains import Domain

def make():
    return Domain(name="fake", fingerprints=("abc123",), attribute_names=("smile",))
'''


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(domain_registry, "_registered", {})
    monkeypatch.setattr(domain_registry, "_loaded", {})
    monkeypatch.setattr(domain_registry, "BUILTIN_DIR", tmp_path / "no_builtin_domains")  # only the fakes
    good = write_plugin_module(tmp_path, unique_module_name("fake_cmd"), COMMAND)
    dom = write_plugin_module(tmp_path, unique_module_name("fake_domain"), DOMAIN)
    use_fake_entry_points(monkeypatch, [
        fake_entry_point("hello", f"{good}:hello", group="latentedit.commands"),
        fake_entry_point("broken", "no_such_module_for_latentedit:cmd", group="latentedit.commands"),
        fake_entry_point("edit", f"{good}:hello", group="latentedit.commands"),  # a built-in name: ignored
        fake_entry_point("fake", f"{dom}:make", group="latentedit.domains"),
        fake_entry_point("kaput", "no_such_module_for_latentedit:make", group="latentedit.domains"),
    ])
    return good, dom


def test_declared_commands_are_listed_without_importing_and_run_when_used(world):
    good, _ = world
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0 and "hello" in res.output and "broken" in res.output
    assert good not in sys.modules
    res = CliRunner().invoke(cli, ["hello", "--name", "toy"])
    assert res.exit_code == 0 and res.output == "hello toy\n"
    res = CliRunner().invoke(cli, ["edit", "--help"])  # the built-in, not the package's 'edit'
    assert res.exit_code == 0 and "Edit attributes" in res.output


def test_a_broken_command_explains_itself_and_the_rest_still_works(world):
    res = CliRunner().invoke(cli, ["broken", "x"])
    assert res.exit_code != 0 and "the 'broken' command is unavailable" in res.output
    assert "no_such_module_for_latentedit" in res.output
    assert CliRunner().invoke(cli, ["hello"]).exit_code == 0


def test_declared_domains_load_lazily_and_a_broken_one_is_named(world):
    _, dom = world
    assert domain_names() == ["fake", "kaput"] and dom not in sys.modules
    assert load_domain("fake").fingerprints == ("abc123",) and dom in sys.modules
    with pytest.raises(DomainError, match=r"cannot load domain 'kaput' \(no_such_module_for_latentedit:make\)"):
        load_domain("kaput")
    assert [d.name for d in domains()] == ["fake"]  # the broken one is skipped where every domain is listed
