"""Driving `atelier console` as a person does: a live subprocess, one line at a time, reading what it prints
(through pipes, or through a pseudo-terminal for what only a terminal shows)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WAIT = 30.0  # a deadline for each expected line, never a synchronisation


def console_env(env: dict[str, str]) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env}


class PipedConsole:
    """The console with its standard streams on pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.transcript = ""
        self._seen = 0

    @classmethod
    async def start(cls, env: dict[str, str], cwd: Path, *args: str) -> PipedConsole:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "console", *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=console_env(env), cwd=cwd,
        )  # fmt: skip
        return cls(process)

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def expect(self, text: str) -> str:
        """Read what it prints until `text` appears (after what earlier calls saw); returns the output up to
        the end of that line."""
        assert self.process.stdout is not None
        async with asyncio.timeout(WAIT):
            while text not in self.transcript[self._seen :]:
                data = await self.process.stdout.read(65536)
                if not data:
                    assert self.process.stderr is not None
                    err = (await self.process.stderr.read()).decode()
                    raise AssertionError(f"the console ended before printing {text!r}:\n{self.transcript}\n{err}")
                self.transcript += data.decode()
        found = self.transcript.index(text, self._seen)
        end = self.transcript.find("\n", found)
        line_start = self.transcript.rfind("\n", 0, found) + 1
        self._seen = len(self.transcript) if end < 0 else end + 1
        return self.transcript[line_start : self._seen]

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    async def finish(self, close_input: bool = True) -> tuple[int, str, str]:
        """Wait for the end (after closing its input); returns the exit status, the rest of stdout, stderr."""
        if close_input and self.process.stdin is not None:
            self.process.stdin.close()
        out, err = await asyncio.wait_for(self.process.communicate(), WAIT)
        self.transcript += out.decode()
        return self.process.returncode or 0, self.transcript, err.decode()

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


class TerminalConsole:
    """The console on a pseudo-terminal, as someone typing in a terminal window runs it."""

    def __init__(self, process: asyncio.subprocess.Process, master: int) -> None:
        self.process = process
        self._master = master
        self.screen = ""
        self._more = asyncio.Event()
        asyncio.get_running_loop().add_reader(master, self._readable)

    @classmethod
    async def start(cls, env: dict[str, str], cwd: Path, *args: str) -> TerminalConsole:
        master, slave = pty.openpty()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "console", *args,
            stdin=slave, stdout=slave, stderr=asyncio.subprocess.PIPE, env=console_env(env), cwd=cwd,
        )  # fmt: skip
        os.close(slave)
        return cls(process, master)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 65536)
        except OSError:  # the child closed the terminal
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self._master)
        self.screen += data.decode(errors="replace")
        self._more.set()

    async def type(self, text: str) -> None:
        os.write(self._master, text.encode())

    async def expect(self, text: str) -> None:
        async with asyncio.timeout(WAIT):
            while text not in self.screen:
                self._more.clear()
                await self._more.wait()

    async def finish(self) -> tuple[int, str, str]:
        await self.type("\x04")  # Ctrl-D: the end of input
        assert self.process.stderr is not None
        err = await asyncio.wait_for(self.process.stderr.read(), WAIT)
        code = await asyncio.wait_for(self.process.wait(), WAIT)
        return code, self.screen, err.decode()

    async def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self._master)
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        with contextlib.suppress(OSError):
            os.close(self._master)
