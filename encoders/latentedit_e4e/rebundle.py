"""Replace the generator bundled in an e4e file by another one with the *same* W (fingerprint), keeping the encoder.

    python -m latentedit_e4e.rebundle ENCODER GENERATOR [--out FILE]     # default: ENCODER, rewritten atomically
    python -m latentedit_e4e.rebundle ENCODER none [--out FILE]          # drop the bundled generator

The bundled generator is the default decoder of ``latentedit invert``. When a generator's synthesis network is
fine-tuned with its mapping frozen (``latentedit toyfaces finetune-generator``), W and the fingerprint do not change
and the encoder still fits, so only the bundled copy has to follow. A generator of another W is refused: the
encoder would have to be retrained for it.
"""

from __future__ import annotations

from pathlib import Path


def rebundle(encoder_path, generator_path, out=None) -> Path:
    """Write ``out`` (default ``encoder_path``): the encoder of ``encoder_path`` with ``generator_path``'s generator
    bundled; ValueError when the fingerprints differ. The file's other metadata (training config, steps) is kept,
    and ``decoder_rebundled`` records the replaced and the new generator."""
    from latentedit.io.checkpoints import load_generator
    from latentedit.io.modelfile import read_model_metadata
    from latentedit_e4e.encoder import E4EEncoder

    enc = E4EEncoder.load(encoder_path)
    G = load_generator(generator_path)[0].eval()
    fp = G.fingerprint()
    if enc.generator_fingerprint and enc.generator_fingerprint != fp:
        raise ValueError(f"{encoder_path} was trained for generator {enc.generator_fingerprint}; {generator_path} "
                         f"is {fp}, another W: retrain the encoder for it instead (latentedit train encoder)")
    keep = ("training_steps", "training_config")
    extra = {k: v for k, v in read_model_metadata(encoder_path)[2].items() if k in keep}
    old = enc.generator
    extra["decoder_rebundled"] = {"generator": Path(generator_path).name, "fingerprint": fp,
                                  "replaced_synthesis_changed": old is not None and any(
                                      not a.equal(b) for a, b in zip(old.state_dict().values(),
                                                                     G.state_dict().values()))}
    return enc.save(out or encoder_path, generator=G, extra=extra)


def unbundle(encoder_path, out=None) -> Path:
    """Write ``out`` (default ``encoder_path``): the encoder without a bundled generator (its decoder is then the
    generator of its domain, found by ``generator_fingerprint``); the training metadata is kept."""
    from latentedit.io.modelfile import read_model_metadata
    from latentedit_e4e.encoder import E4EEncoder

    enc = E4EEncoder.load(encoder_path)
    extra = {k: v for k, v in read_model_metadata(encoder_path)[2].items()
             if k in ("training_steps", "training_config", "decoder_rebundled")}
    enc.set_generator(None)
    return enc.save(out or encoder_path, extra=extra)


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("encoder")
    ap.add_argument("generator")
    ap.add_argument("--out", default=None, help="default: rewrite ENCODER (atomically)")
    args = ap.parse_args(argv)
    try:
        if args.generator == "none":
            print(f"wrote {unbundle(args.encoder, args.out)}")
        else:
            print(f"wrote {rebundle(args.encoder, args.generator, args.out)}")
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
