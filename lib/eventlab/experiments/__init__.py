"""Experiments behind the notebooks: one module per notebook topic, each returning tables.

Notebooks stay thin: they call a function here, show the DataFrame or figure it returns, and
assert on its counts. Every function takes a :class:`~eventlab.run.Run` (whose ledger deletes
what the experiment creates) and uses only clients from ``run.target``.
"""
