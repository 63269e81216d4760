"""The moderation model client against a fake OpenAI `/v1/moderations`: thresholds by strictness, images,
allowed categories, retries, failures that never leak the key."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.moderation.classifier import Classifier, ModerationUnavailable, Strictness
from tests.conftest import make_settings
from tests.fakes.images import png_bytes
from tests.fakes.loopback import closed_port
from tests.fakes.moderation_server import FakeModeration

RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.fixture
async def fake() -> AsyncIterator[FakeModeration]:
    server = await FakeModeration().start()
    yield server
    await server.stop()


def classifier(tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration, **overrides: object) -> Classifier:
    values: dict[str, object] = {
        "moderation_api_url": fake.base_url,
        "moderation_api_key": fake.api_key,
        "moderation_timeout_seconds": 5.0,
    }
    built = Classifier.from_settings(make_settings(tmp_path, None, **(values | overrides)), client)
    assert built is not None
    return built


@pytest.mark.parametrize(
    ("score", "flagged_at"),
    [
        (0.35, {Strictness.HIGH}),
        (0.6, {Strictness.HIGH, Strictness.MEDIUM}),
        (0.85, {Strictness.HIGH, Strictness.MEDIUM, Strictness.LOW}),
        (0.1, set()),
    ],
)
async def test_text_is_flagged_by_the_strictness_threshold(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration, score: float, flagged_at: set[Strictness]
) -> None:
    fake.flag_text("forbidden phrase", violence=score, marked=[])
    moderation = classifier(tmp_path, client, fake)
    for strictness in Strictness:
        verdict = await moderation.check(strictness, text="Please draw a FORBIDDEN PHRASE for me")
        assert verdict.flagged is (strictness in flagged_at), strictness
        assert verdict.scores["violence"] == score
        assert verdict.categories == ({"violence": score} if strictness in flagged_at else {})
    clean = await moderation.check(Strictness.HIGH, text="a lighthouse at dusk")
    assert not clean.flagged and clean.summary == ""
    assert clean.model == "omni-moderation-2024-09-26"


async def test_the_apis_own_mark_counts_at_high_and_medium_only(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration
) -> None:
    fake.flag_text("threat", harassment_threatening=0.2, marked=["harassment/threatening"])
    moderation = classifier(tmp_path, client, fake)
    assert (await moderation.check(Strictness.HIGH, text="a threat")).flagged
    assert (await moderation.check(Strictness.MEDIUM, text="a threat")).summary == "harassment/threatening 0.20"
    assert not (await moderation.check(Strictness.LOW, text="a threat")).flagged


async def test_an_image_is_flagged_and_each_image_goes_in_its_own_request(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration
) -> None:
    fake.flag_images(colour=RED, violence=0.9)
    moderation = classifier(tmp_path, client, fake)
    verdict = await moderation.check(
        Strictness.MEDIUM, text="a calm sea", images=[png_bytes(color=BLUE), png_bytes(color=RED)]
    )
    assert verdict.flagged and verdict.summary == "violence 0.90"
    sent = fake.moderation_requests()
    assert len(sent) == 3  # the text, then one per image: the API takes one image a request
    inputs = [request.body["input"] for request in sent]
    assert "a calm sea" in inputs
    images = [item for item in inputs if isinstance(item, list)]
    assert all(len(item) == 1 and item[0]["image_url"]["url"].startswith("data:image/png;base64,") for item in images)
    assert all(request.body["model"] == "omni-moderation-latest" for request in sent)
    assert not (await moderation.check(Strictness.HIGH, images=[png_bytes(color=BLUE)])).flagged


async def test_an_allowed_category_is_scored_but_not_flagged(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration
) -> None:
    fake.flag_text("nude study", sexual=0.95)
    moderation = classifier(tmp_path, client, fake)
    verdict = await moderation.check(Strictness.HIGH, text="a nude study", allowed=frozenset({"sexual"}))
    assert not verdict.flagged
    assert verdict.scores["sexual"] == 0.95
    assert (await moderation.check(Strictness.HIGH, text="a nude study")).categories == {"sexual": 0.95}


async def test_sexual_minors_is_never_allowed_and_flags_at_any_strictness(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration
) -> None:
    fake.flag_text("forbidden phrase", sexual_minors=0.06, marked=[])
    moderation = classifier(tmp_path, client, fake)
    allowed = frozenset({"sexual", "sexual/minors"})
    for strictness in Strictness:
        verdict = await moderation.check(strictness, text="forbidden phrase", allowed=allowed)
        assert verdict.flagged and "sexual/minors" in verdict.categories


async def test_one_failure_is_retried(tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration) -> None:
    fake.flag_text("forbidden phrase", sexual=0.97)
    fake.fail(status=500)
    verdict = await classifier(tmp_path, client, fake).check(Strictness.MEDIUM, text="forbidden phrase")
    assert verdict.flagged
    assert len(fake.moderation_requests()) == 2


async def test_rate_limited_once_is_retried_after_the_wait_asked(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration
) -> None:
    fake.fail(status=429)
    assert not (await classifier(tmp_path, client, fake).check(Strictness.MEDIUM, text="hello")).flagged
    assert len(fake.moderation_requests()) == 2


async def test_a_wait_longer_than_the_timeout_is_not_taken(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration
) -> None:
    fake.retry_after = "60"
    fake.fail(status=429)
    with pytest.raises(ModerationUnavailable, match="HTTP 429"):
        await classifier(tmp_path, client, fake).check(Strictness.MEDIUM, text="hello")
    assert len(fake.moderation_requests()) == 1


async def test_two_failures_make_it_unavailable(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration
) -> None:
    fake.fail(status=500, times=2)
    with pytest.raises(ModerationUnavailable, match="HTTP 500"):
        await classifier(tmp_path, client, fake).check(Strictness.MEDIUM, text="hello")
    assert len(fake.moderation_requests()) == 2


async def test_a_client_error_is_not_retried(tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration) -> None:
    fake.fail(status=400)
    with pytest.raises(ModerationUnavailable, match="HTTP 400"):
        await classifier(tmp_path, client, fake).check(Strictness.MEDIUM, text="hello")
    assert len(fake.moderation_requests()) == 1


async def test_a_hanging_service_times_out(tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration) -> None:
    fake.fail(status="timeout", times=2)
    moderation = classifier(tmp_path, client, fake, moderation_timeout_seconds=0.3)
    with pytest.raises(ModerationUnavailable, match="timed out"):
        await moderation.check(Strictness.MEDIUM, text="hello", images=[png_bytes(color=RED)])


async def test_an_unreachable_service_is_unavailable(tmp_path: Path, client: httpx.AsyncClient) -> None:
    settings = make_settings(tmp_path, None, moderation_api_url=f"http://127.0.0.1:{closed_port()}/v1")
    moderation = Classifier.from_settings(settings, client)
    assert moderation is not None
    with pytest.raises(ModerationUnavailable, match="could not connect"):
        await moderation.check(Strictness.MEDIUM, text="hello")


@pytest.mark.parametrize(("fault", "reason"), [("garbage", "not JSON"), ("no_results", "no results")])
async def test_nonsense_answers_are_unavailable(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration, fault: str, reason: str
) -> None:
    fake.fail(status=fault)
    with pytest.raises(ModerationUnavailable, match=reason):
        await classifier(tmp_path, client, fake).check(Strictness.MEDIUM, text="hello")


async def test_a_refused_key_is_unavailable_and_never_shown(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration
) -> None:
    wrong = "sk-proj-wrong-but-secret-0123456789"
    moderation = classifier(tmp_path, client, fake, moderation_api_key=wrong)
    with pytest.raises(ModerationUnavailable, match="HTTP 401") as caught:
        await moderation.check(Strictness.MEDIUM, text="hello")
    message = str(caught.value)
    assert "invalid_api_key" in message  # the operator learns why
    assert wrong not in message and base64.b64encode(wrong.encode()).decode()[:16] not in message
    assert len(fake.moderation_requests()) == 1  # a refused key is not retried


async def test_the_key_travels_only_in_the_authorization_header(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration
) -> None:
    key = fake.api_key
    assert key
    await classifier(tmp_path, client, fake).check(Strictness.MEDIUM, text="hello", images=[png_bytes()])
    assert len(fake.moderation_requests()) == 2
    for request in fake.moderation_requests():
        assert request.headers["Authorization"] == f"Bearer {key}"
        others = {name: value for name, value in request.headers.items() if name != "Authorization"}
        assert key not in json.dumps([others, request.body, request.path, request.query])


async def test_no_key_sends_no_authorization(tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration) -> None:
    fake.api_key = None
    await classifier(tmp_path, client, fake, moderation_api_key=None).check(Strictness.LOW, text="hello")
    assert "Authorization" not in fake.moderation_requests()[0].headers


@pytest.mark.parametrize("suffix", ["", "/", "/moderations", "/moderations/"])
async def test_the_url_may_name_the_endpoint_or_its_base(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration, suffix: str
) -> None:
    moderation = classifier(tmp_path, client, fake, moderation_api_url=fake.base_url + suffix)
    assert not (await moderation.check(Strictness.MEDIUM, text="hello")).flagged
    assert [request.path for request in fake.requests] == ["/v1/moderations"]


async def test_a_big_image_is_sent_shrunk(tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration) -> None:
    fake.flag_images(colour=RED, sexual=0.9)
    big = png_bytes(4000, 3000, color=RED)
    verdict = await classifier(tmp_path, client, fake).check(Strictness.MEDIUM, images=[big])
    assert verdict.flagged
    [seen] = fake.images_sent()
    assert max(seen.width, seen.height) <= 1568 and (seen.width, seen.height) != (4000, 3000)


async def test_nothing_to_check_is_clean_without_a_call(
    tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration
) -> None:
    assert not (await classifier(tmp_path, client, fake).check(Strictness.HIGH, text="", images=[])).flagged
    assert fake.requests == []


async def test_an_oversized_answer_is_cut_off(tmp_path: Path, client: httpx.AsyncClient, fake: FakeModeration) -> None:
    fake.fail(status="huge")
    with pytest.raises(ModerationUnavailable, match="bytes"):
        await classifier(tmp_path, client, fake).check(Strictness.MEDIUM, text="hello")


def test_there_is_no_classifier_without_a_url(tmp_path: Path, client: httpx.AsyncClient) -> None:
    assert Classifier.from_settings(make_settings(tmp_path, None), client) is None
