"""Output capture: each pipe read to the end, everything streamed to a capped file, the end kept in memory."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path


class Capture:
    """Reads one pipe to the end: everything to a file (capped), the last bytes kept in memory."""

    def __init__(self, stream, path: Path, tail_bytes: int, disk_bytes: int):
        self.path, self.total, self.saved = path, 0, 0
        self._stream, self._tail_bytes, self._disk_bytes = stream, tail_bytes, disk_bytes
        self.tail = bytearray()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        with open(self.path, "wb") as out:
            fd = self._stream.fileno()
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                self.total += len(chunk)
                room = self._disk_bytes - self.saved
                if room > 0:
                    out.write(chunk[:room])
                    out.flush()
                    self.saved += min(room, len(chunk))
                self.tail += chunk
                if len(self.tail) > 2 * self._tail_bytes:
                    del self.tail[: len(self.tail) - self._tail_bytes]
        del self.tail[: max(0, len(self.tail) - self._tail_bytes)]

    def finish(self, wait: float = 5.0) -> None:
        self.thread.join(wait)
        with contextlib.suppress(OSError):
            self._stream.close()
