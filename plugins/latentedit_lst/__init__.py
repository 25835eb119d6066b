"""latentedit's ``lst`` mapper plugin: reference-guided editing by Linear Style Transfer (Li et al. 2019) on W+
layer groups, built only through the public plugin contract. See README.md."""

from latentedit_lst.config import LSTConfig
from latentedit_lst.mapper import LST_LOSS_WEIGHTS, LSTMapper

__all__ = ["LST_LOSS_WEIGHTS", "LSTConfig", "LSTMapper"]
