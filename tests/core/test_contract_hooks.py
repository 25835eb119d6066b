"""Every hook the core calls on a mapper or encoder plugin is documented in the contract modules
(``latentedit.plugins.contract`` / ``latentedit.plugins.encoder``).

The scan (ast over ``latentedit/``) collects: the names passed to ``optional_hook(obj, "name")``; names given to
``getattr``/``hasattr`` on mapper/encoder variables; and attributes read on mapper/encoder variables
(``mapper.x``, ``self.mapper.x``, ``encoder.x``, ``encoder_cls.x`` ...). Documented = the contract classes'
attributes (``Mapper`` / ``Encoder``, nn.Module included) plus the optional hook specs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

from latentedit.plugins import contract, encoder

CORE = Path(__file__).resolve().parents[2] / "latentedit"
MAPPER_VAR = re.compile(r"^(mapper|\w+_mapper|mapper_cls)$")
ENCODER_VAR = re.compile(r"^(encoder|enc|\w+_encoder|encoder_cls)$")


def _owner(node: ast.AST) -> str | None:
    """'mapper' / 'encoder' when ``node`` names a mapper or encoder (``mapper``, ``self.mapper``, ``enc`` ...)."""
    name = node.id if isinstance(node, ast.Name) else node.attr if (
        isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self") else None
    if name is None:
        return None
    return "mapper" if MAPPER_VAR.match(name) else "encoder" if ENCODER_VAR.match(name) else None


def scan(source: str, where: str = "<source>") -> list[tuple[str, str, str]]:
    """(kind 'mapper'|'encoder'|'hook', name, location) for every hook use found in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
            fname = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            literal = (len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                       and isinstance(node.args[1].value, str))
            if fname == "optional_hook" and literal:
                found.append(("hook", node.args[1].value, f"{where}:{node.lineno}"))
            elif fname in ("getattr", "hasattr") and literal and _owner(node.args[0]):
                found.append((_owner(node.args[0]), node.args[1].value, f"{where}:{node.lineno}"))
        elif isinstance(node, ast.Attribute) and _owner(node.value):
            found.append((_owner(node.value), node.attr, f"{where}:{node.lineno}"))
    return found


def documented() -> dict[str, set[str]]:
    mapper = set(dir(contract.Mapper)) | contract.OPTIONAL_MAPPER_HOOKS | {"plugin_name", "config", "generator_info"}
    enc = set(dir(encoder.Encoder)) | encoder.OPTIONAL_ENCODER_HOOKS | {"generator", "generator_fingerprint",
                                                                         "training_config", "load", "save"}
    return {"mapper": mapper, "encoder": enc, "hook": contract.OPTIONAL_MAPPER_HOOKS | encoder.OPTIONAL_ENCODER_HOOKS}


#: variables named like a mapper that hold something else: RunConfig.mapper is the mapper's *config*; the mapper
#: ``directions import`` gets is the one the directions plugin's community importer built, which records where the
#: directions came from (``source_info``): an attribute of that importer's result, not a hook every mapper has
NOT_PLUGINS = {("latentedit/training/config.py", "to_dict"), ("latentedit/cli/directions_cmd.py", "source_info")}


def core_uses() -> list[tuple[str, str, str]]:
    uses = [u for path in sorted(CORE.rglob("*.py"))
            for u in scan(path.read_text(), str(path.relative_to(CORE.parent)))]
    return [u for u in uses if (u[2].rsplit(":", 1)[0], u[1]) not in NOT_PLUGINS]


def test_every_hook_the_core_calls_is_documented():
    docs = documented()
    undocumented = sorted({f"{kind} hook {name!r} at {where}" for kind, name, where in core_uses()
                           if name not in docs[kind]})
    assert not undocumented, "document these in latentedit/plugins/contract.py or encoder.py:\n" + "\n".join(
        undocumented)


def test_the_scan_sees_the_hooks_the_core_is_known_to_call():
    hooks = {name for kind, name, _ in core_uses() if kind == "hook"}
    expected = {"encode_style", "sample_style", "sample_noise", "style_mask", "style_columns", "group_slices",
                "condition_target", "lr_multipliers", "pop_style_terms", "default_trainer_config", "edit_steps",
                "refine", "make_training_config", "run_training"}
    assert expected <= hooks, expected - hooks
    direct = {(kind, name) for kind, name, _ in core_uses() if kind != "hook"}
    assert ("mapper", "generator_info") in direct and ("encoder", "invert") in direct


def test_the_scan_flags_an_undocumented_hook():
    src = ("def f(mapper, enc, self):\n"
           "    optional_hook(mapper, 'secret_sauce')\n"
           "    mapper.warp_speed(1)\n"
           "    self.mapper.encode_style(2)\n"
           "    getattr(enc, 'teleport', None)\n"
           "    other.anything\n")
    docs = documented()
    bad = {(k, n) for k, n, _ in scan(src) if n not in docs[k]}
    assert bad == {("hook", "secret_sauce"), ("mapper", "warp_speed"), ("encoder", "teleport")}


def test_every_documented_hook_has_a_docstring_and_optional_hook_refuses_undocumented_names():
    for spec in (contract.MapperHooks, encoder.EncoderHooks):
        for name in (n for n in vars(spec) if not n.startswith("_")):
            fn = getattr(spec, name)
            assert (fn.__doc__ or "").strip(), f"{spec.__name__}.{name} has no docstring"

    class WithHook:
        def edit_steps(self, w_plus, steps):
            return w_plus

    assert contract.optional_hook(WithHook(), "edit_steps") is not None
    assert contract.optional_hook(object(), "edit_steps") is None
    with pytest.raises(contract.MapperContractError, match="not a documented hook"):
        contract.optional_hook(WithHook(), "edit_stepz")
    assert torch.equal(contract.optional_hook(WithHook(), "edit_steps")(torch.ones(1), {}), torch.ones(1))
