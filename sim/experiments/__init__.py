"""Running the model: Hydra composition (``compose``), one run into its directory (``run``),
sweeps and their Hydra callback (``sweep``, ``callbacks``), a sweep's aggregate (``aggregate``)
and a run's time and memory (``measure``)."""
