"""The toy-faces domain, registered as ``toyfaces`` in the ``latentedit.domains`` entry point group.

Its files are the plugin's shipped assets; its readers read the toy judge files (attribute classifier, identity
embedder, factor estimator); its oracle is the ground-truth edit benchmark.
"""

from __future__ import annotations

from latentedit.domains import Domain, DomainFile, Reader

# Generator.fingerprint() of the shipped toy generator (its fine-tunes keep the mapping, hence the fingerprint).
FINGERPRINT = "14603d8a44b7f606"
MAPPER_ASSETS = {"isf": "toyfaces_isf.safetensors", "directions": "toyfaces_directions.safetensors",
                 "sensorium": "toyfaces_sensorium.safetensors"}


def toyfaces_domain() -> Domain:
    """The ``Domain`` of the shipped toy-faces generator."""
    from latentedit_toyfaces.assets import ASSETS_DIR
    from latentedit_toyfaces.factors import ATTRIBUTE_NAMES
    from latentedit_toyfaces.judges import JUDGE_NAMES, kind_of

    def asset(name: str) -> DomainFile:
        return DomainFile(path=str(ASSETS_DIR / name))

    roles = {"attributes": "classifier", "identity": "identity", "factors": "estimator"}
    readers = tuple(Reader(roles[n], kind_of(n), f"latentedit_toyfaces.judges:load_{n}_judge") for n in JUDGE_NAMES)
    # a factor estimator in the identity role: its identity factors (a teacher identity loss, identity_distance l1)
    readers += (Reader("identity", kind_of("factors"), "latentedit_toyfaces.identity_factors:load_identity_factors"),)
    return Domain(
        name="toyfaces",
        description="Procedural cartoon faces with known factors: the embedded default (no download needed).",
        fingerprints=(FINGERPRINT,),
        generator=asset("toyfaces_generator.safetensors"),
        encoder=asset("toyfaces_e4e.safetensors"),
        classifier=asset("judge_attributes.safetensors"),
        attribute_names=ATTRIBUTE_NAMES,
        identity=asset("judge_identity.safetensors"),
        mappers={name: asset(file) for name, file in MAPPER_ASSETS.items()},
        oracle="latentedit_toyfaces.evaluation.edit_quality:evaluate_edits",
        readers=readers,
    )
