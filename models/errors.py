"""The one exception base for problems a user can fix.

Anything raised as a `SongfarmError` is shown by the command line as one line,
"songfarm: error: <message>", with exit status 2, and by the HTTP API as a 4xx with the
message. Messages name the file, line or field and the bad value.
"""


class SongfarmError(Exception):
    """Bad input: a job file, a request field, a backend option, an output location.

    `field` and `value` name the request field and its bad value where there is one, so a
    stage's error can travel as data (models/stages.py error_field) instead of as text."""

    def __init__(self, message: str = "", field: str = "", value=None):
        super().__init__(message)
        self.field = field
        self.value = value

    def __reduce__(self):
        # Crosses process boundaries (a Ray actor's error reaching the driver) whole, with
        # its fields, whatever the subclass's constructor takes.
        return (_restore, (type(self), str(self), dict(self.__dict__)))


def _restore(cls: type, message: str, state: dict) -> SongfarmError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc
