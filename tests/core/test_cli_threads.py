"""The console script lets idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE) unless the user chose a policy."""

from __future__ import annotations

import os
import subprocess
import sys

from latentedit.cli.main import passive_omp_wait


def test_main_sets_passive_before_torch_loads():
    code = ("import os, sys; import latentedit.cli.main as m; before = 'torch' in sys.modules; m.main(['--version']); "
            "print(before, os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**env, "OMP_NUM_THREADS": "1"})
    # torch is not loaded before main() sets the policy, and is loaded after it (the allocator tuning imports it)
    assert out.stdout.split()[-3:] == ["False", "PASSIVE", "True"]


def test_the_users_choice_wins_and_nothing_changes_once_torch_is_loaded(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    passive_omp_wait()
    assert os.environ["OMP_WAIT_POLICY"] == "active"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    passive_omp_wait()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setitem(sys.modules, "torch", object())   # too late: OpenMP has read its settings
    passive_omp_wait()
    assert "OMP_WAIT_POLICY" not in os.environ
