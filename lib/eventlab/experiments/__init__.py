"""Experiments: measurements that notebooks run in one call and show as one table.

Each module is one experiment family (``compare``: every path under the same load;
``practices``: best practices, each measured). They build on :mod:`eventlab.measure` and
leave presentation (prose, plots) to the notebooks.
"""
