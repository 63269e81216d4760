"""The image's HEALTHCHECK (`python -m bot.probe`): GET /healthz on METRICS_LISTEN's port; exit 0 when it
answers 200, 1 otherwise. With METRICS_LISTEN unset there is nothing to ask, and the check passes."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

from bot.listener import parse_listen

TIMEOUT_SECONDS = 4.0
WILDCARDS = {"", "0.0.0.0", "::"}


def probe(listen: str | None, timeout: float = TIMEOUT_SECONDS) -> int:
    if not listen:
        return 0
    host, port = parse_listen(listen)
    host = "127.0.0.1" if host in WILDCARDS else host
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=timeout) as answer:
            return 0 if answer.status == 200 else 1
    except (OSError, ValueError) as exc:  # 503 (HTTPError), refused, timed out
        print(f"atelier health: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(probe(os.environ.get("METRICS_LISTEN", "").strip()))
