"""Lines from standard input, read while jobs run, without blocking the event loop.

A terminal or a pipe is watched by the event loop (`add_reader`) and read only when it has data, so
nothing waits in a thread that could not be stopped at exit, and the descriptor is left blocking (a
terminal shares it with standard output). A regular file (`< script.txt`), which the loop cannot watch
but which never blocks, is read in a worker thread."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import io
import os
from typing import TextIO

_CHUNK = 64 * 1024


class LineReader:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._fd: int | None = None
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            fd = stream.fileno()
            asyncio.get_running_loop().add_reader(fd, self._readable, fd)
            self._fd = fd

    async def next_line(self) -> str | None:
        """The next line without its newline; None at the end of input."""
        if self._fd is None:
            line = await asyncio.to_thread(self._stream.readline)
            return line.rstrip("\r\n") if line else None
        return await self._lines.get()

    def close(self) -> None:
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            rest = self._partial + self._decoder.decode(b"", final=True)
            if rest:
                self._lines.put_nowait(rest.rstrip("\r"))
            self._lines.put_nowait(None)
            return
        *complete, self._partial = (self._partial + self._decoder.decode(data)).split("\n")
        for line in complete:
            self._lines.put_nowait(line.rstrip("\r"))
