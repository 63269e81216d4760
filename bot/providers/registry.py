"""Builds the providers this deployment has settings for. A new upstream adds one block here."""

from __future__ import annotations

import httpx

from bot.config import Settings
from bot.providers.agnes import AgnesImages
from bot.providers.catalogue import Catalogue
from bot.providers.http import RetryPolicy
from bot.providers.openai_chat import OpenAIChat


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(settings.provider_timeout_seconds, connect=15.0)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=True)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(max_retries=settings.provider_max_retries, deadline_seconds=settings.provider_deadline_seconds)


def build_catalogue(settings: Settings, client: httpx.AsyncClient) -> Catalogue:
    catalogue = Catalogue()
    if settings.agnes_api_key is not None:
        key = settings.agnes_api_key.get_secret_value()
        catalogue.add_images(
            AgnesImages(
                client,
                settings.agnes_base_url,
                key,
                models=[settings.image_model],
                policy=retry_policy(settings),
                max_download_bytes=settings.max_result_download_bytes,
                download_timeout=settings.provider_timeout_seconds,
            )
        )
        catalogue.add_chat(
            OpenAIChat("agnes", client, settings.agnes_base_url, key, idle_timeout=settings.provider_timeout_seconds)
        )
    return catalogue
