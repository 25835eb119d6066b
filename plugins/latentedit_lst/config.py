"""``LSTConfig``: the architecture of the Linear-Style-Transfer mapper (stored in every saved ``lst`` file)."""

from __future__ import annotations

from dataclasses import dataclass, field

from latentedit.plugins import ConfigError, MapperConfig

#: StyleGAN's usual split of W+ layers (coarse: pose/shape, middle: features, fine: colour); cut at 4 and 8
GROUP_CUTS = (("coarse", 0), ("middle", 4), ("fine", 8))


@dataclass(frozen=True)
class LSTConfig(MapperConfig):
    rank: int = field(default=16, metadata={
        "doc": "r: width of the compress/uncompress bottleneck; T is r x r (r << w_dim)"})
    groups: tuple[tuple[str, tuple[int, ...]], ...] = field(default=(), metadata={
        "doc": "layer groups, e.g. [[\"mouth\", [2, 3]], [\"hair\", [6, 7]]]; empty = coarse [0, 4), middle [4, 8), "
               "fine [8, num_ws) (empty groups dropped)"})
    group_attributes: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), metadata={
        "doc": "which attributes each group carries, e.g. [[\"mouth\", [\"smile\"]]]: a target edit (NaN = keep) "
               "transfers only the groups of the attributes it sets; groups not listed carry every attribute"})
    hidden: int = field(default=64, metadata={"doc": "width of the MLPs that predict the r x r matrices"})
    keep_complement: bool = field(default=True, metadata={
        "doc": "keep the source's part of w that the bottleneck cannot carry, (I - U C) w, and transfer the "
               "reference's mean through the bottleneck (U C mu_r); false: the paper's U(T C (w - mu_s)) + mu_r"})
    uncompress_init: float = field(default=0.1, metadata={
        "doc": "U starts as this times the pseudo-inverse of C (small: the mapper starts near the identity with "
               "keep_complement; use 1 for the paper's form)"})
    encoder_channels: tuple[int, ...] = field(default=(16, 32, 64), metadata={
        "doc": "channels of the reference encoder's stride-2 stages (image -> W+, used by encode_style)"})
    encoder_input: int = field(default=64, metadata={
        "doc": "references are resized to this side before encoding (0 = as given)"})
    encoder_weight: float = field(default=1.0, metadata={
        "doc": "training: weight of the reference encoder's latent regression to the W+ that drew the image (a "
               "trainer term 'reference_encoder', queued by encode_style when the trainer passes w_plus)"})

    def __post_init__(self):
        bad = [f"{k}={v!r} (expected an int >= 1)" for k, v in (("rank", self.rank), ("hidden", self.hidden))
               if isinstance(v, bool) or not isinstance(v, int) or v < 1]
        if isinstance(self.encoder_input, bool) or not isinstance(self.encoder_input, int) or self.encoder_input < 0:
            bad.append(f"encoder_input={self.encoder_input!r} (expected an int >= 0)")
        if not self.encoder_channels or any(not isinstance(c, int) or c < 1 for c in self.encoder_channels):
            bad.append(f"encoder_channels={self.encoder_channels!r} (expected a non-empty list of ints >= 1)")
        if not self.encoder_weight >= 0.0:
            bad.append(f"encoder_weight={self.encoder_weight!r} (expected a number >= 0)")
        names = [n for n, _ in self.groups]
        if len(set(names)) != len(names):
            bad.append(f"groups names a group twice: {names}")
        if any(not layers for _, layers in self.groups):
            bad.append("every group needs at least one layer")
        unknown = [g for g, _ in self.group_attributes if self.groups and g not in names]
        if unknown:
            bad.append(f"group_attributes names groups {unknown} that are not in groups {names}")
        if bad:
            raise ConfigError("LSTConfig: " + "; ".join(bad))

    def group_table(self, num_ws: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """The layer groups for a W+ of ``num_ws`` layers, checked (layers in range, no layer in two groups)."""
        if not self.groups:
            cuts = [(n, a) for n, a in GROUP_CUTS if a < num_ws]
            ends = [a for _, a in cuts[1:]] + [num_ws]
            return tuple((n, tuple(range(a, b))) for (n, a), b in zip(cuts, ends))
        layers = [i for _, ls in self.groups for i in ls]
        bad = sorted({i for i in layers if not 0 <= i < num_ws})
        twice = sorted({i for i in layers if layers.count(i) > 1})
        if bad or twice:
            raise ConfigError(f"LSTConfig.groups: layers must be in [0, {num_ws}) and in one group each; out of "
                              f"range: {bad}, in two groups: {twice}. Fix mapper.groups")
        return tuple((n, tuple(ls)) for n, ls in self.groups)
