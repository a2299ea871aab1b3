"""Models from outside prlstm: registered in Python, installed as entry points, or imported.

A *factory* is a callable ``factory(input_size, output_size, **hparams) -> nn.Module``:

- ``input_size`` is the width of the one-hot vectors the core reads (the task's vocabulary
  plus one "empty output" token), ``output_size`` the number of classes C;
- it returns a *core*, called as ``core(x (B, S, input_size), input_length=T) -> (B, S, C)``,
  which the benchmark wraps in its input/output protocol, or a complete
  :class:`~prlstm.models.protocol.BenchmarkModel`.

Three ways in, looked up in this order after the built-in names:

1. ``prlstm.models.register("my_rnn", build, {"hidden_size": 64})`` in this process;
2. an entry point in the group ``prlstm.models`` of an installed distribution
   (``[project.entry-points."prlstm.models"] my_rnn = "my_pkg.models:build"``): its name is the
   model name, its target a factory or a :class:`ModelSpec`;
3. an import path ``"my_pkg.models:build"`` used directly as the model name. The module must
   be importable (installed, or on ``PYTHONPATH``): the ``prlstm`` command does not import
   from the current directory, so a run directory from elsewhere cannot make it run a module
   that came with it. For a ``my_models.py`` beside you, ``PYTHONPATH=. prlstm …``.

A factory's default hyper-parameters are its keyword parameters with defaults (after the two
sizes), unless ``hparams`` are given to :func:`register` or a :class:`ModelSpec` carries them.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from torch import nn

from prlstm.naming import IMPORT_PATH_RE, NAME_RE

ENTRY_POINT_GROUP = "prlstm.models"


@dataclass(frozen=True)
class ModelSpec:
    """A model the benchmark can build by name.

    Args:
        factory: ``factory(input_size, output_size, **hparams) -> nn.Module`` (see module doc).
        hparams: default hyper-parameters; ``None`` reads them from the factory's signature.
        description: one line for ``prlstm models``.
        source: where the model comes from (paper, package and version).
    """

    factory: Callable[..., nn.Module]
    hparams: dict[str, Any] | None = None
    description: str = ""
    source: str = ""
    name: str = field(default="", compare=False)

    def defaults(self) -> dict[str, Any]:
        """The default hyper-parameters (JSON values)."""
        if self.hparams is not None:
            return dict(self.hparams)
        return signature_defaults(self.factory)

    def open_ended(self) -> bool:
        """Whether the factory takes ``**kwargs`` (then any option is passed through)."""
        try:
            params = inspect.signature(self.factory).parameters.values()
        except (TypeError, ValueError):
            return True
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


_REGISTERED: dict[str, ModelSpec] = {}


def signature_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """Keyword parameters with defaults after the first two (the sizes)."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return {}
    out: dict[str, Any] = {}
    for p in params[2:]:
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty:
            out[p.name] = list(p.default) if isinstance(p.default, tuple) else p.default
    return out


def _check_json(name: str, hparams: dict[str, Any]) -> None:
    try:
        json.dumps(hparams, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"model {name!r}: hyper-parameters must be JSON values "
                         f"(numbers, strings, booleans, lists, null), got {hparams!r}") from err


