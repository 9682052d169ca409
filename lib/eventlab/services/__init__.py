"""One module per AWS service, functions named after the AWS operations they wrap.

Each ``create_*`` takes a :class:`~eventlab.run.Run`, names and tags the resource for it,
applies secure defaults, and records the deletion in the run's ledger.
"""
