"""``latentedit serve``: a local editing page (FastAPI + uvicorn, the optional ``serve`` extra).

    from latentedit.serve import build_state, create_app
    app = create_app(build_state())          # the default domain's models (toy-faces in a plain install), warm
    app = create_app(build_state(ModelPaths(domain="ffhq.domain.yaml")))

The models come from ``latentedit.serve.loading`` (explicit files, else the generator's domain) and are used only
through ``latentedit.serve.pipeline``, which calls ``latentedit.editing``."""

from __future__ import annotations

import torch

from latentedit.serve.config import ServeConfig
from latentedit.serve.loading import ModelPaths
from latentedit.serve.pipeline import Models
from latentedit.serve.session import ServeState


def build_state(paths: ModelPaths | None = None, config: ServeConfig | None = None,
                device: torch.device | str = "cpu", *, warm: bool = True) -> ServeState:
    """Load the models (``paths``: files and/or a domain; default: the default domain's files) and return the
    server state. The library's one-line ValueErrors (DomainError, EditingError, CheckpointError) pass through."""
    state = ServeState(Models.load(paths or ModelPaths(), torch.device(device)), config)
    if warm:
        state.warm()
    return state


def create_app(state: ServeState):
    """The FastAPI app (imports FastAPI only now: it is an optional extra)."""
    from latentedit.serve.app import create_app as _create

    return _create(state)


__all__ = ["ModelPaths", "Models", "ServeConfig", "ServeState", "build_state", "create_app"]
