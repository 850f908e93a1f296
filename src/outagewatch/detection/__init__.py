"""The outage rule: pure folds over samples (``rule``), the per-service judgement across
vantages (``tracking``, ``judgement``), the samples written (``sample_writer``) and read back
(``sample_reader``), the loop that judges them (``detector``), and what these show in the
metrics and logs (``export``). DESIGN section 3."""
