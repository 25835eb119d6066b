"""The documentation is checked like code.

(a) every ```bash / ```python block of README.md and docs/guides/*.md is parsed, and run on the toy default in a
    temporary folder, one folder per page: python blocks and ``latentedit …`` lines in this process (click's
    CliRunner), plugin-install and ``torchrun`` lines with the venv's console script. The README's folder holds
    the ``photo.png`` its example edits (scikit-image's astronaut). Markers on the line before a block: ``<!-- needs: real-files -->`` (it needs the public FFHQ
    files: run on stand-ins of the same names and layouts, tiny weights, see "real files" below), ``<!-- test: slow -->`` (run only under ``-m slow``), ``<!-- test: parse-only -->``
    (an abridged excerpt: compiled, not run).
(b) every decimal figure of README.md appears in docs/results.md, the page that owns the figures.
(c) every CLI command is in docs/reference/cli.md; every public name of the API modules is documented.
(d) ``mkdocs build --strict`` passes (when mkdocs is installed) and renders the contract's names.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "guides").glob("*.md"))]
CONSOLE = Path(sys.executable).parent / "latentedit"
LINE_TIMEOUT_S = 240

# Commands and options the docs describe in their final shape that another branch adds. A line that uses one is
# skipped while it is missing from this tree, and run as soon as it exists; any other unknown name fails.
PLANNED_COMMANDS: set[tuple[str, ...]] = set()
PLANNED_OPTIONS: set[str] = set()

sys.path.insert(0, str(ROOT / "docs"))
import gen_reference  # noqa: E402  (docs/gen_reference.py: the command walk shared with the CLI page)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    text: str
    marks: frozenset[str]

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


_MARK = re.compile(r"<!--\s*(needs|test):\s*([\w-]+)")


def parse_blocks(path: Path) -> list[Block]:
    """The fenced bash/python blocks of a page, with the markers on the line right before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\w+)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        marks = frozenset(mm.group(2) for mm in _MARK.finditer(lines[start - 1])) if start else frozenset()
        if lang in ("bash", "python"):
            blocks.append(Block(path, start + 1, lang, "\n".join(lines[start + 1:j]), marks))
        i = j + 1
    return blocks


def command_lines(block: Block) -> list[list[str]]:
    """The shell lines of a bash block, split into words (comments dropped)."""
    return [words for words in (shlex.split(raw, comments=True) for raw in block.text.splitlines()) if words]


def latentedit_argv(words: list[str]) -> list[str] | None:
    """The arguments after ``latentedit`` (also inside ``torchrun … $(which latentedit) …``), else None."""
    if words[0] == "latentedit":
        return words[1:]
    if words[0] == "torchrun" and "$(which" in words:
        k = words.index("$(which")
        return words[k + 2:]
    return None


def resolve(argv: list[str]) -> tuple[tuple[str, ...], click.Command | None]:
    """Walk the click groups along ``argv``: the command path and the command (None when missing)."""
    from latentedit.cli.main import cli

    cmd: click.Command = cli
    path: tuple[str, ...] = ()
    for word in argv:
        if not isinstance(cmd, click.Group) or word.startswith("-"):
            break
        sub = cmd.get_command(click.Context(cmd), word)
        path += (word,)
        if sub is None:
            return path, None
        cmd = sub
    return path, cmd


def check_line(argv: list[str]) -> str | None:
    """Fail on an unknown command or option; return a reason when the line uses a planned name not here yet."""
    path, cmd = resolve(argv)
    if cmd is None:
        planned = any(path[:len(p)] == p for p in PLANNED_COMMANDS)
        assert planned, f"`latentedit {' '.join(path)}` is no command (see docs/reference/cli.md)"
        return f"`latentedit {' '.join(path)}` is not in this tree yet"
    known = {opt for param in cmd.params for opt in (*param.opts, *param.secondary_opts)} | {"--help", "-h"}
    for word in argv[len(path):]:
        if word.startswith("--"):
            opt = word.split("=", 1)[0]
            if opt in known:
                continue
            assert opt in PLANNED_OPTIONS, f"`latentedit {' '.join(path)}` has no option {opt}"
            return f"`latentedit {' '.join(path)} {opt}` is not in this tree yet"
    return None


ALL_BLOCKS = [b for page in PAGES for b in parse_blocks(page)]


