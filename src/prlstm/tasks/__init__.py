"""The 15 formal-language tasks of the length-generalisation benchmark.

Defined in docs/benchmark.md#the-15-tasks.

>>> from prlstm import tasks
>>> task = tasks.get("parity_check")
>>> batch = task.sample_batch(4, 10, seed=0)
>>> batch.inputs.shape, batch.targets.shape, batch.mask.shape
(torch.Size([4, 10]), torch.Size([4, 1]), torch.Size([4, 1]))
"""

from prlstm.tasks.base import LEVELS, Batch, Task
from prlstm.tasks.registry import get, names, option_names

__all__ = ["LEVELS", "Batch", "Task", "get", "names", "option_names"]
