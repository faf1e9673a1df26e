"""The one exception type the command line turns into a one-line message instead of a traceback.

Anything a user can get wrong (a missing file, a bad column, an unknown config key) raises a
``SeqlabError`` whose message names the file, line or field and says how to fix it.
"""


class SeqlabError(Exception):
    """A user-facing error: the message is one line that names the problem and the fix."""