def test_pages_have_blocks_and_known_markers():
    """Every guide has runnable blocks; every marker is one the runner knows (a typo would silently run a block)."""
    known = {"real-files", "slow", "parse-only"}
    for page in PAGES:
        blocks = parse_blocks(page)
        assert blocks, f"{page.relative_to(ROOT)} has no bash/python block"
        for b in blocks:
            assert b.marks <= known, f"{b.where}: unknown marker {sorted(b.marks - known)}; known: {sorted(known)}"


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: b.where)
def test_block_parses(block):
    """Every block parses, real-files ones included: python compiles; every `latentedit` line names a command and
    options that exist (or are planned), every `make` target and `python FILE` exists."""
    if block.lang == "python":
        compile(block.text, block.where, "exec")
        return
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for words in command_lines(block):
        argv = latentedit_argv(words)
        if argv is not None:
            check_line(argv)
        elif words[0] == "make":
            assert re.search(rf"^{re.escape(words[1])}:", makefile, re.M), f"{block.where}: no make target {words[1]}"
        elif words[0] == "python" and words[1].endswith(".py"):
            assert (ROOT / words[1]).is_file(), f"{block.where}: {words[1]} does not exist"


def test_planned_names():
    """Names the docs use before their branch lands: listed here as a skip until every one exists."""
    missing = []
    for block in ALL_BLOCKS:
        for words in command_lines(block) if block.lang == "bash" else []:
            argv = latentedit_argv(words)
            reason = check_line(argv) if argv is not None else None
            if reason:
                missing.append(f"{block.where}: {reason}")
    if missing:
        pytest.skip("planned names not in this tree yet: " + "; ".join(sorted(set(missing))))


def _fake_install(package_dir: Path, site: Path) -> None:
    """`pip install -e DIR` for a scaffolded plugin, without touching the venv: DIR on PYTHONPATH plus a dist-info
    holding its entry points (importlib.metadata finds it on sys.path)."""
    tomllib = pytest.importorskip("tomllib", reason="reading a plugin's pyproject needs Python 3.11")
    project = tomllib.loads((package_dir / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = project.get("entry-points", {})
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in groups.items()))


def _put_photo(folder: Path) -> None:
    """The photo the README example edits (``photo.png``): scikit-image's astronaut, a face on a background."""
    data = pytest.importorskip("skimage.data", reason="the README's photo.png is scikit-image's astronaut")
    from PIL import Image

    Image.fromarray(data.astronaut()).save(folder / "photo.png")


def _invoke(argv: list[str], where: str, words: list[str]) -> None:
    """One ``latentedit`` line in this process (click's CliRunner: no interpreter start, no torch import)."""
    from click.testing import CliRunner

    from latentedit.cli.main import cli

    result = CliRunner().invoke(cli, argv, prog_name="latentedit")
    if result.exit_code != 0:
        import traceback

        tb = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
        if isinstance(result.exception, SystemExit):
            tb = ""
        raise AssertionError(f"{where}: `{' '.join(words)}` exited {result.exit_code}:\n{result.output[-3000:]}"
                             f"{tb[-3000:]}")


