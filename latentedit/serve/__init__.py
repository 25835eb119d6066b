"""``latentedit serve``: a local editing page (FastAPI + uvicorn, the optional ``serve`` extra).

    from latentedit.serve import build_state, create_app
    app = create_app(build_state())          # the shipped toy-faces models, warm

The pipeline is reached only through ``latentedit.serve.pipeline`` (one adapter module)."""

from __future__ import annotations

import torch

from latentedit.serve.config import ServeConfig
from latentedit.serve.pipeline import ModelPaths, Models
from latentedit.serve.session import ServeState


def build_state(paths: ModelPaths | None = None, config: ServeConfig | None = None,
                device: torch.device | str = "cpu", *, warm: bool = True) -> ServeState:
    """Load the models (the toy-faces defaults unless ``paths`` names others) and return the server state."""
    state = ServeState(Models.load(paths or ModelPaths(), torch.device(device)), config)
    if warm:
        state.warm()
    return state


def create_app(state: ServeState):
    """The FastAPI app (imports FastAPI only now: it is an optional extra)."""
    from latentedit.serve.app import create_app as _create

    return _create(state)


__all__ = ["ModelPaths", "Models", "ServeConfig", "ServeState", "build_state", "create_app"]
