"""User-facing errors. Each message says what is wrong, where, and what to do.

The command-line tools print `error: <message>` and exit with code 2 for any of these.
"""


class RaycnnError(Exception):
    """Base class for every error a user can fix by changing input, flags or files."""


class ConfigError(RaycnnError):
    """A configuration key, type or value is invalid."""


class DataError(RaycnnError):
    """A dataset is missing, unreadable, or cannot be used as asked."""


class ModelError(RaycnnError):
    """An architecture cannot be built for the given input or options."""


OUT_OF_MEMORY_MARKS = ("out of memory", "can't allocate memory")


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA out-of-memory (torch.OutOfMemoryError) or a failed CPU allocation."""
    return isinstance(err, RuntimeError) and any(m in str(err).lower() for m in OUT_OF_MEMORY_MARKS)
