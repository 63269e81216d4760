"""Which models this deployment offers, and which provider serves each."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.providers.base import ChatProvider, ImageProvider, ModelInfo, Provider


class UnknownModel(Exception):
    """The message lists what the user can pick instead."""


@dataclass
class Catalogue:
    image_providers: dict[str, ImageProvider] = field(default_factory=dict)
    chat_providers: dict[str, ChatProvider] = field(default_factory=dict)

    def add_images(self, provider: ImageProvider) -> None:
        self.image_providers[provider.name] = provider

    def add_chat(self, provider: ChatProvider) -> None:
        self.chat_providers[provider.name] = provider

    def image_models(self) -> list[ModelInfo]:
        return [model for provider in self.image_providers.values() for model in provider.models()]

    def resolve_image_model(self, name: str) -> tuple[ImageProvider, ModelInfo]:
        """`provider:model`, or a bare model name when exactly one provider offers it."""
        models = self.image_models()
        if ":" in name:
            matches = [m for m in models if m.qualified.lower() == name.lower()]
        else:
            matches = [m for m in models if m.name.lower() == name.lower()]
            if not matches and name.lower() in self.image_providers:
                matches = self.image_providers[name.lower()].models()[:1]
        if len(matches) > 1:
            choices = ", ".join(m.qualified for m in matches)
            raise UnknownModel(f"'{name}' is offered by several providers; pick one of: {choices}.")
        if not matches:
            listing = ", ".join(m.qualified for m in models) or "none configured"
            raise UnknownModel(f"No image model called '{name}'. Available: {listing}.")
        model = matches[0]
        return self.image_providers[model.provider], model

    def suggest(self, *, image_to_image: bool, mask: bool, input_images: int) -> str | None:
        """A model that can serve a request the asked-for one cannot."""
        for model in self.image_models():
            caps = model.capabilities
            if image_to_image and not caps.image_to_image:
                continue
            if mask and not caps.mask:
                continue
            if input_images > 1 and caps.max_input_images < input_images:
                continue
            return model.qualified
        return None

    def resolve_chat(self, name: str) -> tuple[ChatProvider, str]:
        """`provider:model`, or a bare model name for the first chat provider (Agnes when configured)."""
        if not self.chat_providers:
            raise UnknownModel("No chat model is configured on this bot.")
        provider_name, _, model = name.partition(":")
        if model and provider_name in self.chat_providers:
            return self.chat_providers[provider_name], model
        if model and "/" not in provider_name:
            offered = ", ".join(self.chat_providers)
            raise UnknownModel(f"CHAT_MODEL names '{provider_name}', which has no chat here; configured: {offered}.")
        return next(iter(self.chat_providers.values())), name

    async def aclose(self) -> None:
        providers: list[Provider] = [*self.image_providers.values(), *self.chat_providers.values()]
        for provider in providers:
            await provider.aclose()
