"""Running the model: Hydra composition (``compose``), one run into its directory (``run``),
sweeps and their Hydra callbacks (``sweep``, ``callbacks``), a study's fan-out of runs through
Hydra's launchers (``fanout``), a sweep's aggregate (``aggregate``) and a run's time and memory
(``measure``)."""
