"""The errors zoo reports to users: each one message that says what is wrong and how to fix it."""


class ZooError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero."""


class ZooWarning(UserWarning):
    """Something a user should know that does not stop the command; the CLI prints it as one line."""


class UnknownNameError(ZooError, KeyError):
    """A model, dataset or plugin name that nobody registered."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class InvalidSpecError(ZooError, ValueError):
    """A plugin handed ``register`` a record that zoo cannot use."""


class PluginConflictError(ZooError):
    """Two plugins registered the same name."""


class DataError(ZooError):
    """Dataset files are missing, corrupt, or cannot be fetched."""


class TrainingError(ZooError):
    """Training could not produce a usable model (e.g. the loss became NaN)."""


class ExportError(ZooError):
    """An export could not be written or failed its validation."""


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """``Type: first line of the message`` of a library's exception (the line cut to ``limit`` characters)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:limit]}" if text else type(exc).__name__


def did_you_mean(name: str, known: list[str] | tuple[str, ...] | set[str]) -> str:
    """The ' Did you mean ...?' suffix for an unknown name, or a list of what exists."""
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
    if close:
        return " Did you mean " + " or ".join(repr(c) for c in close) + "?"
    if known:
        return " Known: " + ", ".join(sorted(known)) + "."
    return ""
