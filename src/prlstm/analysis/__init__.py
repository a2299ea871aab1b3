"""What the merge cell and the tree contribute: CKA, automaton-state labels, prefix states,
linear probes, and ``analyze`` / ``write_analysis`` over saved runs (``prlstm analyze``).

Definitions: docs/experiments.md#e3-what-the-merge-cell-and-the-tree-contribute.

Not imported by ``import prlstm``; scikit-learn (the ``analysis`` extra) is imported only when
a probe is fit, matplotlib only when plots are written.
"""

from prlstm.analysis.cka import hsic1, linear_cka, linear_hsic1, minibatch_cka
from prlstm.analysis.labels import LABEL_CLASSES, answer, automaton_labels
from prlstm.analysis.probe import BUCKETS, probe_accuracy
from prlstm.analysis.states import EvalSequences, eval_sequences, load_run_model, prefix_states

__all__ = ["BUCKETS", "LABEL_CLASSES", "EvalSequences", "answer", "automaton_labels",
           "eval_sequences", "hsic1", "linear_cka", "linear_hsic1", "load_run_model",
           "minibatch_cka", "prefix_states", "probe_accuracy"]