def _run_page(page: Path, *, slow: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a page's blocks in order in ``tmp_path``: python blocks and ``latentedit`` lines in this process;
    lines after a ``pip install -e`` (a fake-installed plugin) and ``torchrun`` lines as subprocesses."""
    blocks = [b for b in parse_blocks(page) if "real-files" not in b.marks and "parse-only" not in b.marks]
    site = tmp_path / "_site"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.chdir(tmp_path)
    if page.name == "README.md":
        _put_photo(tmp_path)
    ran, skipped, installed = 0, [], False
    for block in blocks:
        if "slow" in block.marks and not slow:
            continue
        if block.lang == "python":
            module = types.ModuleType("__docs_block__")  # a real module: dataclasses look their module up
            monkeypatch.setitem(sys.modules, module.__name__, module)
            exec(compile(block.text, block.where, "exec"), module.__dict__)  # noqa: S102 (our own docs)
            ran += 1
            continue
        reasons = [r for r in (check_line(a) for a in map(latentedit_argv, command_lines(block)) if a) if r]
        if reasons:
            skipped.append(f"{block.where}: {reasons[0]}")
            continue
        for words in command_lines(block):
            argv = latentedit_argv(words)
            if words[:3] == ["pip", "install", "-e"]:
                path = tmp_path / words[3]
                env["PYTHONPATH"] = f"{path}{os.pathsep}{env['PYTHONPATH']}"
                _fake_install(path, site)
                installed = True
                continue
            if argv is None:
                continue  # make, python benchmarks, comments: checked by test_block_parses
            if words[0] != "torchrun" and not installed:
                _invoke(argv, block.where, words)
                ran += 1
                continue
            if words[0] == "torchrun":
                k = words.index("$(which")
                cmd = [sys.executable, "-m", "torch.distributed.run", *words[1:k], str(CONSOLE), *argv]
            else:
                cmd = [str(CONSOLE), *argv]
            proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=LINE_TIMEOUT_S)
            assert proc.returncode == 0, (f"{block.where}: `{' '.join(words)}` exited {proc.returncode}:\n"
                                          f"{(proc.stdout + proc.stderr)[-3000:]}")
            ran += 1
    if not ran:
        pytest.skip(f"{page.relative_to(ROOT)}: nothing to run here ({'; '.join(skipped) or 'every block is marked slow or needs real files'})")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_runs_on_toy_default(page, tmp_path, monkeypatch):
    """The blocks not marked slow, in order, in one folder per page."""
    _run_page(page, slow=False, tmp_path=tmp_path, monkeypatch=monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_runs_on_toy_default_slow(page, tmp_path, monkeypatch):
    """Every block that needs no real files, slow ones included, in order."""
    _run_page(page, slow=True, tmp_path=tmp_path, monkeypatch=monkeypatch)


# (a, real files) -------------------------------------------------------------------------------------------------
# The blocks marked ``<!-- needs: real-files -->`` run on stand-ins of the public FFHQ files: the same file names and
# layouts, tiny weights (``latentedit.testing.standins``): ``stylegan2-ffhq-config-f.pkl`` is a 32-px generator in
# NVIDIA's snapshot-pickle layout, ``e4e_ffhq_encode.pt`` an e4e encoder for it in the official checkpoint layout
# (``latentedit_e4e.official.write_official``), ``stylegan_ffhq_smile_w_boundary.npy`` a (1, w_dim) InterFaceGAN
# boundary, ``me.jpg`` scikit-image's astronaut, ``ffhq.yaml`` a domain file naming them, ``celeba/`` CelebA's layout
# (``img_align_celeba/`` + ``list_attr_celeba.txt`` with CelebA attribute names) from ``toyfaces export-celeba``,
# ``ffhq_aligned/`` four renders of the generator. ``latentedit domains fetch ffhq`` downloads from a local
# ``http.server``: the built-in ``ffhq`` domain is re-registered in this process (``register_domain``) with each URL
# pointing at the same file name on that server, and the domains' download cache (``fetch.cache_root``) is a temporary folder.
#
# Lines that are expensive as written run with shrinking flags appended by the test (click takes the last value of
# an option, and ``--set`` applies in order), listed in SHRINK. ``torchrun`` lines
# are parsed only (``test_block_parses``): four processes of a full run are no test (not run under ``slow`` yet).
SHRINK: dict[tuple[str, ...], list[str]] = {
    ("train", "classifier"): ["--steps", "2", "--batch-size", "4", "--input-size", "32"],
    ("train", "encoder"): ["--steps", "2", "--set", "batch_size=2", "--set", "lpips_lambda=0", "--set", "identity=none"],
}
REAL_PAGES = [p for p in PAGES if any(words[0] != "torchrun" for b in parse_blocks(p) if "real-files" in b.marks
                                      for words in command_lines(b))]  # scale-out.md holds only a torchrun line


def _standins(folder: Path, *, directions: bool) -> None:
    """Every stand-in the real-files blocks read, written in ``folder`` (see the comment above); with
    ``directions`` also ``ffhq_directions.safetensors``, which the domain file names and another page's block
    writes (``latentedit directions import``)."""
    import torch
    from click.testing import CliRunner

    from latentedit.cli.main import cli
    from latentedit.testing import standins as S
    from latentedit_e4e.config import E4EConfig
    from latentedit_e4e.encoder import E4EEncoder
    from latentedit_e4e.official import write_official

    pytest.importorskip("skimage.data", reason="me.jpg is scikit-image's astronaut")
    G = S.small_ffhq_generator()
    S.write_generator_pkl(folder, G)
    torch.manual_seed(1)
    cfg = E4EConfig.small(G.config.resolution, G.w_dim, stage_units=(1, 1, 1, 1), stage_widths=(16, 24, 32, 48))
    write_official(folder / S.E4E_PT, E4EEncoder(cfg), G)
    S.write_boundary(folder, G.w_dim)
    S.write_photo(folder)
    S.write_aligned_crops(folder, G)
    attrs = ("smile", "eyeglasses")
    S.write_untrained_mapper(folder / "runs" / "isf" / "mapper_ema.safetensors", "isf", G, attrs)
    S.write_domain_yaml(folder, classifier="celeba_attributes.safetensors",
                        mappers={"directions": "ffhq_directions.safetensors", "isf": "runs/isf/mapper_ema.safetensors"})
    result = CliRunner().invoke(cli, ["toyfaces", "export-celeba", "--n", "12", "--out", str(folder / "celeba")])
    assert result.exit_code == 0, result.output
    if directions:
        result = CliRunner().invoke(cli, ["directions", "import", str(folder / S.SMILE_BOUNDARY), "--name", "smile",
                                          "--generator", str(folder / S.GENERATOR_PKL),
                                          "--out", str(folder / "ffhq_directions.safetensors")])
        assert result.exit_code == 0, result.output
    S.as_celeba_layout(folder / "celeba", {"smile": "Smiling", "eyeglasses": "Eyeglasses", "age": "Young"})


@pytest.fixture
def ffhq_server(tmp_path, monkeypatch):
    """The built-in ``ffhq`` domain with its URLs on a local http.server serving stand-ins of the same names;
    the download cache in ``tmp_path``. Yields the served folder and the domain."""
    import dataclasses
    import functools
    import http.server
    import threading

    from latentedit.domains import load_domain
    from latentedit.domains.registry import register_domain, unregister_domain
    from latentedit.testing import standins as S

    served = tmp_path / "_served"
    served.mkdir()
    from latentedit.domains import fetch

    # the domains' download cache only (the native-kernel cache under $LATENTEDIT_CACHE stays where it is)
    monkeypatch.setattr(fetch, "cache_root", lambda: tmp_path / "_cache" / "domains")
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    builtin = load_domain("ffhq")
    base = f"http://127.0.0.1:{server.server_address[1]}"
    moved = {}
    for label, f in builtin.all_files().items():
        moved[label] = dataclasses.replace(f, url=f"{base}/{f.file_name}")
    local = dataclasses.replace(
        builtin, generator=moved["generator"], encoder=moved["encoder"], identity=moved["identity"],
        extras={k: moved[f"extras.{k}"] for k in builtin.extras})
    register_domain(local, replace=True)
    try:
        yield served, local
    finally:
        unregister_domain("ffhq")
        server.shutdown()
        server.server_close()


def _serve_standins(served: Path, folder: Path, domain, w_dim: int) -> None:
    """Put what the ``ffhq`` domain lists on the server: the generator and e4e stand-ins, (1, w_dim) boundaries for
    the InterFaceGAN extras, placeholder bytes for the FaceNet and AlexNet weights (the blocks never read them)."""
    import shutil

    from latentedit.testing import standins as S

    for label, f in domain.all_files().items():
        if label == "generator":
            shutil.copy(folder / S.GENERATOR_PKL, served / f.file_name)
        elif label == "encoder":
            shutil.copy(folder / S.E4E_PT, served / f.file_name)
        elif f.file_name.endswith(".npy"):
            S.write_boundary(served, w_dim, name=f.file_name)
        else:
            (served / f.file_name).write_bytes(b"stand-in: " + f.file_name.encode())


def _run_real_files(page: Path, folder: Path, monkeypatch) -> list[str]:
    """Run every line of the page's real-files blocks in ``folder`` (in this process); the lines run, as run."""
    monkeypatch.chdir(folder)
    ran = []
    for block in (b for b in parse_blocks(page) if "real-files" in b.marks):
        for words in command_lines(block):
            argv = latentedit_argv(words)
            assert argv is not None, f"{block.where}: only latentedit/torchrun lines are expected here: {words}"
            if words[0] == "torchrun":
                continue  # parsed only: see the comment above SHRINK
            path, _ = resolve(argv)
            extra = SHRINK.get(path, [])
            _invoke(argv + extra, block.where, words + extra)
            ran.append(" ".join(words + extra))
    return ran


@pytest.mark.parametrize("page", REAL_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_real_files_blocks_run_on_standins(page, tmp_path, monkeypatch, ffhq_server):
    """Every line of the real-files blocks, in order, on stand-ins (cwd: their folder); then the files each
    block promises are there."""
    folder = tmp_path / "work"
    folder.mkdir()
    _standins(folder, directions=page.name != "edit-a-photo.md")
    served, domain = ffhq_server
    _serve_standins(served, folder, domain, w_dim=32)
    ran = _run_real_files(page, folder, monkeypatch)
    assert ran, f"{page.relative_to(ROOT)}: no real-files line ran"
    promised = {
        "edit-a-photo.md": ["ffhq_directions.safetensors", "edited_me/me_grid.png"],
        "domains-and-files.md": ["edited_me/me_grid.png", "samples_me/me_samples.png"],
        "new-domain.md": ["celeba_attributes.safetensors", "runs/celeba/report.json", "ffhq_e4e.safetensors"],
    }.get(page.name, [])
    missing = [p for p in promised if not (folder / p).is_file()]
    assert not missing, f"{page.relative_to(ROOT)}: the blocks ran but did not write {missing}"
    if page.name == "domains-and-files.md":  # `domains fetch ffhq` downloaded every listed file into the cache
        from latentedit.domains.fetch import cached_path

        for label, f in domain.all_files().items():
            got = cached_path(domain, f)
            assert got.is_file() and got.read_bytes() == (served / f.file_name).read_bytes(), label


# (b) ------------------------------------------------------------------------------------------------------------
_DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\d.]*\d)")


