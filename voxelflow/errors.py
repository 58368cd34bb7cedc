"""The one exception type for bad user input."""


class InputError(ValueError):
    """Bad input from the user: a missing or malformed file, an unknown name, a bad value.

    The message names the file, key or value and says what was expected. Workflow
    scripts and the CLI print it as a single line and exit with status 1.
    """
