"""Every ordinary bad file gives one CheckpointError line naming the file and the problem; our own format
round-trips exactly."""

from __future__ import annotations

import pickle

import pytest
import torch

from latentedit.io.checkpoints import CheckpointError, detect_format, load_discriminator, load_generator
from latentedit.io.ours import load_generator_file, save_discriminator, save_generator
from latentedit.stylegan2 import Discriminator, DiscriminatorConfig
from tests.conftest import tiny_generator
from latentedit.testing.foreign_formats import fake_nvidia_modules, module_record, rosinality_generator_state
from tests.conftest import GOLDEN, needs_golden


def one_line_error(fn, path, *fragments):
    with pytest.raises(CheckpointError) as err:
        fn(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{path}: "), msg
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    assert "Traceback" not in msg
    return msg


# ------------------------------------------------------------------------------------------------- our format

def test_ours_round_trip_is_bit_identical(tmp_path):
    G = tiny_generator(resolution=16, z_dim=8, w_dim=12, mapping_layers=3, channels=(8, 6, 4))
    save_generator(G, tmp_path / "g.safetensors", extra={"note": "x"})
    G2, extra = load_generator_file(tmp_path / "g.safetensors")
    assert G2.config == G.config and extra == {"note": "x"}
    a, b = G.state_dict(), G2.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    z = torch.randn(2, 8)
    with torch.no_grad():
        assert torch.equal(G(z), G2(z))
    G3, info = load_generator(tmp_path / "g.safetensors")
    assert info.format == "latentedit" and info.networks == ("generator",)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left nothing behind


def test_ours_discriminator_round_trip_and_kind_checks(tmp_path):
    D = Discriminator(DiscriminatorConfig(resolution=8, channels=(4, 4)))
    save_discriminator(D, tmp_path / "d.safetensors")
    D2, info = load_discriminator(tmp_path / "d.safetensors")
    assert info.network == "discriminator" and D2.config == D.config
    one_line_error(load_generator, tmp_path / "d.safetensors", "holds no generator")
    save_generator(tiny_generator(resolution=8), tmp_path / "g.safetensors")
    one_line_error(load_discriminator, tmp_path / "g.safetensors", "holds no discriminator")


def test_foreign_safetensors_is_named(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    one_line_error(load_generator, tmp_path / "x.safetensors", "without latentedit metadata")


def test_ours_with_mis_shaped_tensor(tmp_path):
    from latentedit.io.modelfile import save_model_file

    G = tiny_generator(resolution=8)
    sd = G.state_dict()
    sd["synthesis.b8.conv1.weight"] = torch.zeros(8, 8, 1, 1)
    save_model_file(tmp_path / "g.safetensors", sd, kind="stylegan2-generator", config=G.config)
    one_line_error(load_generator, tmp_path / "g.safetensors", "synthesis.b8.conv1.weight: expected (8, 8, 3, 3), "
                                                               "found (8, 8, 1, 1)")


# --------------------------------------------------------------------------------------- not / broken files

@pytest.mark.parametrize("content,fragment", [
    (b"", "empty file"),
    (b"hello, I am a text file\n", "not a checkpoint: unrecognised start bytes"),
    (bytes(range(256)) * 4, "not a checkpoint"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "not a checkpoint"),
])
def test_garbage(tmp_path, content, fragment):
    p = tmp_path / "x.pt"
    p.write_bytes(content)
    one_line_error(load_generator, p, fragment)
    one_line_error(detect_format, p, fragment)


def test_missing_file_and_directory(tmp_path):
    one_line_error(load_generator, tmp_path / "nope.pkl", "no such file")
    one_line_error(load_generator, tmp_path, "directory")


@needs_golden
@pytest.mark.parametrize("name,fraction", [("nvidia_ada_g32.pkl", 0.5), ("nvidia_ada_g32.pkl", 0.01),
                                           ("rosinality_g32_converted.pt", 0.5),
                                           ("rosinality_g32_train.pt", 0.9)])
def test_truncated_golden_files(tmp_path, name, fraction):
    data = (GOLDEN / name).read_bytes()
    p = tmp_path / name
    p.write_bytes(data[: int(len(data) * fraction)])
    one_line_error(load_generator, p, "truncated")


def test_truncated_ours(tmp_path):
    save_generator(tiny_generator(resolution=8), tmp_path / "g.safetensors")
    data = (tmp_path / "g.safetensors").read_bytes()
    (tmp_path / "g.safetensors").write_bytes(data[: len(data) // 2])
    one_line_error(load_generator, tmp_path / "g.safetensors", "not a readable .safetensors file")


def test_unknown_layouts(tmp_path):
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "a.pt")
    one_line_error(load_generator, tmp_path / "a.pt", "unknown layout", "'model'")
    (tmp_path / "b.pkl").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    one_line_error(load_generator, tmp_path / "b.pkl", "unknown layout", "'weights'")
    torch.save([torch.zeros(3)], tmp_path / "c.pt")
    one_line_error(load_generator, tmp_path / "c.pt", "unknown layout", "list")


# ----------------------------------------------------------------------------------- keys that do not fit

@pytest.fixture
def ros_file(tmp_path):
    G = tiny_generator(resolution=16)

    def write(edit):
        sd = rosinality_generator_state(G)
        edit(sd)
        torch.save({"g_ema": sd, "latent_avg": G.mapping.w_avg.clone()}, tmp_path / "r.pt")
        return tmp_path / "r.pt"
    return write


def test_rosinality_missing_key(ros_file):
    path = ros_file(lambda sd: sd.pop("convs.1.conv.modulation.bias"))
    one_line_error(load_generator, path, "missing keys (1): synthesis.b8.conv1.affine.bias")


def test_rosinality_mis_shaped_key(ros_file):
    def edit(sd):
        sd["convs.1.conv.modulation.weight"] = torch.zeros(5, 8)
    one_line_error(load_generator, ros_file(edit), "mis-shaped", "synthesis.b8.conv1.affine.weight: expected (8, 8), "
                                                                 "found (5, 8)")


def test_rosinality_unexpected_key(ros_file):
    def edit(sd):
        sd["extra_head.weight"] = torch.zeros(3)
    one_line_error(load_generator, ros_file(edit), "unknown layout", "extra_head.weight")


def test_rosinality_non_standard_blur_kernel(ros_file):
    def edit(sd):
        sd["convs.0.conv.blur.kernel"] = torch.ones(4, 4)
    one_line_error(load_generator, ros_file(edit), "convs.0.conv.blur.kernel", "non-standard resampling filter")


def test_rosinality_missing_block(ros_file):
    def edit(sd):
        for k in [k for k in sd if k.startswith(("convs.2.", "convs.3.", "to_rgbs.1."))]:
            sd.pop(k)
    one_line_error(load_generator, ros_file(edit), "unknown layout")


@needs_golden
def test_rosinality_converted_file_has_no_discriminator():
    one_line_error(load_discriminator, GOLDEN / "rosinality_g32_converted.pt", "holds no discriminator")


@needs_golden
def test_nvidia_state_dict_unexpected_and_misshaped(tmp_path):
    sd = torch.load(GOLDEN / "nvidia_ada_g32_state_dict.pt", weights_only=True)
    sd["synthesis.b8.conv0.extra"] = torch.zeros(1)
    sd["synthesis.b16.conv1.bias"] = torch.zeros(7)
    torch.save(sd, tmp_path / "sd.pt")
    one_line_error(load_generator, tmp_path / "sd.pt", "unexpected keys (1): synthesis.b8.conv0.extra",
                   "synthesis.b16.conv1.bias: expected (32,), found (7,)")


@needs_golden
def test_nvidia_non_standard_resample_filter(tmp_path):
    sd = torch.load(GOLDEN / "nvidia_ada_g32_state_dict.pt", weights_only=True)
    sd["synthesis.b8.conv0.resample_filter"] = torch.full((4, 4), 1 / 16)
    torch.save(sd, tmp_path / "sd.pt")
    one_line_error(load_generator, tmp_path / "sd.pt", "synthesis.b8.conv0.resample_filter", "non-standard")


@pytest.mark.parametrize("change,fragment", [
    (lambda kw: kw.update(c_dim=10), "class-conditional"),
    (lambda kw: kw["synthesis_kwargs"].update(architecture="resnet"), "architecture 'resnet'"),
])
def test_nvidia_unsupported_generators(tmp_path, change, fragment):
    from latentedit.testing.foreign_formats import g_init_kwargs

    G = tiny_generator(resolution=8)
    with fake_nvidia_modules():
        kw = g_init_kwargs(G)
        change(kw)
        rec = module_record(G, module_src="", init_kwargs=kw)
        (tmp_path / "g.pkl").write_bytes(pickle.dumps({"G_ema": rec, "D": None}, protocol=4))
    one_line_error(load_generator, tmp_path / "g.pkl", fragment)


def test_nvidia_stylegan3_generator_is_named(tmp_path):
    sd = {"mapping.fc0.weight": torch.zeros(4, 4), "synthesis.b4.const": torch.zeros(4, 4, 4),
          "synthesis.input.freqs": torch.zeros(4, 2), "synthesis.L0_36_512.weight": torch.zeros(1)}
    torch.save(sd, tmp_path / "sg3.pt")
    one_line_error(load_generator, tmp_path / "sg3.pt", "StyleGAN3")


def test_tensorflow_pickle_gets_a_hint(tmp_path):
    data = b"\x80\x02cdnnlib.tflib.network\nNetwork\n)\x81."
    (tmp_path / "tf.pkl").write_bytes(data)
    one_line_error(load_generator, tmp_path / "tf.pkl", "refused global 'dnnlib.tflib.network.Network'", "TensorFlow")


def test_pickle_of_nvidia_snapshot_without_generator(tmp_path):
    from latentedit.stylegan2 import Discriminator, DiscriminatorConfig

    D = Discriminator(DiscriminatorConfig(resolution=8, channels=(4, 4)))
    with fake_nvidia_modules():
        rec = module_record(D, module_src="", init_kwargs={"c_dim": 0})
        (tmp_path / "d.pkl").write_bytes(pickle.dumps({"D": rec}, protocol=4))
    one_line_error(load_generator, tmp_path / "d.pkl", "holds no generator")
    assert load_discriminator(tmp_path / "d.pkl")[0].config.channels == (4, 4)


def test_atomic_write_gives_umask_permissions_and_keeps_a_replaced_files(tmp_path):
    """tempfile creates 0600 files; a model written through atomic_write must be readable like any other file."""
    import os

    from latentedit.io.modelfile import atomic_write

    old = os.umask(0o022)
    try:
        fresh = atomic_write(tmp_path / "new.bin", lambda p: open(p, "wb").write(b"x"))
        assert fresh.stat().st_mode & 0o777 == 0o644
        os.chmod(fresh, 0o640)
        atomic_write(fresh, lambda p: open(p, "wb").write(b"y"))
        assert fresh.stat().st_mode & 0o777 == 0o640 and fresh.read_bytes() == b"y"
    finally:
        os.umask(old)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_current_umask_reads_the_umask_and_atomic_folder_publishes_only_complete_folders(tmp_path):
    import os

    import pytest

    from latentedit.io.modelfile import atomic_folder, current_umask

    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027 and current_umask() == 0o027   # reading it does not change it
        with atomic_folder(tmp_path / "out") as tmp:
            (tmp / "a.txt").write_text("1")
        assert (tmp_path / "out" / "a.txt").read_text() == "1"
        assert (tmp_path / "out").stat().st_mode & 0o777 == 0o750
        with pytest.raises(RuntimeError, match="half-way"):
            with atomic_folder(tmp_path / "out") as tmp:
                (tmp / "b.txt").write_text("2")
                raise RuntimeError("half-way")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]          # no temp folder left behind
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt"]  # the old folder untouched
        with atomic_folder(tmp_path / "out") as tmp:
            (tmp / "c.txt").write_text("3")
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c.txt"]  # replaced as a whole
    finally:
        os.umask(old)


def test_metadata_reader_matches_the_full_reader_and_refuses_the_same_files(tmp_path):
    from safetensors.torch import save_file

    from latentedit.io.modelfile import ModelFileError, read_model_file, read_model_metadata

    path = save_generator(tiny_generator(), tmp_path / "g.safetensors", extra={"note": "x"})
    tensors, kind, config, extra = read_model_file(path)
    assert read_model_metadata(path) == (kind, config, extra) and extra["note"] == "x" and tensors
    foreign = tmp_path / "foreign.safetensors"
    save_file({"a": torch.zeros(2)}, str(foreign))
    for reader in (read_model_file, read_model_metadata):
        with pytest.raises(ModelFileError, match="without latentedit metadata"):
            reader(foreign)
        with pytest.raises(ModelFileError, match="expected a 'mapper' file"):
            reader(path, expect_kind="mapper")
        with pytest.raises(ModelFileError, match="no such file"):
            reader(tmp_path / "missing.safetensors")
