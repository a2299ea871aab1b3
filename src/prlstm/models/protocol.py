"""The benchmark's non-autoregressive input/output protocol (k = 0).

docs/benchmark.md#the-input-and-output-protocol describes it.

A *core* maps a one-hot sequence ``x`` of shape ``(B, S, V')`` to per-position logits
``(B, S, C)`` and is called as ``core(x, input_length=T)``. :class:`BenchmarkModel` wraps a
core: it appends ``T_out`` "empty output" tokens (id ``V``) to the ``T`` input tokens,
one-hot encodes the whole sequence with width ``V' = V + 1`` and keeps the logits at the last
``T_out`` positions, so a sequence model must emit every output after reading all its input.

The module also holds the Haiku-style initialisers that the baseline models share
(docs/benchmark.md#initialisation: truncated normal with σ = 1/√fan_in for Linear weights,
zero biases).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def trunc_normal_(tensor: Tensor, std: float) -> Tensor:
    """Fill ``tensor`` in place from N(0, std²) truncated to ±2·std (Haiku's TruncatedNormal).

    Haiku scales a unit normal truncated to [-2, 2] by ``std``; no variance correction.
    """
    with torch.no_grad():
        return nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)


def haiku_init_(linear: nn.Linear, std: float | None = None) -> nn.Linear:
    """Re-initialise ``linear`` like Haiku's ``hk.Linear``: truncated normal weights with
    σ = 1/√fan_in (or ``std``) and zero bias. Returns the module."""
    fan_in = linear.weight.shape[1]
    trunc_normal_(linear.weight, 1.0 / math.sqrt(fan_in) if std is None else std)
    if linear.bias is not None:
        with torch.no_grad():
            linear.bias.zero_()
    return linear


def haiku_linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    """An ``nn.Linear`` initialised like ``hk.Linear`` (see :func:`haiku_init_`)."""
    return haiku_init_(nn.Linear(in_features, out_features, bias=bias))


def _takes_keyword(module: nn.Module, name: str) -> bool:
    """Whether ``module.forward`` accepts keyword ``name`` (or ``**kwargs``)."""
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class BenchmarkModel(nn.Module):
    """A benchmark model: a core wrapped in the benchmark's protocol (no computation steps, k = 0).

    Args:
        core: module called as ``core(x (B, S, V + 1), input_length=T) -> (B, S, C)``, or as
            ``core(x)`` when its ``forward`` takes no ``input_length``.
        input_size: V, the task's input vocabulary (token ids ``0 … V-1``).
        output_size: C, the number of output classes.
        config: the hyperparameters the model was built with (JSON-serialisable; the registry
            stores ``model``, ``input_size``, ``output_size`` and every hparam here).

    Example::

        model = prlstm.models.build("lstm", input_size=2, output_size=2, hidden_size=32)
        logits = model(torch.randint(0, 2, (8, 5)), output_length=1)   # (8, 1, 2)
    """

    def __init__(
        self,
        core: nn.Module,
        input_size: int,
        output_size: int,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.core = core
        self.input_size = _positive_int("input_size", input_size)
        self.output_size = _positive_int("output_size", output_size)
        self.config: dict[str, Any] = dict(config or {})
        self._takes_length = _takes_keyword(core, "input_length")

    @property
    def model_name(self) -> str | None:
        """The registry name this model was built under (``config["model"]``), if any."""
        return self.config.get("model")

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, output_size={self.output_size}"

    def _reference_param(self) -> Tensor | None:
        for p in self.parameters():
            if p.is_floating_point():
                return p
        return None

    def extended_inputs(self, inputs: Tensor, output_length: int) -> Tensor:
        """The sequence the core sees: ``inputs ‖ [V] * T_out`` as one-hots of width V + 1.

        Args:
            inputs: ``(B, T)`` integer token ids in ``[0, V)``, or ``(B, T, V)`` float
                (one-hot) vectors, which are zero-padded to width V + 1.
            output_length: T_out >= 1.

        Returns:
            ``(B, T + T_out, V + 1)`` in the model's dtype, on the model's device.
        """
        T_out = _positive_int("output_length", output_length)
        V = self.input_size
        ref = self._reference_param()
        dtype = ref.dtype if ref is not None else torch.get_default_dtype()
        device = ref.device if ref is not None else inputs.device
        if not isinstance(inputs, Tensor):
            raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
        if inputs.dim() == 3 and inputs.is_floating_point():
            if inputs.shape[-1] != V:
                raise ValueError(f"one-hot inputs must have width input_size={V}, got shape "
                                 f"{tuple(inputs.shape)}")
            B, T = inputs.shape[:2]
            x = F.pad(inputs.to(device=device, dtype=dtype), (0, 1))  # (B, T, V+1)
            empty = torch.zeros(B, T_out, V + 1, dtype=dtype, device=device)
            empty[..., V] = 1
            seq = torch.cat([x, empty], dim=1)  # (B, T+T_out, V+1)
        elif inputs.dim() == 2 and not inputs.is_floating_point() and not inputs.is_complex():
            if inputs.dtype == torch.bool:
                raise TypeError("inputs must hold integer token ids, got dtype torch.bool")
            B, T = inputs.shape
            # Range check on CPU tensors only: on an accelerator it would force a sync every
            # step (there, one_hot itself rejects out-of-range ids).
            if (inputs.device.type == "cpu" and inputs.numel()
                    and (int(inputs.min()) < 0 or int(inputs.max()) >= V)):
                raise ValueError(f"token ids must lie in [0, {V}) (input_size={V}), got values "
                                 f"in [{int(inputs.min())}, {int(inputs.max())}]")
            ids = inputs.to(device=device, dtype=torch.long)
            empty_ids = torch.full((B, T_out), V, dtype=torch.long, device=device)
            seq = F.one_hot(torch.cat([ids, empty_ids], dim=1), V + 1).to(dtype)
        else:
            raise ValueError(f"inputs must be (B, T) integer token ids or (B, T, {V}) float "
                             f"one-hots, got shape {tuple(inputs.shape)} dtype {inputs.dtype}")
        if B == 0 or T == 0:
            raise ValueError(f"inputs must have B >= 1 and T >= 1, got shape "
                             f"{tuple(inputs.shape)}")
        return seq

    def forward(self, inputs: Tensor, output_length: int) -> Tensor:
        """Run the protocol.

        Args:
            inputs: ``(B, T)`` token ids in ``[0, V)`` (or ``(B, T, V)`` float one-hots).
            output_length: T_out, the number of outputs to read (1 for classification tasks).

        Returns:
            logits ``(B, T_out, C)``: the core's outputs at the last T_out positions, aligned
            with the appended empty tokens. Single-output tasks get ``(B, 1, C)``; squeezing
            the time axis is left to the caller.
        """
        seq = self.extended_inputs(inputs, output_length)  # (B, T + T_out, V+1)
        T = seq.shape[1] - output_length
        last = getattr(self.core, "last_logits", None)
        if last is not None:  # cores that can skip work for positions nobody reads
            return last(seq, output_length)  # (B, T_out, C)
        if self._takes_length:
            logits = self.core(seq, input_length=T)  # (B, T + T_out, C)
        else:  # a plain sequence module (e.g. a user's core): core(x) -> (B, S, C)
            logits = self.core(seq)
        return logits[:, -output_length:]
