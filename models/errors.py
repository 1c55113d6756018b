"""The one exception base for problems a user can fix.

Anything raised as a `SongfarmError` is shown by the command line as one line,
"songfarm: error: <message>", with exit status 2, and by the HTTP API as a 4xx with the
message. Messages name the file, line or field and the bad value.
"""


class SongfarmError(Exception):
    """Bad input: a job file, a request field, a backend option, an output location."""
