"""Domains: files round-trip, lookup by fingerprint, the toy domain's files, and a generator with no domain getting
no silent defaults (each command names the missing flag in one line)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from latentedit.cli.main import cli
from latentedit.domains import (Domain, DomainError, DomainFile, Reader, domain_for_fingerprint, domain_names,
                                domain_of, find_domain, load_domain, read_domain_file, register_domain,
                                unregister_domain, write_domain_file)
from latentedit.plugins import GeneratorInfo, registered_mapper
from tests.conftest import tiny_generator


def _domain(tmp_path, **kw) -> Domain:
    base = dict(name="mine", description="a test domain", fingerprints=("00ff",),
                generator=DomainFile(path=str(tmp_path / "g.safetensors"), url="https://example.org/g", size=12,
                                     sha256="ab" * 32),
                encoder=DomainFile(path=str(tmp_path / "models" / "enc.pt")),
                classifier=DomainFile(url="https://example.org/c.safetensors"),
                attribute_names=("smile", "age"), mappers={"isf": DomainFile(path=str(tmp_path / "isf.safetensors"))},
                oracle="pkg.oracle:score", readers=(Reader("classifier", "my-kind", "pkg.models:load"),))
    return Domain(**{**base, **kw})


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_domain_file_round_trips_with_paths_relative_to_it(tmp_path, suffix):
    d = _domain(tmp_path)
    path = write_domain_file(d, tmp_path / f"mine.domain{suffix}")
    text = path.read_text()
    assert str(tmp_path) not in text and "models/enc.pt" in text  # written relative to the file
    back = read_domain_file(path)
    assert back == Domain(**{**d.__dict__, "source": str(path)})
    assert back.generator.sha256 == "ab" * 32 and back.classifier.path is None
    assert back.reader("classifier", "my-kind") == "pkg.models:load" and back.reader("identity", "my-kind") is None
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / path.name).write_text(text)  # the same file elsewhere points beside itself
    assert read_domain_file(moved / path.name).encoder.path == str(moved / "models" / "enc.pt")


def test_domain_file_errors_name_the_file_and_the_key(tmp_path):
    bad = tmp_path / "d.json"
    bad.write_text(json.dumps({"name": "x", "clasifier": "c.safetensors"}))
    with pytest.raises(DomainError, match=r"d.json: unknown keys \['clasifier'\]"):
        read_domain_file(bad)
    bad.write_text("{not json")
    with pytest.raises(DomainError, match="not valid JSON"):
        read_domain_file(bad)
    bad.write_text(json.dumps({"name": "x", "encoder": {"pth": "e.pt"}}))
    with pytest.raises(DomainError, match=r"encoder: unknown keys \['pth'\]"):
        read_domain_file(bad)
    with pytest.raises(DomainError, match="needs a path or a url"):
        DomainFile()
    with pytest.raises(DomainError, match="reader role 'judge'"):
        Reader("judge", "k", "m:f")


def test_lookup_by_fingerprint_and_by_name_or_file(tmp_path):
    G = tiny_generator()
    assert domain_for_fingerprint(G.fingerprint()) is None and domain_of(G) is None
    mine = register_domain(_domain(tmp_path, name="tiny-test", fingerprints=(G.fingerprint(),)))
    try:
        assert domain_of(G) is mine and "tiny-test" in domain_names() and load_domain("tiny-test") is mine
        path = write_domain_file(mine, tmp_path / "t.yaml")
        assert find_domain(str(path)).name == "tiny-test"
        assert domain_of(tiny_generator(seed=1), str(path)).name == "tiny-test"  # named: no fingerprint needed
    finally:
        unregister_domain("tiny-test")
    with pytest.raises(DomainError, match="no domain named 'toyface'. Did you mean: toyfaces"):
        load_domain("toyface")


def test_the_toy_domain_is_installed_and_owns_the_shipped_generator():
    from latentedit.io.checkpoints import load_generator

    toy = load_domain("toyfaces")
    assert toy.attribute_names == ("smile", "eyeglasses", "age", "hair_color", "beard")
    for f in (toy.generator, toy.encoder, toy.classifier, toy.identity, *toy.mappers.values()):
        assert f.path and f.path.endswith(".safetensors")
    G, _ = load_generator(toy.generator.path)
    assert domain_of(G) == toy and G.fingerprint() in toy.fingerprints


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    """A tiny random generator no domain knows, saved to a file, with an ISF and a Sensorium mapper for it."""
    from latentedit.io.ours import save_generator
    from latentedit_isf import ISFConfig, ISFMapper
    from latentedit_sensorium import SensoriumConfig, SensoriumMapper

    d = tmp_path_factory.mktemp("stranger")
    G = tiny_generator(resolution=16)
    gpath = save_generator(G, d / "g.safetensors")
    res = CliRunner().invoke(cli, ["sample", "--generator", str(gpath), "--seeds", "0", "--out", str(d / "s.png"),
                                   "--save-latents", str(d / "lat")])
    assert res.exit_code == 0, res.output
    gi = GeneratorInfo.from_generator(G, ("smile", "eyeglasses"))
    torch.manual_seed(0)
    with registered_mapper("isf", ISFMapper), registered_mapper("sensorium", SensoriumMapper):
        ipath = ISFMapper(ISFConfig(z_dim=4, hidden_dim=8), gi).save(d / "isf.safetensors")
        spath = SensoriumMapper(SensoriumConfig(style_dim=4, encoder_channels=(4,), encoder_input=16, hidden_dim=8),
                                gi).save(d / "sens.safetensors")
    return G, gpath, ipath, spath, d / "lat" / "seed0000.wplus.safetensors"


def _one_line_error(res, *needles):
    assert res.exit_code != 0, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.output
    for needle in needles:
        assert needle in errors[0], res.output
    return errors[0]


def test_train_mapper_on_a_generator_with_no_domain_asks_for_the_classifier(stranger, tmp_path):
    G, gpath, *_ = stranger
    res = CliRunner().invoke(cli, ["train", "mapper", "--method", "isf", "--generator", str(gpath), "--run-dir", str(tmp_path / "r"),
                                   "--set", "trainer.steps=1", "--device", "cpu"])
    line = _one_line_error(res, "no attribute classifier for generator", G.fingerprint(), "--classifier FILE")
    assert "no domain matches its fingerprint" in line and not (tmp_path / "r" / "checkpoint.pt").exists()


def test_edit_with_full_targets_asks_for_the_classifier(stranger, tmp_path):
    from latentedit_isf import ISFMapper

    G, gpath, ipath, _, lat = stranger
    with registered_mapper("isf", ISFMapper):
        res = CliRunner().invoke(cli, ["edit", str(lat), "--attr", "smile=1", "--mapper", str(ipath), "--generator",
                                       str(gpath), "--targets", "full", "--out", str(tmp_path / "o")])
        _one_line_error(res, "no attribute classifier", G.fingerprint(), "--classifier FILE")
        res = CliRunner().invoke(cli, ["edit", str(lat), "--attr", "smile=1", "--method", "isf", "--generator",
                                       str(gpath), "--out", str(tmp_path / "o")])
        _one_line_error(res, "no mapper file (isf) for generator", "--mapper FILE")


def test_sample_edits_clusters_asks_for_the_classifier(stranger, tmp_path):
    from latentedit_sensorium import SensoriumMapper

    G, gpath, _, spath, lat = stranger
    with registered_mapper("sensorium", SensoriumMapper):
        res = CliRunner().invoke(cli, ["sample-edits", str(lat), "--attr", "smile=1", "--method", "sensorium",
                                       "--mapper", str(spath), "--generator", str(gpath), "--mode", "clusters",
                                       "--pool", "8", "--n", "2", "--out", str(tmp_path / "o")])
    _one_line_error(res, "no attribute classifier", G.fingerprint(), "--classifier FILE")


def test_invert_and_toy_evaluate_ask_for_their_files(stranger, tmp_path):
    G, gpath, ipath, *_ = stranger
    photo = tmp_path / "p.png"
    from PIL import Image

    Image.new("RGB", (16, 16), (120, 90, 60)).save(photo)
    res = CliRunner().invoke(cli, ["invert", str(photo), "--generator", str(gpath), "--out", str(tmp_path / "i"),
                                   "--no-align"])
    _one_line_error(res, "no encoder for generator", G.fingerprint(), "--encoder FILE")
    res = CliRunner().invoke(cli, ["toyfaces", "evaluate", "--generator", str(gpath), "--method",
                                   f"isf={ipath}", "--n", "2", "--out", str(tmp_path / "e")])
    _one_line_error(res, "no toy-faces judges for generator", G.fingerprint(), "--factors FILE")


def test_a_domain_file_supplies_the_missing_default(stranger, tmp_path):
    """The same stranger with --domain FILE naming a classifier the toy domain's reader reads: training starts."""
    from latentedit_toyfaces.judges import JudgeConfig, JudgeNet, save_judge

    G, gpath, *_ = stranger
    judge = save_judge(JudgeNet(JudgeConfig(name="attributes", channels=(4, 4, 4, 4), feature_dim=8)),
                       tmp_path / "models" / "attr.safetensors")
    dom = write_domain_file(Domain(name="stranger", fingerprints=(G.fingerprint(),),
                                   classifier=DomainFile(path=str(judge))), tmp_path / "stranger.json")
    assert json.loads(dom.read_text())["classifier"] == "models/attr.safetensors"
    res = CliRunner().invoke(cli, ["train", "mapper", "--method", "isf", "--generator", str(gpath), "--domain", str(dom),
                                   "--run-dir", str(tmp_path / "r"), "--set", "trainer.steps=1",
                                   "--set", "trainer.batch=2", "--set", "trainer.loss_weights.lpips=0",
                                   "--set", "trainer.loss_weights.lpips_cycle=0",
                                   "--device", "cpu"])
    assert res.exit_code == 0 and (tmp_path / "r" / "mapper_ema.safetensors").is_file(), res.output
