"""IR -> diagnostics: semantic checks on the finished IR and its plan, one named check per code
(NESTML style), grouped by family.  Every code has a valid/invalid fixture pair in tests/fixtures/.

Name, unit and value errors are found while the IR is elaborated (elaborate/); the checks here
need the whole network.  The family modules register their checks on import, in this order.
"""

from . import values, network, timing, rules, stop, layers  # noqa: F401  (registers the checks)
from .registry import CHECKS, check, run_checks

__all__ = ["CHECKS", "check", "run_checks"]
