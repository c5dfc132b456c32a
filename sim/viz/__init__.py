"""The interactive dashboard (``solara run sim/app.py``) and what it draws.

Needs the ``viz`` extra (``pip install -e '.[viz]'``). The model core never imports this package:
``paired`` and ``charts`` read a live model only through Mesa's DataCollector and the model's
public attributes; ``dashboard`` holds the Solara pages.
"""
