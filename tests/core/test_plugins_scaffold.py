"""End to end: scaffold a plugin with `latentedit new-plugin`, install it for real (pip into a throwaway
--target folder, so the shared venv is untouched), see it listed by `latentedit plugins list` in a fresh process,
then (in this process, with the folder on sys.path) find it through its entry point, build it, train it a few
steps with latentedit's losses, and run the scaffold's own tests."""

import importlib.util
import os
import subprocess
import sys

import torch
from click.testing import CliRunner

from latentedit.cli.main import cli
from latentedit.losses import attribute_loss, latent_l2_loss
from latentedit.plugins import GeneratorInfo, build_mapper, discover, registry


def _run(args, env, cwd):
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_scaffold_install_list_and_train(tmp_path, monkeypatch):
    project = tmp_path / "latentedit-blink-edit"
    result = CliRunner().invoke(cli, ["new-plugin", "blink_edit", "--dir", str(project)])
    assert result.exit_code == 0, result.output
    umask = os.umask(0)
    os.umask(umask)
    assert project.stat().st_mode & 0o777 == 0o777 & ~umask  # not tempfile's 0700

    target = tmp_path / "site"
    pip = _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                "--disable-pip-version-check", "--quiet", "--target", str(target), str(project)],
               env=os.environ.copy(), cwd=tmp_path)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (target / "latentedit_blink_edit" / "mapper.py").is_file()

    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("LATENTEDIT_DISABLE_PLUGIN_AUTOLOAD", None)
    env.pop("LATENTEDIT_PLUGINS", None)
    workdir = tmp_path / "elsewhere"  # not the project folder: the installed copy must be the one found
    workdir.mkdir()

    listed = _run([sys.executable, "-m", "latentedit.cli.main", "plugins", "list", "--group", "mappers"], env, workdir)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("blink_edit"))
    assert row.split()[1:] == ["mappers", "latentedit-blink-edit", "0.1.0", "trainable", "ok"], listed.stdout

    # the same installed copy, found through importlib.metadata in this process
    monkeypatch.syspath_prepend(str(target))
    monkeypatch.delenv("LATENTEDIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("LATENTEDIT_PLUGINS", raising=False)
    monkeypatch.setattr(registry, "_loaded", {})
    for name in [m for m in sys.modules if m.startswith("latentedit_blink_edit")]:
        monkeypatch.delitem(sys.modules, name)
    spec = next(s for s in discover("mappers") if s.name == "blink_edit")
    assert (spec.distribution, spec.version) == ("latentedit-blink-edit", "0.1.0")
    info = GeneratorInfo(num_ws=6, w_dim=16, attribute_names=("blink", "smile"), resolution=16)
    torch.manual_seed(0)
    mapper = build_mapper("blink_edit", info, {"hidden": 32})
    assert sys.modules[type(mapper).__module__].__file__.startswith(str(target))
    w = torch.randn(8, 6, 16)
    judge = torch.nn.Linear(16, 2).requires_grad_(False)  # stand-in frozen classifier on the mean W code
    target_attr = (judge(w.mean(1)) < 0).float()  # ask for the opposite of what it sees now
    opt = torch.optim.Adam(mapper.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        w_edit = mapper(w, target=target_attr)
        loss = attribute_loss(judge(w_edit.mean(1)), target_attr) + 0.1 * latent_l2_loss(w_edit, w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert w_edit.shape == w.shape
    assert losses[-1] < 0.8 * losses[0], losses

    # the scaffold's own tests (contract + a few training steps), against the installed package
    test_file = project / "tests" / "test_blink_edit.py"
    mod_spec = importlib.util.spec_from_file_location("scaffolded_test_blink_edit", test_file)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    module.test_contract(tmp_path / "contract")
    module.test_learns_to_flip_a_linear_judge()
