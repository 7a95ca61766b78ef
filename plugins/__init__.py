"""zoo's built-in entries: the tutorials' datasets and models, each a plugin in the ``zoo`` entry-point group."""
