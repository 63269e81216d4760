"""A grid on Discord end to end: `/imagine images:4` posts one grid picture with U1-U4, V1-V4 and Reroll in
three rows, and U2 clicked after a restart posts image 2 alone, byte for byte as the provider made it."""

from __future__ import annotations

from pathlib import Path

from bot.messages import Action, action_id, image_ref
from tests import test_discord_harness as harness
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import FakeDiscord
from tests.test_discord_harness import TIMEOUT, button_ids, decode, eventually, running
from tests.test_grids import CELL, distinct_images

fake_discord = harness.fake_discord


async def test_a_grid_with_u_and_v_buttons_and_u2_after_a_restart(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    fake_agnes.next_images = distinct_images()
    async with running(tmp_path, fake_agnes, fake_discord) as bot:
        inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "a fox in the snow", "images": 4})
        grid = await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)
        [upload] = grid.files
        assert decode(upload.data).size == (CELL[0] * 2, CELL[1] * 2)
        job = button_ids(grid.json)[-1].rsplit(":", 1)[1]
        rows = [[button["label"] for button in row["components"]] for row in grid.json["components"]]
        assert rows == [["U1", "U2", "U3", "U4"], ["V1", "V2", "V3", "V4"], ["Reroll"]]

        async def kept() -> list[bytes] | None:
            return await bot.core.runner.result_images(job)

        images = await eventually(kept)
    async with running(tmp_path, fake_agnes, fake_discord):
        click = await fake_discord.dispatch_component(
            action_id(Action.PICK, image_ref(job, 2)), message=grid.message_id
        )
        picked = await fake_discord.wait_for_followup(click, timeout=TIMEOUT)
    [alone] = picked.files
    assert alone.data == images[1]
    assert button_ids(picked.json) == [
        action_id(action, image_ref(job, 2)) for action in (Action.SUBTLE, Action.VARY, Action.EDIT)
    ]
    assert len(fake_agnes.image_requests()) == 4  # U2 made nothing new
