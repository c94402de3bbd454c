"""The one error type for a user's mistake: bad usage or bad input.

The CLI turns it into `Error: ...` and exit code 2. Anything else that escapes is a bug.
"""

from __future__ import annotations


class DapauditError(Exception):
    """A problem the user can fix, located as precisely as we can: file, record, field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        record: int | str | None = None,
        field: str | None = None,
        record_label: str = "line",
    ) -> None:
        self.message = message
        self.file = file
        self.record = record
        self.field = field
        self.record_label = record_label
        super().__init__(str(self))

    def __reduce__(self):
        # Keyword-only fields: the default (the class called with args) would lose them when
        # an error crosses from a helper process (ingest.shared_work).
        return _restore, (
            type(self),
            self.message,
            self.file,
            self.record,
            self.field,
            self.record_label,
        )

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.record is not None:
            where.append(f"{self.record_label} {self.record}")
        if self.field:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


def _restore(cls, message, file, record, field, record_label) -> DapauditError:
    return cls(message, file=file, record=record, field=field, record_label=record_label)
