"""Ready-made topologies from the article, each deployable under a run and destroyable with it.

Handler code that a pattern deploys to Lambda lives in ``handlers/<name>/``, one folder per
function, packaged as it is.
"""
