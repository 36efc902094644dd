"""One exception type for anything the user can fix; the CLI prints it as a single line."""


class GsvTrtError(Exception):
    """Bad input (file, value, environment). The message names the thing and what is wrong with it."""