def test_readme_repeats_only_figures_of_the_results_page():
    results = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    figures = set(_DECIMAL.findall(re.sub(r"```.*?```", "", readme, flags=re.S)))  # prose and tables, not code
    assert figures, "README.md states no figure: this test would check nothing"
    missing = sorted(f for f in figures if not re.search(rf"(?<![\d.]){re.escape(f)}(?![\d])", results))
    assert not missing, f"README.md states figures that docs/results.md does not: {missing}"


def test_figure_rule_catches_a_changed_figure():
    """The rule above fails on a figure the results page does not hold."""
    assert _DECIMAL.findall("success 0.981, ratio 1.49 (bar 1.5), version 2.0.1") == ["0.981", "1.49", "1.5"]
    results = "| isf | 0.9815 |"
    assert not re.search(r"(?<![\d.])0\.981(?![\d])", results)


# (c) ------------------------------------------------------------------------------------------------------------
def test_every_command_in_the_cli_reference():
    from latentedit.cli.main import cli

    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    paths = [path for path, _ in gen_reference.walk_commands(cli)]
    assert len(paths) > 10
    missing = [" ".join(p) for p in paths if f"`latentedit {' '.join(p)}`" not in page]
    assert not missing, f"not in docs/reference/cli.md (run python docs/gen_reference.py): {missing}"


