"""The ``auto_map`` files that let a process that never imported ``prlstm.hf`` load a checkpoint.

``save_pretrained`` writes ``auto_map`` into ``config.json`` and two tiny Python files next to
it. They contain no model code: each one imports the class from the *installed* ``prlstm``
package, so ``AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)`` runs the
same code as ``import prlstm.hf`` would, and a checkpoint never carries a stale copy of it.

A loaded ``auto_map`` must name exactly these files and classes (on the Hub transformers adds a
``"<repo>--"`` prefix, which is accepted): :class:`~prlstm.hf.PRLSTMConfig` refuses any other
target rather than re-saving a pointer to code that is not prlstm's.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_FILE = "configuration_prlstm.py"
MODELING_FILE = "modeling_prlstm.py"
AUTO_MAP: dict[str, str] = {
    "AutoConfig": "configuration_prlstm.PRLSTMConfig",
    "AutoModelForCausalLM": "modeling_prlstm.PRLSTMForCausalLM",
}

_TEMPLATE = '''"""Written by prlstm's save_pretrained: {name} from the installed prlstm package.

This file holds no model code. Loading this directory with trust_remote_code=True needs
prlstm installed with its hf extra (pip install "prlstm[hf]"); a process that ran
`import prlstm.hf` first needs no trust_remote_code at all.
"""

try:
    from prlstm.hf import {name}
except ModuleNotFoundError as err:
    if err.name is None or err.name.split(".")[0] != "prlstm":
        raise
    raise ImportError(
        "this checkpoint is a PR-LSTM model: it needs the prlstm package with its hf extra "
        "(pip install 'prlstm[hf]' from the PR-LSTM project), which is not installed"
    ) from err

__all__ = ["{name}"]
'''


def remote_code_files() -> dict[str, str]:
    """File name -> source of the files ``save_pretrained`` writes next to ``config.json``."""
    return {CONFIG_FILE: _TEMPLATE.format(name="PRLSTMConfig"),
            MODELING_FILE: _TEMPLATE.format(name="PRLSTMForCausalLM")}


def write_remote_code(directory: str | os.PathLike) -> list[Path]:
    """Write :func:`remote_code_files` into ``directory`` (created if missing)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    written = []
    for name, source in remote_code_files().items():
        target = path / name
        if not target.is_file() or target.read_text(encoding="utf-8") != source:
            target.write_text(source, encoding="utf-8")
        written.append(target)
    return written


def check_auto_map(auto_map: object) -> None:
    """Accept ``auto_map`` only when every entry is one of prlstm's own (see module docs)."""
    if auto_map is None:
        return
    if not isinstance(auto_map, dict):
        raise ValueError(f"auto_map must be a dict, got {type(auto_map).__name__}")
    foreign = {}
    for key, value in auto_map.items():
        target = value.rsplit("--", 1)[-1] if isinstance(value, str) else value
        if AUTO_MAP.get(key) != target:
            foreign[key] = value
    if foreign:
        raise ValueError(f"PRLSTMConfig refuses an auto_map that points at code other than "
                         f"prlstm's own: {foreign}; prlstm checkpoints use {AUTO_MAP}. Remove "
                         f"the foreign entries from config.json")
