"""Suite-wide settings: hypothesis profiles for the property and fuzz tests.

``HYPOTHESIS_PROFILE`` selects one (default ``ci``):

* ``ci``: derandomised (the same examples on every run and machine, no example database),
  the per-test example counts written in the tests, no deadline (the CPU is shared);
* ``dev``: random examples, 10x the counts, failures saved to ``.hypothesis/``;
* ``thorough``: random examples, 100x the counts.

Tests take their count from :func:`tests.properties.strategies.examples`, which scales the
number written in the test by the loaded profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
# max_examples is the scale factor x100 (see strategies.examples): ci 1x, dev 10x, thorough 100x.
settings.register_profile("ci", derandomize=True, database=None, max_examples=100, **_COMMON)
settings.register_profile("dev", max_examples=1_000, **_COMMON)
settings.register_profile("thorough", max_examples=10_000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The suite runs with prlstm's CPU pin off (docs/reproducibility.md): the pin costs speed, the
# test process could not be pinned after its first tensor operation anyway, and workers and
# subprocesses inherit this, so every process of a test computes alike. The pin itself is
# tested in subprocesses with a clean environment (tests/experiments/run/test_cpu_env.py).
os.environ.setdefault("PRLSTM_CPU_PIN", "0")

# ``PRLSTM_HIDE_EXTRAS=transformers,ray,...`` makes those packages unimportable in the test
# process (not in the subprocesses tests start), as if the optional extras were not installed:
# every test that needs one must then skip with a reason (tests/test_extras.py checks it).
if os.environ.get("PRLSTM_HIDE_EXTRAS"):
    import sys

    for _name in filter(None, os.environ["PRLSTM_HIDE_EXTRAS"].split(",")):
        # None in sys.modules: `import` raises ModuleNotFoundError and
        # importlib.util.find_spec returns None, exactly as for a package that is absent
        sys.modules.setdefault(_name, None)  # type: ignore[assignment]
