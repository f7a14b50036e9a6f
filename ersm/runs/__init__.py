"""A training run on disk: its config (``RUN/config.json``) and the rules for resuming it,
its checkpoint, its data splits and loaders, and the distributed setup.

Below :mod:`ersm.evaluation` (which loads runs) and :mod:`ersm.train` / :mod:`ersm.jobs`
(which write them); the old module names under ``ersm.train`` stay as aliases.
"""
