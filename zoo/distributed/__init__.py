"""Data-parallel training on the engines Keras already has: the settings and records (``distribution``), the
engines (``engines``: tf.distribute, keras.distribution), training under them (``train``), logical CPU devices
(``cpu_devices``) and the supervisor of a multi-worker run's worker (``supervise``)."""
