"""Hugging Face ``transformers`` integration: a PR-LSTM causal language model.

Importing this module registers :class:`PRLSTMConfig` (``model_type="prlstm"``) and
:class:`PRLSTMForCausalLM` with ``AutoConfig`` / ``AutoModelForCausalLM``. The causal LM is
the package's one LM backbone, :class:`PRLSTMModel` (plain PyTorch, :mod:`prlstm.lm.backbone`,
shared with the LM demo), plus an LM head and the loss. Install with the ``hf`` extra (Python
>= 3.11): ``pip install -e ".[hf]"``. ``import prlstm`` never imports transformers; only this
module does. ``save_pretrained`` also writes an ``auto_map`` and two
tiny files that import these classes from the installed package, so a process that never
imported ``prlstm.hf`` loads a checkpoint with ``trust_remote_code=True``
(:mod:`prlstm.hf.remote_code`).

``generate()`` uses every layer's exact stream state as its cache (:class:`PRLSTMCache`): the
prompt (``input_ids`` or ``inputs_embeds``) is prefilled in one parallel call, then one
``step`` per token. Left-padded batches with an ``attention_mask`` are exact: each row's tokens
start its own tree (a ragged stream), so every row gets the numbers it would get alone.
Decoding modes the stream state cannot serve (assisted decoding, KV-cache options, ...) are
refused by :meth:`PRLSTMForCausalLM.generate` itself; ``docs/hf.md`` lists them.
"""

from __future__ import annotations

SUPPORTED = (">=5.24", "<=5.25.0")  # the range the suite passed with (docs/dependencies.md)


def _check_version() -> None:
    try:
        import transformers
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("prlstm.hf needs transformers>=5.24,<=5.25.0: pip install "
                          "'prlstm[hf]' (Python >= 3.11)") from err
    from packaging.version import Version

    v = Version(transformers.__version__)
    if not Version("5.24") <= v < Version("6"):
        raise ImportError(f"prlstm.hf needs transformers>=5.24,<6 (the generation cache is "
                          f"named `cache` from 5.24 on), found {transformers.__version__}; "
                          f"install a tested version: pip install 'transformers>=5.24,<=5.25.0'")
    if v > Version("5.25.0"):
        import warnings

        warnings.warn(f"prlstm.hf was tested with transformers 5.24.0 to 5.25.0, found "
                      f"{transformers.__version__}; if something fails, install a tested "
                      f"version: pip install 'transformers>=5.24,<=5.25.0'", stacklevel=2)


_check_version()

from prlstm.hf.cache import PRLSTMCache  # noqa: E402
from prlstm.hf.config import PRLSTMConfig  # noqa: E402
from prlstm.hf.modeling import PRLSTMForCausalLM, PRLSTMPreTrainedModel  # noqa: E402
from prlstm.lm.backbone import PRLSTMModel, PRLSTMModelOutput  # noqa: E402


def _register() -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    AutoConfig.register(PRLSTMConfig.model_type, PRLSTMConfig, exist_ok=True)
    AutoModelForCausalLM.register(PRLSTMConfig, PRLSTMForCausalLM, exist_ok=True)


_register()

__all__ = ["PRLSTMCache", "PRLSTMConfig", "PRLSTMForCausalLM", "PRLSTMModel", "PRLSTMModelOutput",
           "PRLSTMPreTrainedModel"]
