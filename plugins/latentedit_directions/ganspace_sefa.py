"""Unsupervised directions: GANSpace (PCA of W) and SeFa (closed form from the modulation weights)."""

from __future__ import annotations

import torch


def ganspace_components(w: torch.Tensor, n_components: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """PCA of W codes w (N, w_dim) -> the community layout ``{mean (1, D), comp (K, 1, D), std (K,)}``."""
    from sklearn.decomposition import PCA

    if w.ndim != 2:
        raise ValueError(f"GANSpace needs W codes (N, w_dim); got {tuple(w.shape)}")
    k = min(n_components, w.shape[0], w.shape[1])
    pca = PCA(n_components=k, random_state=seed).fit(w.double().numpy())
    comp = torch.from_numpy(pca.components_).float()                 # (K, D), unit rows
    return {"mean": torch.from_numpy(pca.mean_).float().unsqueeze(0), "comp": comp.unsqueeze(1),
            "std": torch.from_numpy(pca.explained_variance_ ** 0.5).float()}


def ganspace_edit(w_plus: torch.Tensor, pca: dict[str, torch.Tensor], index: int, start: int, end: int,
                  strength: float) -> torch.Tensor:
    """e4e/GANSpace semantics: on layers [start, end) *set* component ``index``'s coordinate to strength·σ.

    w_plus: (B, num_ws, D) -> same shape.
    """
    comp = pca["comp"][index].reshape(-1)
    out = w_plus.clone()
    centered = out[:, start:end] - pca["mean"].reshape(1, 1, -1)
    coord = centered @ comp                                          # (B, L)
    out[:, start:end] += (strength * pca["std"][index] - coord).unsqueeze(-1) * comp
    return out


def sefa_directions(G, layers: str | list[int] = "all") -> tuple[torch.Tensor, torch.Tensor]:
    """SeFa: eigenvectors of A^T A where A stacks the (row-normalised) style-affine weights of the chosen
    synthesis layers. Returns (directions (K, w_dim) sorted by eigenvalue, eigenvalues (K,))."""
    affines = []
    for block in G.synthesis.blocks:
        for name in ("conv0", "conv1", "torgb"):
            if hasattr(block, name):
                affines.append(getattr(block, name).affine.weight.detach())   # (C_in, w_dim)
    chosen = range(len(affines)) if layers == "all" else layers
    try:
        a = torch.cat([affines[i] for i in chosen]).double()
    except IndexError:
        raise ValueError(f"SeFa layers must be indices below {len(affines)}; got {layers}") from None
    a = a / a.norm(dim=1, keepdim=True)
    vals, vecs = torch.linalg.eigh(a.T @ a)
    order = torch.argsort(vals, descending=True)
    return vecs[:, order].T.float(), vals[order].float()
