"""A grid on Telegram end to end: one photo of four images with U1-U4 / V1-V4 / Reroll keys, and U2 pressed
after a restart posting image 2 alone, byte for byte as the provider made it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.messages import Action, action_id, image_ref
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_grids import CELL, distinct_images
from tests.test_telegram_harness import (  # noqa: F401 - pytest fixtures
    USER,
    buttons,
    fake_telegram_fixture,
    running_bot,
    uploaded_image,
)

pytestmark = pytest.mark.timeout(30)


async def test_a_grid_photo_with_u_and_v_keys_and_u2_after_a_restart(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    fake_agnes.next_images = distinct_images()
    async with running_bot(tmp_path, fake_agnes, fake_telegram) as tg:
        tg.fake.push_message(USER, "/imagine a fox in the snow --n 4")
        grid = await tg.fake.wait_for("sendPhoto")
        assert uploaded_image(grid).size == (CELL[0] * 2, CELL[1] * 2)
        job_id = buttons(grid)[-1].split(":")[2]
        keyboard = grid.params["reply_markup"]["inline_keyboard"]
        assert [[key["text"] for key in row] for row in keyboard] == [
            ["U1", "U2", "U3", "U4"],
            ["V1", "V2", "V3", "V4"],
            ["🎲 Reroll"],
        ]
        assert keyboard[0][1]["callback_data"] == action_id(Action.PICK, image_ref(job_id, 2))
        kept = await tg.core.runner.result_images(job_id)
        assert kept is not None and len(kept) == 4
        usage = await tg.core.store.quotas.usage(f"telegram:private:{USER}", f"telegram:{USER}")
        assert usage.user_used == 4
    async with running_bot(tmp_path, fake_agnes, fake_telegram) as tg:
        tg.fake.push_callback_query(grid.result, action_id(Action.PICK, image_ref(job_id, 2)))
        picked = await tg.fake.wait_for("sendPhoto", count=2)
        assert picked.files["photo"][1] == kept[1]  # the provider's bytes, uploaded as they came
        assert buttons(picked) == [
            action_id(action, image_ref(job_id, 2)) for action in (Action.SUBTLE, Action.VARY, Action.EDIT)
        ]
        tg.fake.push_callback_query(picked.result, action_id(Action.VARY, image_ref(job_id, 2)))
        await tg.fake.wait_for("sendPhoto", count=3)
        assert len(fake_agnes.image_requests()) == 5 and "image" in fake_agnes.image_requests()[-1].body
