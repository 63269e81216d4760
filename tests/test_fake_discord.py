"""End-to-end: the real discord.py client (Client + app_commands.CommandTree) against FakeDiscord."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from PIL import Image

from tests.fakes.discord_server import CallbackType, FakeDiscord, Permission

TIMEOUT = 5.0


def make_png(size: tuple[int, int] = (8, 6), color: str = "purple") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


PNG = make_png()


class RegenView(discord.ui.View):
    """Persistent view: timeout=None and a fixed custom_id, re-registered in setup_hook."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Regenerate", style=discord.ButtonStyle.primary, custom_id="atelier:regen")
    async def regen(self, interaction: discord.Interaction, button: discord.ui.Button[RegenView]) -> None:
        await interaction.response.edit_message(content="Regenerating…", view=None)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Your feedback", custom_id="feedback:text", style=discord.TextStyle.paragraph
    )

    def __init__(self) -> None:
        super().__init__(custom_id="atelier:feedback")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Thanks: {self.text.value}", ephemeral=True)


class Bot:
    """A small discord.py bot exercising the features Atelier relies on."""

    def __init__(self, fake: FakeDiscord, *, message_content: bool = True) -> None:
        intents = discord.Intents.default()
        intents.members = True
        intents.message_content = message_content
        self.fake = fake
        self.client = discord.Client(intents=intents, guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self.client)
        self.seen: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.synced: list[app_commands.AppCommand] = []
        self._task: asyncio.Task[None] | None = None
        self._register()

    def _register(self) -> None:
        client, tree, guild = self.client, self.tree, discord.Object(id=self.fake.guild_id)

        async def setup_hook() -> None:
            client.add_view(RegenView())
            self.synced = await tree.sync(guild=guild)

        client.setup_hook = setup_hook  # type: ignore[method-assign]

        @tree.command(name="imagine", description="Generate an image", guild=guild)
        async def imagine(interaction: discord.Interaction, prompt: str) -> None:
            await interaction.response.defer(thinking=True)
            file = discord.File(io.BytesIO(PNG), filename="result.png")
            await interaction.followup.send(f"Here is {prompt!r}", file=file, view=RegenView())

        @tree.command(name="settings", description="Server settings", guild=guild)
        async def settings(interaction: discord.Interaction) -> None:
            allowed = interaction.permissions.manage_guild
            await interaction.response.send_message("Saved" if allowed else "Manage Server required", ephemeral=True)

        @tree.command(name="describe", description="Describe an image", guild=guild)
        async def describe(interaction: discord.Interaction, image: discord.Attachment) -> None:
            data = await image.read()  # fetched from the fake CDN
            await interaction.response.send_message(f"{image.filename}: {len(data)} bytes {image.width}x{image.height}")

        @tree.command(name="progress", description="Long job with progress edits", guild=guild)
        async def progress(interaction: discord.Interaction) -> None:
            thumb = discord.File(io.BytesIO(PNG), filename="thumb.png")
            await interaction.response.send_message("Working…", file=thumb)
            await interaction.edit_original_response(
                content="Done", attachments=[discord.File(io.BytesIO(PNG), filename="final.png")]
            )
            extra = await interaction.followup.send("debug info", ephemeral=True, wait=True)
            await extra.delete()

        @tree.command(name="feedback", description="Send feedback", guild=guild)
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(FeedbackModal())

        @tree.context_menu(name="Describe Image", guild=guild)
        async def describe_menu(interaction: discord.Interaction, message: discord.Message) -> None:
            names = ",".join(a.filename for a in message.attachments)
            await interaction.response.send_message(f"{message.author.name}: {names}", ephemeral=True)

        @client.event
        async def on_message(message: discord.Message) -> None:
            if message.author.bot:
                return
            self.seen.put_nowait(message)
            if message.content.startswith("!thread"):
                thread = await message.create_thread(name="Atelier session")
                await thread.send("Thread ready")
            elif message.content == "!ping":
                await message.reply("pong")

    async def start(self) -> None:
        self._task = asyncio.create_task(self.client.start(self.fake.token))
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait({self._task, ready}, timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            ready.cancel()
            self._task.result()  # re-raise the start() failure
            raise AssertionError("client.start() returned before ready")
        if not done:
            ready.cancel()
            raise TimeoutError("bot did not become ready")

    async def close(self) -> None:
        await self.client.close()
        if self._task is not None and not self._task.done():
            await asyncio.wait_for(self._task, TIMEOUT)

    def expect(self, event: str, check: Callable[..., bool] | None = None) -> asyncio.Future[Any]:
        """Register for a client event *before* triggering it (no race)."""
        return asyncio.ensure_future(self.client.wait_for(event, check=check, timeout=TIMEOUT))


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    with server.patched_discord():
        yield server
    await server.stop()
    assert not server.internal_errors


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[Bot]:
    harness = Bot(fake)
    await harness.start()
    yield harness
    await harness.close()


# -------------------------------------------------------------------------------------------- tests


async def test_connects_identifies_and_chunks(fake: FakeDiscord, bot: Bot) -> None:
    client = bot.client
    assert client.user is not None and client.user.id == fake.bot_id
    assert client.application_id == fake.application_id
    guild = client.get_guild(fake.guild_id)
    assert guild is not None and guild.owner_id == int(fake.owner["id"])
    assert isinstance(guild.get_channel(fake.channel_id), discord.TextChannel)
    # No GUILD_PRESENCES -> GUILD_CREATE only carried the bot; discord.py chunked the rest via op 8.
    assert any(p["op"] == 8 for p in fake.gateway_received)
    assert guild.get_member(int(fake.user["id"])) is not None
    assert guild.me.guild_permissions.manage_messages
    assert fake.identify is not None and fake.identify["intents"] == client.intents.value
    # zlib-stream by default; zstd-stream when discord.py finds a zstd module (the fake supports both).
    assert fake.gateway_queries[0]["compress"] == discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
    assert any(p["op"] == 1 for p in fake.gateway_received)  # heartbeat answered with op 11
    assert client.latency >= 0


async def test_setup_hook_sync_is_recorded(fake: FakeDiscord, bot: Bot) -> None:
    put = await fake.wait_for_request(
        "PUT", "/applications/{application_id}/guilds/{guild_id}/commands", guild_id=fake.guild_id
    )
    names = {c["name"] for c in put.json}
    assert names == {"imagine", "settings", "describe", "progress", "feedback", "Describe Image"}
    assert {c.name for c in bot.synced} == names
    assert all(c.id for c in bot.synced)
    # Re-syncing keeps command ids stable, like Discord.
    again = await bot.tree.sync(guild=discord.Object(id=fake.guild_id))
    assert {c.id for c in again} == {c.id for c in bot.synced}


async def test_slash_defer_then_followup_with_png(fake: FakeDiscord, bot: Bot) -> None:
    inter = await fake.dispatch_slash_command("imagine", {"prompt": "a cat"})
    callback = await fake.wait_for_callback(inter)
    assert callback.json["type"] == CallbackType.DEFERRED_CHANNEL_MESSAGE
    followup = await fake.wait_for_followup(inter)
    assert followup.multipart and followup.json["content"] == "Here is 'a cat'"
    assert [(f.field, f.filename, f.data) for f in followup.files] == [("files[0]", "result.png", PNG)]
    # The first follow-up after a defer fills the "thinking" original response.
    original = fake.original_response(inter)
    assert original is not None and original["id"] == str(followup.message_id)
    assert not original["flags"] & 128 and original["type"] == 20
    attachment = original["attachments"][0]
    assert (attachment["width"], attachment["height"]) == (8, 6)
    async with aiohttp.ClientSession() as session, session.get(attachment["url"]) as resp:
        assert resp.status == 200 and await resp.read() == PNG


async def test_member_permissions_gate_manage_server(fake: FakeDiscord, bot: Bot) -> None:
    denied = await fake.dispatch_slash_command("settings")
    owner = await fake.dispatch_slash_command("settings", user=fake.owner)
    granted = await fake.dispatch_slash_command("settings", member_permissions=int(Permission.MANAGE_GUILD))
    replies = {}
    for inter in (denied, owner, granted):
        data = (await fake.wait_for_callback(inter)).json["data"]
        assert data["flags"] & 64  # ephemeral
        replies[inter.id] = data["content"]
    assert replies == {denied.id: "Manage Server required", owner.id: "Saved", granted.id: "Saved"}


async def test_attachment_option_is_read_from_cdn(fake: FakeDiscord, bot: Bot) -> None:
    upload = fake.add_attachment(make_png((20, 10)), "photo.png", "image/png", ephemeral=True)
    inter = await fake.dispatch_slash_command("describe", {"image": upload})
    assert inter.payload["data"]["resolved"]["attachments"][upload["id"]] == upload
    callback = await fake.wait_for_callback(inter)
    assert callback.json["data"]["content"] == f"photo.png: {upload['size']} bytes 20x10"
    assert any(upload["id"] in path for path in fake.cdn_requests)


async def test_persistent_button_updates_message(fake: FakeDiscord, bot: Bot) -> None:
    inter = await fake.dispatch_slash_command("imagine", {"prompt": "dog"})
    posted = await fake.wait_for_followup(inter)
    assert posted.json["components"][0]["components"][0]["custom_id"] == "atelier:regen"

    click = await fake.dispatch_component("atelier:regen")  # finds the message carrying the button
    assert click.payload["message"]["id"] == str(posted.message_id)
    callback = await fake.wait_for_callback(click)
    assert callback.json["type"] == CallbackType.UPDATE_MESSAGE
    assert [r.effect for r in fake.edits_of(posted.message_id)] == ["edit", "edit"]  # defer fill + update
    message = fake.message(posted.message_id)
    assert message["content"] == "Regenerating…" and message["components"] == []


async def test_modal_open_and_submit(fake: FakeDiscord, bot: Bot) -> None:
    inter = await fake.dispatch_slash_command("feedback")
    callback = await fake.wait_for_callback(inter)
    assert callback.json["type"] == CallbackType.MODAL
    assert callback.json["data"]["custom_id"] == "atelier:feedback"

    submit = await fake.dispatch_modal_submit("atelier:feedback", {"feedback:text": "Lovely colours"})
    reply = await fake.wait_for_callback(submit)
    assert reply.json["type"] == CallbackType.CHANNEL_MESSAGE
    assert reply.json["data"]["content"] == "Thanks: Lovely colours"


async def test_message_context_menu(fake: FakeDiscord, bot: Bot) -> None:
    photo = fake.add_attachment(PNG, "sketch.png")
    posted = await fake.dispatch_message("look at this", attachments=[photo])
    inter = await fake.dispatch_message_command("Describe Image", posted)
    assert inter.payload["data"]["target_id"] == posted["id"]
    callback = await fake.wait_for_callback(inter)
    assert callback.json["data"]["content"] == "tester: sketch.png"


async def test_message_create_reply_and_thread(fake: FakeDiscord, bot: Bot) -> None:
    ping = await fake.dispatch_message("!ping")
    seen = await asyncio.wait_for(bot.seen.get(), TIMEOUT)
    assert seen.content == "!ping" and seen.author.id == int(fake.user["id"])
    reply = await fake.wait_for_message(fake.channel_id, lambda m: m["content"] == "pong")
    assert reply["type"] == 19 and reply["message_reference"]["message_id"] == ping["id"]

    thread_created = bot.expect("thread_create")
    request = await fake.dispatch_message("!thread please")
    thread = await thread_created
    assert isinstance(thread, discord.Thread) and thread.id == int(request["id"])
    assert thread.parent_id == fake.channel_id and thread.type is discord.ChannelType.public_thread
    ready = await fake.wait_for_message(thread.id)
    assert ready["content"] == "Thread ready"
    assert fake.message(int(request["id"]))["thread"]["id"] == request["id"]


async def test_without_message_content_intent_content_is_scrubbed(fake: FakeDiscord) -> None:
    harness = Bot(fake, message_content=False)
    await harness.start()
    try:
        await fake.dispatch_message("secret words")
        assert (await asyncio.wait_for(harness.seen.get(), TIMEOUT)).content == ""
        await fake.dispatch_message(f"<@{fake.bot_id}> hello")
        assert (await asyncio.wait_for(harness.seen.get(), TIMEOUT)).content == f"<@{fake.bot_id}> hello"
    finally:
        await harness.close()


async def test_injected_429_is_retried(fake: FakeDiscord, bot: Bot) -> None:
    fake.inject_rate_limit("POST", "/channels/{channel_id}/messages", retry_after=0.01)
    channel = bot.client.get_channel(fake.channel_id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("after the storm", file=discord.File(io.BytesIO(b"hello"), "note.txt"))
    statuses = [r.status for r in fake.requests if r.route == "/channels/{channel_id}/messages"]
    assert statuses == [429, 200]
    assert sent.attachments[0].filename == "note.txt" and await sent.attachments[0].read() == b"hello"


async def test_interaction_errors_match_discord(fake: FakeDiscord, bot: Bot) -> None:
    inter = await fake.dispatch_slash_command("settings")
    await fake.wait_for_callback(inter)
    webhook = discord.Webhook.partial(fake.application_id, inter.token, client=bot.client)
    with pytest.raises(discord.NotFound):
        await webhook.fetch_message(123)  # not one of this interaction's messages -> 10008
    assert (await webhook.fetch_message(fake.original_response(inter)["id"])).content == "Manage Server required"


async def test_resume_replays_missed_events(fake: FakeDiscord, bot: Bot) -> None:
    resumed = bot.expect("resumed")
    await fake.drop_connection(4000)
    await fake.dispatch_message("sent while offline")  # buffered for the session, replayed on RESUME
    await resumed
    assert (await asyncio.wait_for(bot.seen.get(), TIMEOUT)).content == "sent while offline"
    assert any(p["op"] == 6 for p in fake.gateway_received)
    assert fake.gateway_queries[-1]["path"] == "/resume"


async def test_bad_token_and_disallowed_intents(fake: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()

    strict = FakeDiscord(privileged_intents=())
    await strict.start()
    try:
        with strict.patched_discord():
            harness = Bot(strict)
            with pytest.raises(discord.PrivilegedIntentsRequired):
                await harness.start()
            await harness.close()
    finally:
        await strict.stop()


async def test_original_response_edit_followup_delete(fake: FakeDiscord, bot: Bot) -> None:
    inter = await fake.dispatch_slash_command("progress")
    deleted = await fake.wait_for(lambda r: r.method == "DELETE" and r.params.get("webhook_token") == inter.token)
    callback = fake.callback_for(inter)
    assert callback is not None and callback.multipart and callback.files[0].filename == "thumb.png"
    original = fake.original_response(inter)
    assert original is not None and original["content"] == "Done"
    assert [a["filename"] for a in original["attachments"]] == ["final.png"]  # replaced, not appended
    [edit] = fake.edits_of(int(original["id"]))
    assert edit.path.endswith("/messages/@original") and edit.files[0].data == PNG
    [followup] = fake.followups(inter)
    assert followup.json["flags"] & 64 and deleted.message_id == followup.message_id
    assert followup.message_id in fake.deleted_messages


async def test_channel_rest_round_trips(fake: FakeDiscord, bot: Bot) -> None:
    channel = bot.client.get_channel(fake.channel_id)
    assert isinstance(channel, discord.TextChannel)
    async with channel.typing():
        message = await channel.send("draft")
    await fake.wait_for_request("POST", "/channels/{channel_id}/typing", channel_id=fake.channel_id)
    edited = await message.edit(content="final")
    assert edited.content == "final" and edited.edited_at is not None
    fetched = await channel.fetch_message(message.id)
    assert fetched.content == "final" and fetched.author.id == fake.bot_id

    thread = await channel.create_thread(name="jobs", type=discord.ChannelType.public_thread)
    assert fake.channels[thread.id]["type"] == 11
    await thread.send("inside")
    assert [m["content"] for m in fake.messages_in(thread.id)] == ["inside"]
    notice = await fake.wait_for_message(fake.channel_id, lambda m: m["type"] == 18)
    assert notice["message_reference"]["channel_id"] == str(thread.id)

    await message.delete()
    assert message.id in fake.deleted_messages
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(message.id)
    member = await channel.guild.fetch_member(int(fake.user["id"]))
    assert member.name == "tester"
