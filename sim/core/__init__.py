"""The model core: population arrays, the week's market, dated policies, Mesa agents, the
``EcommerceModel`` and its recorder. Imports the schema only: no Hydra, OmegaConf, matplotlib,
Optuna, SALib or joblib, so it runs from a plain script, a notebook, ``mesa.batch_run`` or a page."""
