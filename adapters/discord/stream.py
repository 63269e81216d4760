"""Streamed answers as Discord messages: adapters.paging's pages of at most 2,000 characters, with
discord.py's refusals retried on the next round (it waits out 429s itself)."""

from __future__ import annotations

from typing import TypeVar

import discord

from adapters import paging
from adapters.paging import MESSAGE_LIMIT, split_pages

__all__ = ["MESSAGE_LIMIT", "PagedStream", "split_pages"]
M = TypeVar("M")


class PagedStream(paging.PagedStream[M]):
    retried = (discord.HTTPException,)