def register(name: str, factory: Callable[..., nn.Module] | ModelSpec,
             hparams: dict[str, Any] | None = None, *, description: str = "",
             source: str = "", replace: bool = False) -> ModelSpec:
    """Make ``name`` buildable by the benchmark (``prlstm.models.build``, ``prlstm train``,
    sweeps, reports) in this process and in the sweep's worker processes.

    Args:
        name: letters, digits, ``_``, ``-`` and ``.``, starting with a letter; not a
            built-in model name.
        factory: see the module doc; or a :class:`ModelSpec`.
        hparams: default hyper-parameters (JSON values); ``None`` reads the factory's
            keyword defaults.
        description: one line shown by ``prlstm models``.
        source: where the model comes from, shown by ``prlstm models``.
        replace: allow re-registering ``name``.

    Returns:
        the registered :class:`ModelSpec`.
    """
    from prlstm.models import HPARAMS

    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValueError(f"name must start with a letter and hold only letters, digits, '_', "
                         f"'-' and '.', got {name!r}")
    if name in HPARAMS:
        raise ValueError(f"name {name!r} is a built-in model; choose another name")
    if name in _REGISTERED and not replace:
        raise ValueError(f"model {name!r} is already registered; pass replace=True")
    spec = factory if isinstance(factory, ModelSpec) else ModelSpec(
        factory, None if hparams is None else dict(hparams), description, source)
    if not callable(spec.factory):
        raise TypeError(f"factory for model {name!r} must be callable, got "
                        f"{type(spec.factory).__name__}")
    _check_json(name, spec.defaults())
    spec = ModelSpec(spec.factory, spec.hparams, spec.description, spec.source, name)
    _REGISTERED[name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a model registered with :func:`register` (no error if absent)."""
    _REGISTERED.pop(name, None)


def registered() -> dict[str, ModelSpec]:
    """The models registered in this process (for shipping to worker processes)."""
    return dict(_REGISTERED)


def _as_spec(name: str, target: Any, origin: str) -> ModelSpec:
    if isinstance(target, ModelSpec):
        return ModelSpec(target.factory, target.hparams, target.description,
                         target.source or origin, name)
    if not callable(target):
        raise ValueError(f"model {name!r}: {origin} is a {type(target).__name__}, expected a "
                         f"factory (callable) or a prlstm.models.ModelSpec")
    doc = (inspect.getdoc(target) or "").strip().splitlines()
    return ModelSpec(target, None, doc[0] if doc else "", origin, name)


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def entry_point_names() -> list[str]:
    """Names of the models installed through the ``prlstm.models`` entry-point group."""
    return sorted(n for n in _entry_points() if NAME_RE.fullmatch(n))


def _from_entry_point(name: str) -> ModelSpec:
    ep = _entry_points()[name]
    dist = getattr(ep, "dist", None)
    origin = f"entry point {ep.value}"
    if dist is not None:
        origin += f" ({dist.name} {dist.version})"
    try:
        target = ep.load()
    except Exception as err:  # a broken plugin must not take the benchmark down
        raise ValueError(f"model {name!r}: cannot load {origin}: {err}") from err
    return _as_spec(name, target, origin)


def _cwd_hint(module_name: str) -> str:
    """A hint where the module's top-level package lies in the current directory, which the
    ``prlstm`` command does not import from (see the module doc)."""
    top = module_name.partition(".")[0]
    if not (Path(f"{top}.py").is_file() or Path(top, "__init__.py").is_file()):
        return ""
    return (f"; {top!r} is in the current directory, which the prlstm command does not "
            f"import from: run it as PYTHONPATH=. prlstm …")


def _from_import_path(path: str) -> ModelSpec:
    module_name, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"model {path!r}: cannot import module {module_name!r} ({err}); "
                         f"expected an importable 'package.module:factory'"
                         f"{_cwd_hint(module_name)}") from err
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"model {path!r}: module {module_name!r} has no attribute "
                             f"{attr!r}") from None
    return _as_spec(path, obj, f"import path {path}")


def lookup(name: str) -> ModelSpec | None:
    """The :class:`ModelSpec` of a non-built-in model name, or ``None`` if there is none."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if NAME_RE.fullmatch(name) and name in _entry_points():
        return _from_entry_point(name)
    if IMPORT_PATH_RE.fullmatch(name):
        return _from_import_path(name)
    return None


# ----------------------------------------------------------------------------- building
def resolve_hparams(spec: ModelSpec, name: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """The spec's defaults overlaid with ``hparams`` (``None`` = default); unknown options
    are refused unless the factory takes ``**kwargs``."""
    defaults = spec.defaults()
    unknown = sorted(set(hparams) - set(defaults))
    if unknown and not spec.open_ended():
        raise ValueError(f"model {name!r} does not take option(s) "
                         f"{', '.join(map(repr, unknown))}; its options are: "
                         f"{', '.join(defaults) or '(none)'}")
    resolved = {**defaults, **{k: v for k, v in hparams.items() if v is not None}}
    _check_json(name, resolved)
    return resolved


def build_plugin(spec: ModelSpec, name: str, input_size: int, output_size: int,
                 hparams: dict[str, Any]) -> Any:
    """Call a plugin's factory and check what it returns: a working core (wrapped in the
    protocol here) or a :class:`BenchmarkModel` of the right sizes.

    A short probe forward (2 sequences of 3 tokens, no gradients, the global RNG untouched)
    checks the output's type, shape and finiteness, so a broken model fails here with its
    name rather than deep inside training.
    """
    import torch

    from prlstm.models.protocol import BenchmarkModel

    hp = resolve_hparams(spec, name, hparams)
    V1, C = input_size + 1, output_size
    try:
        made = spec.factory(V1, C, **hp)
    except (TypeError, ValueError) as err:
        raise ValueError(f"model {name!r}: factory({V1}, {C}, **{hp}) failed: {err}") from err
    config = {"model": name, "input_size": input_size, "output_size": output_size, **hp}
    if isinstance(made, BenchmarkModel):
        if (made.input_size, made.output_size) != (input_size, output_size):
            raise ValueError(f"model {name!r}: factory returned a BenchmarkModel for "
                             f"input_size={made.input_size}, output_size={made.output_size}; "
                             f"expected {input_size}, {output_size}")
        made.config = {**made.config, **config}
        model = made
    elif isinstance(made, nn.Module):
        model = BenchmarkModel(made, input_size, output_size, config)
    else:
        raise ValueError(f"model {name!r}: factory returned {type(made).__name__}; expected "
                         f"a torch.nn.Module core or a prlstm.models.BenchmarkModel")
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        was_training = model.training
        model.eval()
        ids = torch.arange(6).reshape(2, 3) % input_size
        try:
            out = model(ids, output_length=2)
        except Exception as err:  # the user's code: report it with the model's name
            raise ValueError(f"model {name!r}: a probe forward on 2 x 3 tokens failed: "
                             f"{type(err).__name__}: {err}") from err
        model.train(was_training)
    _check_probe(name, out, (2, 2, C))
    return model


def _check_probe(name: str, out: Any, want: tuple[int, int, int]) -> None:
    import torch

    if not isinstance(out, torch.Tensor):
        raise ValueError(f"model {name!r}: the core returned {type(out).__name__}; expected "
                         f"a tensor of logits (B, S, {want[2]})")
    if tuple(out.shape) != want:
        raise ValueError(f"model {name!r}: on 2 x 3 input tokens + 2 output positions the "
                         f"model returned shape {tuple(out.shape)}; expected {want} (the "
                         f"core must map (B, S, input_size) to (B, S, output_size))")
    if not out.is_floating_point() or not bool(torch.isfinite(out).all()):
        raise ValueError(f"model {name!r}: the probe forward returned non-finite or "
                         f"non-float logits (dtype {out.dtype})")
