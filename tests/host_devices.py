"""XLA_FLAGS for a test's subprocess: the test processes' code-generation flags, with ``devices`` host CPU devices."""

import os

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def xla_flags(devices=None):
    """This process's ``XLA_FLAGS`` without any device count, plus ``devices`` host CPU devices when given."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(DEVICE_COUNT_FLAG)]
    if devices is not None:
        flags.append(f"{DEVICE_COUNT_FLAG}={devices}")
    return " ".join(flags)
