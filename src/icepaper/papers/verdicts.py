"""The three-state verdicts of every claim (holds / fails / not resolved): the module is
:mod:`icepaper.core.verdicts` (in ``core`` so that ``diversity`` may use it too); this name
re-exports it for the papers' code and the notebooks."""

from icepaper.core.verdicts import (  # noqa: F401
    FAILS,
    HOLDS,
    RELATIONS,
    STATES,
    UNRESOLVED,
    Verdict,
    all_of,
    as_bool,
    bootstrap_statistic,
    compare,
    compare_folds,
    decide,
    fold_interval,
    from_interval,
    paired_bootstrap,
    rule_text,
    t_quantile,
    unresolved,
)

__all__ = ["FAILS", "HOLDS", "RELATIONS", "STATES", "UNRESOLVED", "Verdict", "all_of", "as_bool",
           "bootstrap_statistic", "compare", "compare_folds", "decide", "fold_interval", "from_interval",
           "paired_bootstrap", "rule_text", "t_quantile", "unresolved"]
