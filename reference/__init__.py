"""zoo's reference results: every built-in entry trained on the full data, shipped as package data.

Each ``NAME/`` folder holds a run as ``zoo run`` writes it (``model.onnx`` with its test vectors,
``model.keras`` without optimizer state, ``report.json``/``.md``/``.html``, ``plots/``), with
``manifest.json`` and the leaderboard ``index.html`` beside them. ``zoo.locations.reference_dir()``
finds the folder; ``python -m zoo.reference --data-dir DIR`` regenerates it.
"""
