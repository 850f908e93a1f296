"""The outage rule: pure folds over samples (``rule``), the per-service judgement across
vantages (``tracking``), and the loop that feeds them from probes and the store
(``detector``). DESIGN section 3."""