def _public_objects(module_name: str):
    import importlib
    import inspect

    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, obj in vars(module).items() if not n.startswith("_")
                 and (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == module_name]
    return [(n, getattr(module, n)) for n in names]


API_NAMES = [m for m, _ in gen_reference.API_MODULES] + ["latentedit.plugins.contract", "latentedit.plugins.encoder"]


@pytest.mark.parametrize("module_name", API_NAMES)
def test_public_names_documented(module_name):
    """Each API module is on a reference page, and each public class/function has a docstring (mkdocstrings
    renders only documented members)."""
    import inspect

    if not gen_reference.module_exists(module_name):
        pytest.skip(f"{module_name} is not in this tree yet")
    pages = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "reference").glob("*.md"))
    assert f"::: {module_name}" in pages, f"no reference page renders {module_name}"
    undocumented = [n for n, obj in _public_objects(module_name)
                    if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj)]
    assert not undocumented, f"{module_name}: public names without a docstring: {undocumented}"


# (d) ------------------------------------------------------------------------------------------------------------
def test_reference_pages_are_current():
    """docs/reference/cli.md and api.md are what `python docs/gen_reference.py` writes now."""
    import difflib

    for path, text in ((gen_reference.CLI_PAGE, gen_reference.cli_page()),
                       (gen_reference.API_PAGE, gen_reference.api_page())):
        current = path.read_text(encoding="utf-8")
        diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(), "committed", "now", lineterm=""))
        assert not diff, f"{path.relative_to(ROOT)} is out of date (run python docs/gen_reference.py):\n" + \
            "\n".join(diff[:40])


def test_site_builds_strict_offline(tmp_path):
    """`mkdocs build --strict` in this process (a warning aborts it; the warnings are in the failure)."""
    import logging

    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed (pip install -e '.[docs]')")
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    keep, log = Keep(), logging.getLogger("mkdocs")
    log.addHandler(keep)
    site = tmp_path / "site"
    try:
        build(load_config(str(ROOT / "mkdocs.yml"), strict=True, site_dir=str(site)))
    except Abort as exc:
        pytest.fail(f"mkdocs build --strict: {exc}\n" + "\n".join(keep.messages))
    finally:
        log.removeHandler(keep)
    contract = (site / "reference" / "contract" / "index.html").read_text(encoding="utf-8")
    for module in ("latentedit.plugins.contract", "latentedit.plugins.encoder"):
        for name, _ in _public_objects(module):
            assert f'id="{module}.{name}"' in contract, f"the contract page does not render {module}.{name}"
