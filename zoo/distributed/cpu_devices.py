"""Splitting one CPU into N logical devices, so data-parallel code runs on a laptop and in tests.

Both runtimes fix their device list when they first start, so this must run before anything in the
process has used TensorFlow (any op) or JAX (any computation, or ``jax.devices()``); otherwise it
stops with one line saying so. Each logical device is a replica that shares the same cores: it
exercises the data-parallel code paths, it does not make training faster.
"""

from __future__ import annotations

from zoo.errors import ZooError

TOO_LATE = ("ZOO_CPU_DEVICES={n} came too late: {library} had already set up its devices in this process. "
            "Set it before zoo starts (in the environment or on the command line), not after something has run "
            "{library}")


def split_cpu(n: int, backend: str) -> None:
    """Make the ``backend``'s runtime see the CPU as ``n`` logical devices (idempotent for the same ``n``)."""
    if backend == "tensorflow":
        _split_tensorflow(n)
    elif backend == "jax":
        _split_jax(n)
    else:
        raise ZooError(f"ZOO_CPU_DEVICES: splitting the CPU into logical devices needs the tensorflow or jax "
                       f"backend, not {backend}")


def _split_tensorflow(n: int) -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError as exc:  # "Virtual devices cannot be modified after being initialized"
        if len(tf.config.list_logical_devices("CPU")) == n:  # already what was asked for
            return
        raise ZooError(TOO_LATE.format(n=n, library="TensorFlow")) from exc


def _split_jax(n: int) -> None:
    # jax_num_cpu_devices does what XLA_FLAGS=--xla_force_host_platform_device_count=N does, but can be
    # set after `import jax`, up to the first computation; JAX refuses it later with a RuntimeError.
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError as exc:
        if len(jax.devices("cpu")) == n:  # already what was asked for
            return
        raise ZooError(TOO_LATE.format(n=n, library="JAX")) from exc
