"""Large reads and writes a batch at a time: no file or table is ever held whole."""

from collections.abc import Iterable, Iterator

# Rows read or written at a time by the import and the export.
BATCH = 2000


def chunks(items: Iterable, size: int) -> Iterator[list]:
    """``items`` in lists of ``size`` (the last one shorter), consumed lazily."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
