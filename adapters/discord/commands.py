"""The slash commands and context menus Atelier registers, each handing over to AtelierInteractions.
Choices come from the settings (sizes) and the catalogue (model autocomplete)."""

from __future__ import annotations

from discord import Attachment, Interaction, Message, app_commands

from adapters.discord.interactions import AtelierInteractions
from adapters.discord.mod_commands import mod_group
from bot.command import Cancel, ChangeSettings, Help, Info, Models, Reset, Usage, UsageReport
from bot.config import Settings
from bot.parsing import IMAGE_COUNTS
from bot.scope_limits import KNOBS
from bot.sizes import format_size

MAX_CHOICES = 25
SEED_MAX = 2**32 - 1


def size_choices(settings: Settings) -> list[app_commands.Choice[str]]:
    sizes = [format_size(size) for size in settings.size_allow_list][:MAX_CHOICES]
    return [app_commands.Choice(name=size, value=size) for size in sizes]


IMAGE_COUNT_CHOICES: list[app_commands.Choice[int]] = [
    app_commands.Choice(name=str(count), value=count) for count in IMAGE_COUNTS
]


def register_commands(tree: app_commands.CommandTree, handler: AtelierInteractions, settings: Settings) -> None:
    core = handler.core

    async def model_choices(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        wanted = current.lower().strip()
        choices = []
        for model in core.catalogue.image_models():
            if wanted in model.qualified.lower() or wanted in model.description.lower():
                label = f"{model.qualified} ({model.description})" if model.description else model.qualified
                choices.append(app_commands.Choice(name=label[:100], value=model.qualified[:100]))
        return choices[:MAX_CHOICES]

    @tree.command(name="imagine", description="Make an image from a description")
    @app_commands.describe(
        prompt="What to draw",
        size="Width x height in pixels",
        seed="A number to repeat a result (same prompt + seed = same image, on models that take one)",
        model="Which image model (default: this server's)",
        avoid="Things to keep out of the image",
        enhance="Let the chat model turn your prompt into a detailed one first",
        images="How many images: 2 or 4 make one grid with U/V buttons (default: this server's)",
    )
    @app_commands.choices(size=size_choices(settings))
    @app_commands.choices(images=IMAGE_COUNT_CHOICES)
    @app_commands.autocomplete(model=model_choices)
    async def imagine(
        interaction: Interaction,
        prompt: app_commands.Range[str, 1, 4000],
        size: str | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        model: str | None = None,
        avoid: str | None = None,
        enhance: bool = False,
        images: int | None = None,
    ) -> None:
        await handler.imagine(interaction, prompt, size, seed, model, avoid, enhance, images)

    @tree.command(name="edit", description="Change an image, keeping its composition")
    @app_commands.describe(
        instruction="What to change, e.g. make it snowy",
        image="The image to edit",
        reference="A second reference image, for models that take several",
        mask="White where the image may change (models with masks, e.g. relay:gpt-image)",
        model="Model (default: this server's)",
    )
    @app_commands.autocomplete(model=model_choices)
    async def edit(
        interaction: Interaction,
        instruction: app_commands.Range[str, 1, 4000],
        image: Attachment,
        reference: Attachment | None = None,
        mask: Attachment | None = None,
        model: str | None = None,
    ) -> None:
        await handler.edit(interaction, instruction, image, reference=reference, mask=mask, model=model)

    @tree.command(name="blend", description="Make 2 to 4 images into one")
    @app_commands.describe(
        image1="The first image",
        image2="The second image",
        image3="A third image (optional)",
        image4="A fourth image (optional)",
        prompt="How to combine them (optional)",
        size="Width x height in pixels (default: the first image's shape)",
        model="Model (default: this server's; it must take several images)",
    )
    @app_commands.choices(size=size_choices(settings))
    @app_commands.autocomplete(model=model_choices)
    async def blend(
        interaction: Interaction,
        image1: Attachment,
        image2: Attachment,
        image3: Attachment | None = None,
        image4: Attachment | None = None,
        prompt: app_commands.Range[str, 1, 4000] | None = None,
        size: str | None = None,
        model: str | None = None,
    ) -> None:
        images = [image for image in (image1, image2, image3, image4) if image is not None]
        await handler.blend(interaction, images, prompt or "", size, model)

    @tree.command(name="ask", description="Ask a question about an image")
    @app_commands.describe(question="What you want to know", image="The image to ask about")
    async def ask(interaction: Interaction, question: app_commands.Range[str, 1, 4000], image: Attachment) -> None:
        await handler.ask(interaction, question, image)

    @tree.command(name="chat", description="Talk with the assistant in a new thread; just keep writing there")
    @app_commands.describe(message="Your first message")
    async def chat(interaction: Interaction, message: app_commands.Range[str, 1, 4000]) -> None:
        await handler.chat(interaction, message)

    @tree.command(name="think", description="Like /chat, the assistant thinking it through first (slower)")
    @app_commands.describe(message="Your question")
    async def think(interaction: Interaction, message: app_commands.Range[str, 1, 4000]) -> None:
        await handler.chat(interaction, message, thinking=True)

    @tree.command(name="describe", description="Four prompt ideas for an image, each with a button to imagine it")
    @app_commands.describe(image="The image to describe")
    async def describe(interaction: Interaction, image: Attachment) -> None:
        await handler.describe(interaction, image)

    @tree.command(name="usage", description="Your images today and the limits here, or a report")
    @app_commands.describe(report="chart: the last 30 days; admins: top (this week's most active), export (CSV)")
    @app_commands.choices(report=[app_commands.Choice(name=r.value, value=r.value) for r in UsageReport if r.value])
    async def usage(interaction: Interaction, report: str | None = None) -> None:
        await handler.simple(interaction, Usage(UsageReport(report or "")))

    @tree.command(name="info", description="Your running jobs, today's usage and this server's defaults")
    async def info(interaction: Interaction) -> None:
        await handler.simple(interaction, Info())

    @tree.command(name="models", description="The image models this bot offers")
    async def models(interaction: Interaction) -> None:
        await handler.simple(interaction, Models())

    @tree.command(name="help", description="What Atelier can do")
    async def help_(interaction: Interaction) -> None:
        await handler.simple(interaction, Help())

    @tree.command(name="cancel", description="Stop your running image job (nothing is charged)")
    async def cancel(interaction: Interaction) -> None:
        await handler.simple(interaction, Cancel())

    @tree.command(name="reset", description="Forget this chat thread's conversation")
    async def reset(interaction: Interaction) -> None:
        await handler.simple(interaction, Reset())

    setting_names = [*KNOBS, "model", "reset"]

    async def setting_values(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        if getattr(interaction.namespace, "setting", None) != "model":
            return []
        return await model_choices(interaction, current)

    @tree.command(name="settings", description="Admins: quotas, rate limit and default model for this server")
    @app_commands.describe(setting="Which setting to change (empty: show them all)", value="The new value")
    @app_commands.choices(setting=[app_commands.Choice(name=name, value=name) for name in setting_names])
    @app_commands.autocomplete(value=setting_values)
    @app_commands.default_permissions(manage_guild=True)
    async def settings_(interaction: Interaction, setting: str | None = None, value: str | None = None) -> None:
        await handler.simple(interaction, ChangeSettings(setting, value))

    @tree.context_menu(name="Edit image")
    async def edit_image(interaction: Interaction, message: Message) -> None:
        await handler.edit_image_menu(interaction, message)

    @tree.context_menu(name="Ask about image")
    async def ask_image(interaction: Interaction, message: Message) -> None:
        await handler.ask_image_menu(interaction, message)

    tree.add_command(mod_group(handler))
    _ = (
        imagine,
        edit,
        ask,
        chat,
        think,
        describe,
        usage,
        info,
        models,
        help_,
        cancel,
        reset,
        settings_,
        edit_image,
        ask_image,
    )
