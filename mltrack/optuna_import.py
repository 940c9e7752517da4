"""Optuna, imported whole and once, under a lock.

Two threads importing parts of Optuna for the first time at the same moment
(the search driver `optuna.trial`, the analysis panel `optuna.importance`)
trip over Optuna's circular imports: one of them gets an ImportError from a
partially initialised module, and what stays in `sys.modules` can fail every
later call (seen: `optuna.pruners` without `_filter_study`, a search stuck for
good after a restart with the dashboard open). So every place in mltrack that
uses Optuna calls `load()` first; Optuna stays out of `import mltrack`.

Optuna's own warnings (an experimental argument mltrack chose, "few trials in
a regime") are silenced here, once, for the process: they say nothing the
user can act on (the analysis panel says it in its own words). Not with
`warnings.catch_warnings()` around each call: that swaps the process-wide
filter list, so two threads in it at once left a blanket "ignore everything"
behind for good, and let the warnings through meanwhile.
"""
from __future__ import annotations

import threading
import warnings

_lock = threading.Lock()
_loaded = False


def load() -> None:
    """Import Optuna and the parts mltrack uses, once per process."""
    global _loaded
    if _loaded:
        return
    with _lock:
        if not _loaded:
            import optuna  # noqa: F401  (its __init__ imports most of the package)
            import optuna.distributions  # noqa: F401
            import optuna.importance  # noqa: F401
            import optuna.pruners  # noqa: F401
            import optuna.samplers  # noqa: F401
            import optuna.storages.journal  # noqa: F401
            import optuna.trial  # noqa: F401
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            warnings.filterwarnings("ignore", module=r"optuna(\.|$)")
            _loaded = True
