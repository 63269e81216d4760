"""`/describe`: four prompts an image model could make the image from, as Midjourney's /describe gives. The
model is asked for JSON; when it writes a numbered list (or fenced JSON, or a preamble) instead, the
prompts are still found."""

from __future__ import annotations

import json
import re

IDEAS = 4
DESCRIBE_INSTRUCTIONS = (
    "You write prompts for an image model. Look at the image and write four different prompts that could "
    "make an image like it, each one line of at most 60 words: the subject, the scene, the style or medium, "
    "the lighting, the camera angle and the composition. Vary them (one close to the image, others in other "
    'styles or moods). Answer with JSON only, no other text: {"prompts": ["...", "...", "...", "..."]}'
)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_NUMBERED = re.compile(r"^\s*(?:\d{1,2}[.):]|[-*•])\s+(.+?)\s*$", re.MULTILINE)


def parse_ideas(text: str, limit: int = IDEAS, max_chars: int = 1000) -> list[str]:
    """Up to `limit` prompts from the model's answer: its JSON, else a numbered or bulleted list."""
    found = _from_json(text)
    if not found:
        found = [match.strip().strip('"“”').strip() for match in _NUMBERED.findall(text)]
    cleaned = [" ".join(prompt.split())[:max_chars] for prompt in found if isinstance(prompt, str)]
    return [prompt for prompt in cleaned if prompt][:limit]


def _from_json(text: str) -> list[str]:
    fenced = _FENCE.search(text)
    candidate = fenced.group(1) if fenced else text
    start, end = candidate.find("{"), candidate.rfind("}")
    if start < 0 or end <= start:
        return []
    try:
        data = json.loads(candidate[start : end + 1])
    except json.JSONDecodeError:
        return []
    prompts = data.get("prompts") if isinstance(data, dict) else None
    return [p for p in prompts if isinstance(p, str)] if isinstance(prompts, list) else []


def ideas_text(prompts: list[str]) -> str:
    lines = [f"{index}. {prompt}" for index, prompt in enumerate(prompts, start=1)]
    return "Prompt ideas for this image:\n" + "\n".join(lines)
