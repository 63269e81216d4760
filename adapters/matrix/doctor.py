"""`atelier doctor` for Matrix: the homeserver answers the client-server API and, with MATRIX_ACCESS_TOKEN,
accepts the token as MATRIX_USER_ID's (`whoami`). A password is not tried: a login would make a device."""

from __future__ import annotations

import httpx

from adapters.doctor.lines import CHECK_TIMEOUT_SECONDS, Line, fail, ok
from adapters.matrix.settings import MatrixSettings


async def matrix_lines(matrix: MatrixSettings) -> list[Line]:
    assert matrix.matrix_homeserver is not None
    base = matrix.matrix_homeserver.rstrip("/")
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as client:
        try:
            versions = await client.get(f"{base}/_matrix/client/versions")
            if versions.status_code != 200:
                return [fail("matrix", f"{base} answered HTTP {versions.status_code} to /_matrix/client/versions: "
                             "check MATRIX_HOMESERVER (the client-server API's base URL)")]  # fmt: skip
            if matrix.matrix_access_token is None:
                return [ok("matrix", "homeserver reachable; MATRIX_PASSWORD is tried at `atelier run` (a login here "
                           "would make a device)")]  # fmt: skip
            token = matrix.matrix_access_token.get_secret_value()
            answer = await client.get(
                f"{base}/_matrix/client/v3/account/whoami", headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            return [fail("matrix", f"cannot reach the homeserver ({type(exc).__name__}): check MATRIX_HOMESERVER")]
    if answer.status_code == 401:
        return [fail("matrix", "the homeserver refused the token: check MATRIX_ACCESS_TOKEN")]
    if answer.status_code != 200:
        return [fail("matrix", f"whoami answered HTTP {answer.status_code}: check MATRIX_ACCESS_TOKEN")]
    user = answer.json().get("user_id")
    if user != matrix.matrix_user_id:
        return [fail("matrix", f"the token is {user}'s, not {matrix.matrix_user_id}'s: check MATRIX_USER_ID")]
    return [ok("matrix", f"{user}, token accepted")]
