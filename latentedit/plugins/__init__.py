"""latentedit's plugin system: the mapper contract and entry-point discovery.

- ``latentedit.plugins.contract``: ``Mapper`` (the base class and the documented contract, like a hook spec),
  ``MapperHooks`` (every optional hook, documented) and ``optional_hook`` (how the core reaches them).
- ``latentedit.plugins.encoder``: ``Encoder`` (the image -> W+ base class and contract) and ``EncoderHooks``.
- ``latentedit.plugins.targets``: ``keep_unchanged`` (target conditioning shared by mappers; no trainer import).
- ``latentedit.plugins.config``: ``MapperConfig`` (frozen dataclass base) and ``GeneratorInfo``.
- ``latentedit.plugins.registry``: discovery without import, loading on demand, ``PluginLoadError``, allow-list and
  ``LATENTEDIT_DISABLE_PLUGIN_AUTOLOAD``, ``register_mapper`` for tests and notebooks.
- ``latentedit.plugins.scaffold``: what ``latentedit new-plugin`` writes.

Writing a plugin::

    from dataclasses import dataclass, field
    from latentedit.plugins import Mapper, MapperConfig

    @dataclass(frozen=True)
    class ShiftConfig(MapperConfig):
        scale: float = field(default=1.0, metadata={"doc": "step size along the learned direction"})

    class ShiftMapper(Mapper):
        config_class = ShiftConfig

        def __init__(self, config, generator_info):
            super().__init__(config, generator_info)
            self.dirs = torch.nn.Parameter(torch.zeros(generator_info.n_attr, generator_info.w_dim))

        @classmethod
        def default_loss_weights(cls):
            return {"attribute": 1.0, "latent_l2": 0.8}

        def forward(self, w_plus, *, target):       # (B, num_ws, w_dim), (B, n_attr)
            return w_plus + self.config.scale * (target @ self.dirs)[:, None, :]

and in the plugin's pyproject::

    [project.entry-points."latentedit.mappers"]
    shift = "my_package.mapper:ShiftMapper"
"""

from latentedit.plugins.config import ConfigError, FieldInfo, GeneratorInfo, MapperConfig
from latentedit.plugins.contract import CONTRACT_KEYWORDS, KINDS, Mapper, MapperContractError, optional_hook
from latentedit.plugins.registry import (
    ENV_ALLOW,
    ENV_DISABLE,
    GROUPS,
    PluginError,
    PluginLoadError,
    PluginSpec,
    UnknownPluginError,
    allow_list,
    autoload_disabled,
    build_mapper,
    clear_cache,
    discover,
    hidden_plugins,
    load_encoder,
    load_mapper,
    load_mapper_file,
    load_plugin,
    load_spec,
    register,
    register_encoder,
    register_mapper,
    registered_mapper,
    unregister,
)

__all__ = [
    "CONTRACT_KEYWORDS", "ConfigError", "ENV_ALLOW", "ENV_DISABLE", "FieldInfo", "GROUPS", "GeneratorInfo", "KINDS",
    "Mapper", "MapperConfig", "MapperContractError", "PluginError", "PluginLoadError", "PluginSpec",
    "UnknownPluginError", "allow_list", "autoload_disabled", "build_mapper", "clear_cache", "discover",
    "hidden_plugins",
    "load_encoder", "load_mapper", "load_mapper_file", "load_plugin", "load_spec", "optional_hook", "register",
    "register_encoder",
    "register_mapper", "registered_mapper", "unregister",
]
