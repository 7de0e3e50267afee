"""The original lm-eqtl's DSS cost profile, rebuilt around lmeqtl's parameters, to time against.

The original regenerates every state-space kernel on every call, by ``H*N*L`` complex
exponentials per layer (:func:`direct_kernel`), and convolves by autograd FFTs of length 2L
with the skip term ``D u`` added separately (:func:`original_convolve`). The library keeps
only its fast path (:mod:`lmeqtl.mlm.dss`); :func:`use_original_path` switches a model's DSS
layers to this one and back, so ``bench_model`` and ``bench_embed`` time both on the same
weights. Both agree to float rounding (``tests/test_model.py``).
"""

from __future__ import annotations

import types

import torch

from lmeqtl.mlm.dss import DSSKernel, DSSLayer
from lmeqtl.mlm.model import HaplotypeMLM


def direct_kernel(kernel: DSSKernel, length: int) -> torch.Tensor:
    """The kernels ``(C, H, L)`` the original's way: ``H*N*L`` complex exponentials."""
    dt_lam, w, offset = kernel._modes(length)  # (H, N), (C, H, N), (H, N)
    powers = (dt_lam[..., None] * torch.arange(length, device=w.device) - offset[..., None]).exp()  # (H, N, L)
    return torch.einsum("chn,hnl->chl", w, powers).real  # (C, H, L)


def original_convolve(layer: DSSLayer, u: torch.Tensor) -> torch.Tensor:
    """``K * u + D u`` for ``u (B, L, H)``: kernels and autograd FFTs every call, FFT length 2L."""
    length = u.shape[1]
    with torch.autocast(layer.kernel.W.device.type, enabled=False):  # kernels in float32
        k = direct_kernel(layer.kernel, length)  # (2, H, L)
        two_sided = torch.cat([k[0], k[1].flip(-1)], dim=-1)  # (H, 2L): lags 0..L-1, then -L..-1
    spec = torch.fft.rfft(two_sided, n=2 * length)  # (H, F)
    y = torch.fft.irfft(torch.fft.rfft(u, n=2 * length, dim=1) * spec.t(), n=2 * length, dim=1)
    return y[:, :length] + u * layer.D


def use_original_path(model: HaplotypeMLM, original: bool = True) -> HaplotypeMLM:
    """Run every DSS layer of ``model`` the original's way (``original=False``: the library's again)."""
    for layer in model.layers:
        if original:
            layer.convolve = types.MethodType(original_convolve, layer)
        else:
            layer.__dict__.pop("convolve", None)
        layer._cache = None
    return model
