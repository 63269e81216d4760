"""Builds the providers this deployment has settings for. A new upstream adds one block here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from bot.clock import MONOTONIC, Clock
from bot.config import Settings
from bot.providers.a1111 import A1111Images
from bot.providers.agnes import AgnesImages
from bot.providers.apiframe import ApiframeImages
from bot.providers.apiframe_webhook import ApiframeWebhooks
from bot.providers.base import ImageProvider
from bot.providers.catalogue import Catalogue
from bot.providers.concurrency import ConcurrencyLimited, watch_congestion
from bot.providers.openai_chat import OpenAIChat
from bot.providers.openrouter import OpenRouterImages
from bot.providers.probe import Probe
from bot.providers.relay import RelayImages
from bot.providers.retry import RetryPolicy
from bot.providers.transport import provider_transport
from bot.providers.upstream import Upstream


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(settings.provider_timeout_seconds, connect=15.0)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    return httpx.AsyncClient(timeout=timeout, transport=provider_transport(limits), follow_redirects=True)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(max_retries=settings.provider_max_retries, deadline_seconds=settings.provider_deadline_seconds)


def names(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def build_catalogue(settings: Settings, client: httpx.AsyncClient, clock: Clock = MONOTONIC) -> Catalogue:
    """The providers `settings` configure, over `client`; their backoff, polling and deadlines read `clock`."""
    catalogue = Catalogue()

    def add(provider: ImageProvider, max_concurrency: int, *, adaptive: bool = True) -> None:
        # Cloud providers: the setting is a ceiling the provider's 429/503 answers push down.
        catalogue.add_images(ConcurrencyLimited(provider, max_concurrency, adaptive=adaptive, clock=clock))

    watch_congestion(client)

    upstream = Upstream(
        client,
        retry_policy(settings),
        settings.max_result_download_bytes,
        settings.provider_timeout_seconds,
        clock,
        settings.provider_max_response_bytes,
    )
    if settings.agnes_api_key is not None:
        key = settings.agnes_api_key.get_secret_value()
        add(
            AgnesImages(upstream, settings.agnes_base_url, key, models=names(settings.agnes_models)),
            settings.agnes_max_concurrency,
        )
        catalogue.add_chat(
            OpenAIChat(
                "agnes",
                client,
                settings.agnes_base_url,
                key,
                idle_timeout=settings.provider_timeout_seconds,
                max_bytes=settings.provider_max_response_bytes,
            )
        )
    if settings.agnic_api_key is not None:
        add(
            OpenRouterImages(
                upstream,
                settings.agnic_base_url,
                settings.agnic_api_key.get_secret_value(),
                name="agnic",
                models=names(settings.agnic_models),
            ),
            settings.agnic_max_concurrency,
        )
        # The gateway speaks OpenAI chat too: CHAT_MODEL=agnic:<model> talks through it.
        catalogue.add_chat(
            OpenAIChat(
                "agnic",
                client,
                settings.agnic_base_url,
                settings.agnic_api_key.get_secret_value(),
                idle_timeout=settings.provider_timeout_seconds,
                max_bytes=settings.provider_max_response_bytes,
            )
        )
    if settings.apiframe_api_key is not None:
        webhooks = None
        if settings.public_base_url:
            secret = settings.apiframe_webhook_secret
            webhooks = ApiframeWebhooks(
                settings.public_base_url,
                secret.get_secret_value() if secret else None,
                listen=settings.webhook_listen,
            )
        add(
            ApiframeImages(
                upstream,
                settings.apiframe_base_url,
                settings.apiframe_api_key.get_secret_value(),
                models=names(settings.apiframe_models),
                auth_scheme=settings.apiframe_auth_scheme,
                poll_initial=settings.apiframe_poll_seconds,
                poll_max=settings.apiframe_poll_max_seconds,
                webhooks=webhooks,
                webhook_poll_interval=settings.apiframe_webhook_poll_seconds,
            ),
            settings.apiframe_max_concurrency,
        )
    if settings.relay_api_key is not None:
        add(
            RelayImages(
                upstream,
                settings.relay_base_url,
                settings.relay_api_key.get_secret_value(),
                models=names(settings.relay_models),
                use_async=settings.relay_async,
                poll_wait=settings.relay_poll_wait_seconds,
                poll_interval=settings.relay_poll_seconds,
            ),
            settings.relay_max_concurrency,
        )
    if settings.a1111_base_url:
        password = settings.a1111_password
        add(
            A1111Images(
                upstream,
                settings.a1111_base_url,
                username=settings.a1111_username,
                password=password.get_secret_value() if password else None,
                denoising_strength=settings.a1111_denoising_strength,
                progress_interval=settings.a1111_progress_seconds,
                interrupt_on_cancel=settings.a1111_max_concurrency == 1,
            ),
            settings.a1111_max_concurrency,
            adaptive=False,  # self-hosted: a fixed cap, usually one job at a time
        )
    return catalogue


def webhook_receivers(catalogue: Catalogue) -> list[ApiframeWebhooks]:
    """The webhook receivers the catalogue's providers wait on, for `atelier run` to start and stop."""
    found = []
    for provider in catalogue.image_providers.values():
        receiver = getattr(_unwrapped(provider), "webhooks", None)
        if isinstance(receiver, ApiframeWebhooks):
            found.append(receiver)
    return found


def probes(catalogue: Catalogue) -> dict[str, Callable[[], Awaitable[Probe]]]:
    """Each configured provider's probe (`atelier doctor`), by name. A provider's chat, where it has one,
    uses the same key and address as its images, so one probe covers both."""
    found = {}
    for name, provider in catalogue.image_providers.items():
        probe = getattr(_unwrapped(provider), "probe", None)
        if probe is not None:
            found[name] = probe
    return found


def _unwrapped(provider: ImageProvider) -> ImageProvider:
    """The provider itself, inside its concurrency limit."""
    return getattr(provider, "inner", provider)
