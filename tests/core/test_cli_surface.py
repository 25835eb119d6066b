"""One meaning per flag across the CLI; former spellings still run, hidden, with one deprecation line."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from latentedit.cli.main import cli


def _commands(group: click.Group = cli, path: tuple[str, ...] = ()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        yield path + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path + (name,))


def _visible_options(cmd: click.Command) -> dict[str, click.Option]:
    return {o: p for p in cmd.params if isinstance(p, click.Option) and not p.hidden for o in p.opts}


def test_every_flag_has_one_meaning():
    seen = 0
    for path, cmd in _commands():
        opts = _visible_options(cmd)
        where = " ".join(path)
        if "--run-dir" in opts:
            assert isinstance(opts["--run-dir"].type, click.Path), where
            assert opts["--run-dir"].type.file_okay is False, f"{where}: --run-dir is a training folder"
            seen += 1
        if "--json" in opts:  # always a file ('-': standard output), never a bare switch
            assert not opts["--json"].is_flag and isinstance(opts["--json"].type, click.Path), where
            assert opts["--json"].type.dir_okay is False, where
        if "--steps" in opts:  # training steps: only commands that train in a run folder
            assert "--run-dir" in opts, f"{where}: --steps without a training folder"
        if "--type" in opts:
            raise AssertionError(f"{where}: a plugin is chosen with --method, not --type")
        if "--out" in opts and "--run-dir" in opts:
            assert opts["--out"].type.dir_okay is False, f"{where}: --out is the file written, --run-dir the run"
    assert seen >= 5


def test_no_duplicate_command_and_no_doubled_percent_in_help():
    top = CliRunner().invoke(cli, ["--help"])
    assert top.exit_code == 0 and "train-encoder" not in top.output
    for path, _ in _commands():
        res = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
        assert res.exit_code == 0, (path, res.output)
        assert "%%" not in res.output, path
    assert "81% of the attribute labels" in CliRunner().invoke(cli, ["edit", "--help"], terminal_width=200).output


def test_former_spellings_run_hidden_with_one_deprecation_line():
    runner = CliRunner()
    res = runner.invoke(cli, ["train-encoder", "--help"])
    assert res.exit_code == 0 and "Train an encoder" in res.output
    res = runner.invoke(cli, ["train-encoder", "--method", "no-such-encoder", "--steps", "1"])
    assert "latentedit train-encoder is deprecated" in res.output and "use latentedit train encoder" in res.output
    assert "no-such-encoder" in res.output and res.exit_code != 0       # then the real command ran
    res = runner.invoke(cli, ["train", "encoder", "--type", "no-such-encoder"])
    assert "--type is deprecated and will be removed; use --method" in res.output and "no-such-encoder" in res.output
    res = runner.invoke(cli, ["train", "mapper", "no-such-mapper", "--out", "never-made"])
    lines = res.output.splitlines()
    assert "latentedit: the positional NAME is deprecated and will be removed; use --method NAME" in lines
    assert "latentedit: --out is deprecated and will be removed; use --run-dir" in lines
    assert res.exit_code != 0 and "no-such-mapper" in res.output
    res = runner.invoke(cli, ["train", "mapper", "--method", "isf"])
    assert res.exit_code == 2 and "Missing option '--run-dir'" in res.output
    res = runner.invoke(cli, ["train", "mapper", "--method", "isf", "--run-dir", "a", "--out", "b"])
    assert res.exit_code == 2 and "both given" in res.output
    hidden = runner.invoke(cli, ["sample-edits", "--help"]).output
    assert "--frames" in hidden and "--steps" not in hidden


def test_json_is_a_file_and_dash_or_no_value_is_standard_output(tmp_path):
    runner = CliRunner()
    out = tmp_path / "status.json"
    res = runner.invoke(cli, ["ops", "status", "--json", str(out)])
    assert res.exit_code == 0 and res.output == ""
    status = json.loads(out.read_text())
    assert "kinds" in status and "mode" in status
    assert status["cpu_synthesis"]["layout"] in ("channels-last", "NCHW")
    for args in (["--json"], ["--json", "-"]):
        res = runner.invoke(cli, ["ops", "status", *args])
        assert res.exit_code == 0 and json.loads(res.output)["mode"] == status["mode"]
    res = runner.invoke(cli, ["plugins", "list", "--no-load", "--json", str(tmp_path / "p.json")])
    rows = json.loads((tmp_path / "p.json").read_text())
    assert res.exit_code == 0 and any(r["name"] == "isf" for r in rows)
    res = runner.invoke(cli, ["plugins", "list", "--no-load", "--json"])
    assert [json.loads(line)["name"] for line in res.output.splitlines()] == [r["name"] for r in rows]


def test_the_surface_table_lists_every_command():
    from pathlib import Path

    table = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli-surface.md").read_text()
    leaves = [" ".join(p) for p, c in _commands() if not isinstance(c, click.Group)]
    assert len(leaves) > 20 and [c for c in leaves if f"| `{c}" not in table] == []
