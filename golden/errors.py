"""The one exception type that user-facing code raises for bad input."""


class MemornnError(ValueError):
    """Bad user input: a model, weight file, input file, option or configuration.

    The message is one line naming the bad value; the CLI prints it and exits non-zero.
    """
