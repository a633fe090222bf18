"""Studies that reproduce the papers: each a protocol module, a runner and a report writer.

- hybrid QMoE (Heddad & Bouanane): :mod:`.hybrid_protocol`, :mod:`.hybrid_noise`,
  :mod:`.hybrid_study` (:func:`run_study`), :mod:`.hybrid_report`.
"""

from .hybrid_study import run_study

__all__ = ["run_study"]
