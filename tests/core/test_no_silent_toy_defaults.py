"""No command uses a toy judge (or any default file) on a generator outside the toy domain.

The commands are read from the click tree (``latentedit.cli.main`` COMMANDS, installed plugin groups such as
``toyfaces``, and every subgroup), so a new command that takes ``--generator`` is covered automatically: it must be
given minimal arguments in ``ARGS`` (then, run on a tiny random generator no domain knows with no classifier,
embedder, encoder or mapper, it must be a one-line error naming a flag, or succeed when in ``SUCCEEDS``) or be in
``NO_JUDGE`` with the reason it needs no judge.
"""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from latentedit.cli.main import cli
from tests.conftest import tiny_generator

# Commands that need no judge and are not run here (they would serve or write a whole dataset): path -> reason.
NO_JUDGE = {
    "serve": "serves the generator, encoder and mappers it is given; reads no classifier or embedder",
    "toyfaces finetune-generator": "fine-tunes a generator on toy renders by design (the toy recipe), no judge",
    "directions import": "converts a community direction file; reads no classifier or embedder",
}
# Commands that need no judge and must succeed on the stranger generator.
SUCCEEDS = {"sample"}

# Minimal arguments besides --generator (placeholders: {lat} a W+ file of the generator, {photo}, {out} a fresh path).
ARGS = {
    "sample": ["--seeds", "0", "--out", "{out}.png"],
    "edit": ["{lat}", "--attr", "smile=1", "--out", "{out}"],
    "sample-edits": ["{lat}", "--attr", "smile=1", "--out", "{out}"],
    "invert": ["{photo}", "--no-align", "--out", "{out}"],
    "evaluate": ["--n", "4", "--out", "{out}"],
    "train mapper": ["isf", "--out", "{out}", "--set", "trainer.steps=1"],
    "train encoder": ["--out", "{out}", "--steps", "1", "--set", "encoder_stage_widths=[32,32,32,32]", "--set", "lpips_lambda=0"],
    "directions fit": ["--out", "{out}.safetensors"],
    "toyfaces evaluate": ["--n", "2", "--out", "{out}"],
    "toyfaces eval-generator": ["--n", "100"],
    "toyfaces fit-directions": ["--n", "100", "--out", "{out}.safetensors"],
    "toyfaces latents": ["--out", "{out}"],
}


def _leaf_commands():
    """(path, command) for every leaf command of the CLI tree."""
    ctx = click.Context(cli)
    out = []

    def walk(cmd, path):
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), path + [name])
        else:
            out.append((" ".join(path), cmd))

    walk(cli, [])
    return out


def _takes_generator(cmd) -> bool:
    return any("--generator" in getattr(p, "opts", ()) for p in cmd.params)


GENERATOR_COMMANDS = sorted(path for path, cmd in _leaf_commands() if _takes_generator(cmd))


def test_the_walk_finds_the_commands_and_every_one_is_covered():
    assert {"edit", "evaluate", "train mapper", "sample", "toyfaces evaluate"} <= set(GENERATOR_COMMANDS)
    uncovered = [p for p in GENERATOR_COMMANDS if p not in ARGS and p not in NO_JUDGE]
    assert not uncovered, (f"commands taking --generator with no entry in ARGS or NO_JUDGE: {uncovered}; give them "
                           "minimal arguments in ARGS (or a reason in NO_JUDGE)")
    stale = [p for p in list(ARGS) + list(NO_JUDGE) if p not in GENERATOR_COMMANDS]
    assert not stale, f"listed commands that no longer take --generator: {stale}"


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    """A tiny random generator no domain knows (FFHQ-like layout: mapping + synthesis, 16 px), a W+ file, a photo."""
    from PIL import Image

    from latentedit.io.ours import save_generator

    d = tmp_path_factory.mktemp("stranger")
    G = tiny_generator(resolution=16, channels=[32, 32, 32], seed=7)
    gpath = save_generator(G, d / "g.safetensors")
    res = CliRunner().invoke(cli, ["sample", "--generator", str(gpath), "--seeds", "0", "--out", str(d / "s.png"),
                                   "--save-latents", str(d / "lat")])
    assert res.exit_code == 0, res.output
    Image.new("RGB", (24, 24), (120, 90, 60)).save(d / "p.png")
    return G, gpath, {"lat": str(d / "lat" / "seed0000.wplus.safetensors"), "photo": str(d / "p.png")}


@pytest.mark.parametrize("path", [p for p in GENERATOR_COMMANDS if p in ARGS])
def test_each_command_is_a_one_line_error_naming_a_flag_or_needs_no_judge(path, stranger, tmp_path, monkeypatch):
    monkeypatch.delenv("LATENTEDIT_DOMAIN", raising=False)
    G, gpath, files = stranger
    fill = {**files, "out": str(tmp_path / "out")}
    args = path.split() + ["--generator", str(gpath)] + [a.format(**fill) for a in ARGS[path]]
    if any("--device" in getattr(p, "opts", ()) for p in dict(_leaf_commands())[path].params):
        args += ["--device", "cpu"]
    res = CliRunner().invoke(cli, args)
    if path in SUCCEEDS:
        assert res.exit_code == 0, res.output
        return
    assert res.exit_code != 0, f"{path} ran on a generator with no domain and no judge:\n{res.output}"
    assert res.exception is None or isinstance(res.exception, SystemExit), f"{path}: traceback\n{res.output}"
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, f"{path}: expected one 'Error:' line\n{res.output}"
    assert re.search(r"--[a-z][a-z-]+", errors[0]), f"{path}: the error names no flag: {errors[0]}"
    assert "Traceback" not in res.output
