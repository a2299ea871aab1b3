"""prlstm: the Parallel Recursive LSTM for PyTorch, and a length-generalisation benchmark."""

from prlstm.interop import from_reference_weights
from prlstm.layer import PRLSTM, PRState, StreamState

__version__ = "0.1.0"

__all__ = ["PRLSTM", "PRState", "StreamState", "from_reference_weights", "__version__"]
