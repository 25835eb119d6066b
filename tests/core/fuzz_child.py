"""Runs in a child process for ``test_fuzz_hostile``: loads each file of a corpus with its loader under an
address-space limit and prints one JSON line per file (status, seconds, poisoned, cli).

``python -m tests.core.fuzz_child CORPUS.json`` where the corpus is ``[[kind, path], ...]``. Status: ``loaded``,
``refused`` (a LatenteditInputError), or ``crash`` (anything else: a defect). ``poisoned``: a known tensor no longer
round-trips through ``torch.load`` after this load. ``cli``: for checkpoints, ``latentedit info FILE`` either
succeeded or printed one ``Error:`` line (no traceback).
"""

from __future__ import annotations

import io
import json
import resource
import sys
import time

ADDRESS_SPACE = 6 << 30


def _loaders():
    from latentedit.faces.loading import load_photo
    from latentedit.io.checkpoints import load_generator
    from latentedit.latents import load_latents
    from latentedit.plugins import load_mapper_file
    from latentedit_directions.formats import read_direction, read_ganspace
    from latentedit_e4e.encoder import E4EEncoder

    gen = lambda p: load_generator(p)  # noqa: E731
    return {"pickle": gen, "torchzip": gen, "safetensors": gen, "photo": load_photo, "latents": load_latents,
            "mapper": load_mapper_file, "direction": read_direction, "ganspace": read_ganspace,
            "encoder": E4EEncoder.load}


def main(corpus_file: str) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    import torch

    torch.set_num_threads(1)
    from click.testing import CliRunner

    from latentedit.cli.main import cli
    from latentedit.io.errors import LatenteditInputError

    known = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    buf = io.BytesIO()
    torch.save(known, buf)
    blob = buf.getvalue()
    loaders = _loaders()
    for kind, path in json.loads(open(corpus_file).read()):
        t0 = time.perf_counter()
        status, error = "loaded", ""
        try:
            loaders[kind](path)
        except LatenteditInputError as exc:
            status, error = "refused", str(exc)
        except BaseException as exc:  # noqa: BLE001 - reported as a defect
            status, error = "crash", f"{type(exc).__name__}: {exc}"[:300]
        seconds = time.perf_counter() - t0
        back = torch.load(io.BytesIO(blob), weights_only=True)
        poisoned = not (isinstance(back, torch.Tensor) and torch.equal(back, known))
        cli_ok = True
        if kind in ("pickle", "torchzip", "safetensors"):
            res = CliRunner().invoke(cli, ["info", path])
            lines = [ln for ln in res.output.splitlines() if ln.startswith("Error")]
            cli_ok = (res.exception is None or isinstance(res.exception, SystemExit)) and \
                "Traceback" not in res.output and (res.exit_code == 0 or len(lines) == 1)
        print(json.dumps({"kind": kind, "path": path, "status": status, "error": error, "seconds": round(seconds, 2),
                          "poisoned": poisoned, "cli": cli_ok}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
