"""Non-finite or unbounded numbers on the command line are refused in one line before any work."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from latentedit.cli.main import cli
from latentedit.editing.edits import MAX_STRENGTHS, EditError, parse_attr, parse_strengths
from latentedit.latents import LatentError, parse_seeds


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_sample_truncation_must_be_finite(value, tmp_path):
    res = CliRunner().invoke(cli, ["sample", "--seeds", "0", "--truncation", value, "--out", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "not a finite number" in res.output and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("spec", ["smile=nan", "smile=inf", "smile=-inf"])
def test_attr_amount_must_be_finite(spec):
    with pytest.raises(EditError, match="finite"):
        parse_attr(spec)


@pytest.mark.parametrize("spec", ["0:1:100000", ",".join(["1"] * (MAX_STRENGTHS + 1))])
def test_strength_counts_are_bounded(spec):
    with pytest.raises(EditError, match=f"{MAX_STRENGTHS}"):
        parse_strengths(spec)


@pytest.mark.parametrize("spec", ["1e999:1:3", "nan", "1,inf"])
def test_strengths_must_be_finite(spec):
    with pytest.raises(EditError):
        parse_strengths(spec)


def test_seed_ranges_are_bounded():
    with pytest.raises(LatentError, match="more than"):
        parse_seeds("0-100000000000")
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]


def test_set_override_is_named_in_the_error():
    from latentedit.plugins.config import ConfigError
    from latentedit.training.config import build_run_config
    from latentedit.training.toys import ToyNoiseMapper

    with pytest.raises(ConfigError) as err:
        build_run_config("toy-noise", ToyNoiseMapper, {"mapper": {"z_dim": 3}}, ["trainer.lr=nan"], source="run.yaml")
    assert "--set trainer.lr=nan" in str(err.value) and "lr" in str(err.value)
