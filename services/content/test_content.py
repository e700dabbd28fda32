"""The content service through real gRPC, with a clock the tests move instead of sleeping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from html.parser import HTMLParser
from uuid import uuid4

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.content import domain
from services.content.service import build_with_clock
from services.kit import timestamps
from services.kit.server import start
from shop.content.v1 import content_pb2, content_pb2_grpc
from tests.support.clock import FakeClock
from tests.support.harness import Platform
from tests.support.ports import free_port
from tests.support.tokens import TokenFactory, bearer

Stub = content_pb2_grpc.ContentServiceStub
Metadata = tuple[tuple[str, str]]


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
async def content(platform: Platform, clock: FakeClock) -> AsyncIterator[Stub]:
    running = await start(platform.settings("content", grpc_port=free_port()), build_with_clock(clock))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield content_pb2_grpc.ContentServiceStub(channel)
    finally:
        await channel.close()
        await running.stop(grace=0)


@pytest.fixture
def admin(tokens: TokenFactory) -> Metadata:
    return bearer(tokens.admin(1))


@pytest.fixture
def customer(tokens: TokenFactory) -> Metadata:
    return bearer(tokens.customer(9_000_042))


def _stamp(at: datetime) -> Timestamp:
    return timestamps.to_proto(at)


async def _post(stub: Stub, admin: Metadata, **fields: object) -> content_pb2.Post:
    fields.setdefault("title", f"Post {uuid4().hex[:8]}")
    reply = await stub.CreatePost(content_pb2.CreatePostRequest(**fields), metadata=admin)  # type: ignore[arg-type]
    post: content_pb2.Post = reply.post
    return post


async def _published(stub: Stub, admin: Metadata, **fields: object) -> content_pb2.Post:
    post = await _post(stub, admin, **fields)
    reply = await stub.PublishPost(content_pb2.PublishPostRequest(id=post.id), metadata=admin)
    published: content_pb2.Post = reply.post
    return published


async def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    code: grpc.StatusCode = err.value.code()
    return code


# --- posts: lifecycle and visibility ------------------------------------------------------------


async def test_a_post_is_created_as_a_draft_and_public_once_published(
    content: Stub, admin: Metadata, customer: Metadata
) -> None:
    tag = uuid4().hex[:10]
    post = await _post(
        content, admin, title="Hello, World!", body_markdown="Some **bold** words", tags=[tag, "News"]
    )
    assert post.status == content_pb2.POST_STATUS_DRAFT
    assert post.slug.startswith("hello-world")
    assert post.body_html == "<p>Some <strong>bold</strong> words</p>\n"
    assert list(post.tags) == [tag, "news"]
    assert post.author_id == 1
    assert post.author_name == domain.DEFAULT_AUTHOR
    assert not post.HasField("publish_time")

    for who in (None, customer):
        assert await _code(content.GetPost(content_pb2.GetPostRequest(id=post.id), metadata=who)) == (
            grpc.StatusCode.NOT_FOUND
        )
        by_slug = content.GetPost(content_pb2.GetPostRequest(slug=post.slug), metadata=who)
        assert await _code(by_slug) == grpc.StatusCode.NOT_FOUND
        listed = await content.ListPosts(content_pb2.ListPostsRequest(tag=tag), metadata=who)
        assert list(listed.posts) == []
    assert (await content.GetPost(content_pb2.GetPostRequest(id=post.id), metadata=admin)).post == post

    published = await content.PublishPost(content_pb2.PublishPostRequest(id=post.id), metadata=admin)
    assert published.post.status == content_pb2.POST_STATUS_PUBLISHED
    assert published.post.publish_time.seconds > 0
    got = await content.GetPost(content_pb2.GetPostRequest(slug=post.slug))
    assert (got.post.id, got.post.title) == (post.id, "Hello, World!")
    listed = await content.ListPosts(content_pb2.ListPostsRequest(tag=tag))
    assert [p.id for p in listed.posts] == [post.id]

    unpublished = await content.UnpublishPost(content_pb2.UnpublishPostRequest(id=post.id), metadata=admin)
    assert unpublished.post.status == content_pb2.POST_STATUS_DRAFT
    assert unpublished.post.publish_time == published.post.publish_time
    assert await _code(content.GetPost(content_pb2.GetPostRequest(slug=post.slug))) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert list((await content.ListPosts(content_pb2.ListPostsRequest(tag=tag))).posts) == []

    await content.DeletePost(content_pb2.DeletePostRequest(id=post.id), metadata=admin)
    gone = content.GetPost(content_pb2.GetPostRequest(id=post.id), metadata=admin)
    assert await _code(gone) == grpc.StatusCode.NOT_FOUND
    again = content.DeletePost(content_pb2.DeletePostRequest(id=post.id), metadata=admin)
    assert await _code(again) == grpc.StatusCode.NOT_FOUND


async def test_a_scheduled_post_appears_exactly_when_its_time_comes(
    content: Stub, admin: Metadata, clock: FakeClock
) -> None:
    tag = uuid4().hex[:10]
    post = await _post(content, admin, tags=[tag])
    at = clock.now + timedelta(hours=2)
    scheduled = await content.PublishPost(
        content_pb2.PublishPostRequest(id=post.id, publish_time=_stamp(at)), metadata=admin
    )
    assert scheduled.post.status == content_pb2.POST_STATUS_PUBLISHED
    assert scheduled.post.publish_time.ToDatetime() == at.replace(tzinfo=None)

    async def public_ids() -> list[int]:
        reply = await content.ListPosts(content_pb2.ListPostsRequest(tag=tag))
        return [p.id for p in reply.posts]

    assert await public_ids() == []
    assert await _code(content.GetPost(content_pb2.GetPostRequest(slug=post.slug))) == (
        grpc.StatusCode.NOT_FOUND
    )
    everything = await content.ListPosts(
        content_pb2.ListPostsRequest(tag=tag, include_unpublished=True), metadata=admin
    )
    assert [p.id for p in everything.posts] == [post.id]

    clock.now = at - timedelta(microseconds=1)
    assert await public_ids() == []
    clock.now = at
    assert await public_ids() == [post.id]
    assert (await content.GetPost(content_pb2.GetPostRequest(slug=post.slug))).post.id == post.id


async def test_lists_are_newest_first_by_tag_and_page_through_everything_once(
    content: Stub, admin: Metadata, customer: Metadata, clock: FakeClock
) -> None:
    tag, other = uuid4().hex[:10], uuid4().hex[:10]
    ids = []
    for _ in range(5):
        clock.advance(timedelta(minutes=1))
        ids.append((await _published(content, admin, tags=[tag])).id)
    await _published(content, admin, tags=[other])
    draft = await _post(content, admin, tags=[tag])

    seen: list[int] = []
    token = ""
    while True:
        page = await content.ListPosts(
            content_pb2.ListPostsRequest(tag=tag.upper(), page_size=2, page_token=token)
        )
        assert len(page.posts) <= 2
        seen += [p.id for p in page.posts]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids[::-1]

    # Customers cannot see drafts by asking; admins can.
    asked = await content.ListPosts(
        content_pb2.ListPostsRequest(tag=tag, include_unpublished=True), metadata=customer
    )
    assert draft.id not in [p.id for p in asked.posts]
    admin_view = await content.ListPosts(
        content_pb2.ListPostsRequest(tag=tag, include_unpublished=True), metadata=admin
    )
    assert {p.id for p in admin_view.posts} == {*ids, draft.id}


@pytest.mark.parametrize("token", ["%%%", "bm90LWpzb24", "eyJhZnRlciI6IDV9", "eyJhZnRlciI6ICJwLjEuMiJ9x"])
async def test_garbage_page_tokens_are_invalid_argument(content: Stub, token: str) -> None:
    for call in (
        content.ListPosts(content_pb2.ListPostsRequest(page_token=token)),
        content.ListBanners(content_pb2.ListBannersRequest(page_token=token)),
    ):
        assert await _code(call) == grpc.StatusCode.INVALID_ARGUMENT


async def test_update_changes_only_given_fields(content: Stub, admin: Metadata) -> None:
    post = await _post(content, admin, body_markdown="old", tags=["a", "b"], author_name="Ann")
    updated = await content.UpdatePost(
        content_pb2.UpdatePostRequest(id=post.id, body_markdown="# New"), metadata=admin
    )
    assert updated.post.body_html == "<h1>New</h1>\n"
    assert (updated.post.title, list(updated.post.tags), updated.post.author_name) == (
        post.title,
        ["a", "b"],
        "Ann",
    )
    cleared = await content.UpdatePost(
        content_pb2.UpdatePostRequest(id=post.id, tags=content_pb2.Tags(values=[])), metadata=admin
    )
    assert list(cleared.post.tags) == []
    assert cleared.post.body_markdown == "# New"
    missing = content.UpdatePost(content_pb2.UpdatePostRequest(id=2**62, title="x"), metadata=admin)
    assert await _code(missing) == grpc.StatusCode.NOT_FOUND


# --- slugs --------------------------------------------------------------------------------------


async def test_slugs_are_derived_suffixed_and_stable(content: Stub, admin: Metadata) -> None:
    title = f"Summer Sale {uuid4().hex[:8]}"
    base = domain.slugify(title)
    slugs = [(await _post(content, admin, title=title)).slug for _ in range(3)]
    assert slugs == [base, f"{base}-2", f"{base}-3"]

    post = await _post(content, admin, title=title)
    renamed = await content.UpdatePost(
        content_pb2.UpdatePostRequest(id=post.id, title="Something else entirely"), metadata=admin
    )
    assert (renamed.post.title, renamed.post.slug) == ("Something else entirely", f"{base}-4")

    free = f"chosen-{uuid4().hex[:8]}"
    moved = await content.UpdatePost(content_pb2.UpdatePostRequest(id=post.id, slug=free), metadata=admin)
    assert moved.post.slug == free
    same = await content.UpdatePost(content_pb2.UpdatePostRequest(id=post.id, slug=free), metadata=admin)
    assert same.post.slug == free
    taken = content.UpdatePost(content_pb2.UpdatePostRequest(id=post.id, slug=base), metadata=admin)
    assert await _code(taken) == grpc.StatusCode.ALREADY_EXISTS
    assert (await content.GetPost(content_pb2.GetPostRequest(id=post.id), metadata=admin)).post.slug == free
    # The freed suffix is taken again by the next post of that title.
    assert (await _post(content, admin, title=title)).slug == f"{base}-4"


async def test_an_explicit_slug_must_be_free_and_well_formed(content: Stub, admin: Metadata) -> None:
    slug = f"my-post-{uuid4().hex[:8]}"
    post = await _post(content, admin, title="Anything", slug=slug)
    assert post.slug == slug
    again = content.CreatePost(content_pb2.CreatePostRequest(title="Other", slug=slug), metadata=admin)
    assert await _code(again) == grpc.StatusCode.ALREADY_EXISTS
    # A post with a derived slug never takes an explicit one: it gets the next suffix.
    assert (await _post(content, admin, title=slug)).slug == f"{slug}-2"
    malformed = ("Upper", "two  spaces", "-lead", "trail-", "dou--ble", "ümlaut", "a/b", "x" * 101)
    for bad in (*malformed, "2025", "12-31"):
        created = content.CreatePost(content_pb2.CreatePostRequest(title="T", slug=bad), metadata=admin)
        assert await _code(created) == grpc.StatusCode.INVALID_ARGUMENT, bad
        changed = content.UpdatePost(content_pb2.UpdatePostRequest(id=post.id, slug=bad), metadata=admin)
        assert await _code(changed) == grpc.StatusCode.INVALID_ARGUMENT, bad


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("  Café — crème brûlée  ", "cafe-creme-brulee"),
        ("50% off: TODAY only!!", "50-off-today-only"),
        ("日本語", "post"),
        ("---", "post"),
        ("a" * 150, "a" * 80),
        # All digits would read as an id in /api/posts/{ref}.
        ("2025", "post-2025"),
        ("12/31", "post-12-31"),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert domain.slugify(title) == slug


def test_first_free_suffix() -> None:
    assert domain.first_free("x", []) == "x"
    assert domain.first_free("x", ["x", "x-2", "x-4", "x-other"]) == "x-3"


# --- Markdown ---------------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _parsed(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _assert_inert(html: str) -> None:
    for tag, attrs in _parsed(html):
        assert tag not in {"script", "iframe", "object", "embed", "style", "svg", "form", "input"}, html
        for name, value in attrs.items():
            assert not name.startswith("on"), html
            if name in ("href", "src"):
                scheme = (value or "").split(":", 1)[0].lower() if ":" in (value or "") else ""
                assert scheme in ("", "http", "https", "mailto"), html


@pytest.mark.parametrize(
    ("markdown", "absent"),
    [
        ("<script>alert(1)</script>", "<script"),
        ("hi <script src='https://evil.example/x.js'></script>", "<script"),
        ("[click](javascript:alert(1))", 'href="javascript'),
        ("[click](JaVaScRiPt:alert(1))", "href="),
        ("<javascript:alert(1)>", "href="),
        ('<a href="javascript:alert(1)">x</a>', "<a "),
        ('<img src="x" onerror="alert(1)">', "<img"),
        ('<div onclick="alert(1)">x</div>', "<div"),
        ('<iframe src="https://evil.example"></iframe>', "<iframe"),
        ("[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", 'href="data'),
        ("![pixel](data:image/png;base64,iVBORw0KGgo=)", 'src="data'),
        ('[t](https://ok.example "x\\" onmouseover=\\"alert(1)")', 'onmouseover="'),
        ("<!-- comment --><style>body{}</style>", "<style"),
    ],
)
async def test_dangerous_markdown_comes_out_inert(
    content: Stub, admin: Metadata, markdown: str, absent: str
) -> None:
    post = await _post(content, admin, body_markdown=markdown)
    assert post.body_markdown == markdown
    assert absent not in post.body_html
    _assert_inert(post.body_html)


async def test_safe_markdown_renders_with_safe_links(content: Stub, admin: Metadata) -> None:
    markdown = (
        "## Title\n\n- [site](https://shop.example/sale)\n- [mail](mailto:team@shop.example)\n"
        "- [page](/products/1)\n\n![photo](https://img.example/a.png)\n\n`code` and ~~old~~"
    )
    html = (await _post(content, admin, body_markdown=markdown)).body_html
    links = [attrs for tag, attrs in _parsed(html) if tag == "a"]
    assert [a["href"] for a in links] == [
        "https://shop.example/sale",
        "mailto:team@shop.example",
        "/products/1",
    ]
    assert all(a["rel"] == "noopener nofollow" for a in links)
    assert ("img", {"src": "https://img.example/a.png", "alt": "photo"}) in _parsed(html)
    assert "<h2>Title</h2>" in html
    assert "<code>code</code>" in html
    assert "<s>old</s>" in html


# --- input limits and permissions ---------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        content_pb2.CreatePostRequest(title=""),
        content_pb2.CreatePostRequest(title="   "),
        content_pb2.CreatePostRequest(title="x" * 201),
        content_pb2.CreatePostRequest(title="x", body_markdown="x" * 100_001),
        content_pb2.CreatePostRequest(title="x", tags=[f"t{i}" for i in range(21)]),
        content_pb2.CreatePostRequest(title="x", tags=["x" * 41]),
        content_pb2.CreatePostRequest(title="x", tags=[""]),
        content_pb2.CreatePostRequest(title="x", tags=["a\nb"]),
        content_pb2.CreatePostRequest(title="x", author_name="x" * 101),
    ],
)
async def test_invalid_posts_are_rejected(
    content: Stub, admin: Metadata, request_: content_pb2.CreatePostRequest
) -> None:
    assert await _code(content.CreatePost(request_, metadata=admin)) == grpc.StatusCode.INVALID_ARGUMENT


async def test_limits_are_inclusive(content: Stub, admin: Metadata) -> None:
    post = await _post(
        content,
        admin,
        title="x" * 200,
        body_markdown="y" * 100_000,
        tags=[f"{i:02d}" + "t" * 38 for i in range(20)],
    )
    assert len(post.title) == 200
    assert len(post.tags) == 20
    too_long = content.UpdatePost(content_pb2.UpdatePostRequest(id=post.id, title="x" * 201), metadata=admin)
    assert await _code(too_long) == grpc.StatusCode.INVALID_ARGUMENT
    too_many = content.UpdatePost(
        content_pb2.UpdatePostRequest(id=post.id, tags=content_pb2.Tags(values=[str(i) for i in range(21)])),
        metadata=admin,
    )
    assert await _code(too_many) == grpc.StatusCode.INVALID_ARGUMENT


async def test_get_post_needs_a_key(content: Stub) -> None:
    assert await _code(content.GetPost(content_pb2.GetPostRequest())) == grpc.StatusCode.INVALID_ARGUMENT


def _admin_calls(stub: Stub) -> Sequence[tuple[str, object, object]]:
    return [
        ("CreatePost", stub.CreatePost, content_pb2.CreatePostRequest(title="x")),
        ("UpdatePost", stub.UpdatePost, content_pb2.UpdatePostRequest(id=1, title="x")),
        ("PublishPost", stub.PublishPost, content_pb2.PublishPostRequest(id=1)),
        ("UnpublishPost", stub.UnpublishPost, content_pb2.UnpublishPostRequest(id=1)),
        ("DeletePost", stub.DeletePost, content_pb2.DeletePostRequest(id=1)),
        ("CreateBanner", stub.CreateBanner, _banner_request("home_hero")),
        ("UpdateBanner", stub.UpdateBanner, content_pb2.UpdateBannerRequest(id=1, title="x")),
        ("DeleteBanner", stub.DeleteBanner, content_pb2.DeleteBannerRequest(id=1)),
    ]


async def test_writes_need_an_admin(content: Stub, customer: Metadata) -> None:
    for name, method, request in _admin_calls(content):
        denied = await _code(method(request, metadata=customer))  # type: ignore[operator]
        assert denied == grpc.StatusCode.PERMISSION_DENIED, name
        anonymous = await _code(method(request))  # type: ignore[operator]
        assert anonymous == grpc.StatusCode.UNAUTHENTICATED, name


# --- banners ------------------------------------------------------------------------------------


def _banner_request(placement: object, **fields: object) -> content_pb2.CreateBannerRequest:
    values: dict[str, object] = {
        "title": "Sale",
        "image_url": "https://img.example/hero.png",
        "link_url": "/sale",
        "placement": placement,
        "active": True,
    }
    values.update(fields)
    return content_pb2.CreateBannerRequest(**values)  # type: ignore[arg-type]


def _placement() -> str:
    return f"p_{uuid4().hex[:12]}"


async def _live(stub: Stub, placement: str, metadata: Metadata | None = None) -> list[int]:
    reply = await stub.ListBanners(content_pb2.ListBannersRequest(placement=placement), metadata=metadata)
    return [b.id for b in reply.banners]


async def test_a_banner_is_served_only_within_its_window(
    content: Stub, admin: Metadata, clock: FakeClock
) -> None:
    placement = _placement()
    start_at, end_at = clock.now + timedelta(hours=1), clock.now + timedelta(hours=3)
    banner = (
        await content.CreateBanner(
            _banner_request(placement, start_time=_stamp(start_at), end_time=_stamp(end_at)), metadata=admin
        )
    ).banner
    assert (banner.image_url, banner.link_url, banner.placement) == (
        "https://img.example/hero.png",
        "/sale",
        placement,
    )
    get = content_pb2.GetBannerRequest(id=banner.id)
    assert await _live(content, placement) == []
    assert await _code(content.GetBanner(get)) == grpc.StatusCode.NOT_FOUND
    assert (await content.GetBanner(get, metadata=admin)).banner == banner

    clock.now = start_at - timedelta(microseconds=1)
    assert await _live(content, placement) == []
    clock.now = start_at
    assert await _live(content, placement) == [banner.id]
    assert (await content.GetBanner(get)).banner.id == banner.id
    clock.now = end_at - timedelta(microseconds=1)
    assert await _live(content, placement) == [banner.id]
    clock.now = end_at
    assert await _live(content, placement) == []
    assert await _code(content.GetBanner(get)) == grpc.StatusCode.NOT_FOUND

    everything = await content.ListBanners(
        content_pb2.ListBannersRequest(placement=placement, include_inactive=True), metadata=admin
    )
    assert [b.id for b in everything.banners] == [banner.id]


async def test_switching_a_banner_off_hides_it(content: Stub, admin: Metadata, tokens: TokenFactory) -> None:
    placement = _placement()
    banner = (await content.CreateBanner(_banner_request(placement), metadata=admin)).banner
    assert not banner.HasField("start_time")
    assert not banner.HasField("end_time")
    assert await _live(content, placement) == [banner.id]
    off = await content.UpdateBanner(
        content_pb2.UpdateBannerRequest(id=banner.id, active=False), metadata=admin
    )
    assert off.banner.active is False
    assert off.banner.title == "Sale"
    assert await _live(content, placement) == []
    # Customers cannot see inactive banners by asking.
    asked = await content.ListBanners(
        content_pb2.ListBannersRequest(placement=placement, include_inactive=True),
        metadata=bearer(tokens.customer(9_000_005)),
    )
    assert list(asked.banners) == []
    await content.DeleteBanner(content_pb2.DeleteBannerRequest(id=banner.id), metadata=admin)
    gone = content.GetBanner(content_pb2.GetBannerRequest(id=banner.id), metadata=admin)
    assert await _code(gone) == grpc.StatusCode.NOT_FOUND
    again = content.DeleteBanner(content_pb2.DeleteBannerRequest(id=banner.id), metadata=admin)
    assert await _code(again) == grpc.StatusCode.NOT_FOUND


async def test_banners_are_ordered_by_priority_then_newest_across_pages(
    content: Stub, admin: Metadata, clock: FakeClock
) -> None:
    placement = _placement()
    made: dict[str, int] = {}
    for name, priority in (("low-old", 1), ("high-old", 5), ("low-new", 1), ("high-new", 5), ("mid", 3)):
        clock.advance(timedelta(seconds=1))
        reply = await content.CreateBanner(_banner_request(placement, priority=priority), metadata=admin)
        made[name] = reply.banner.id
    expected = [made[n] for n in ("high-new", "high-old", "mid", "low-new", "low-old")]
    assert await _live(content, placement) == expected

    seen: list[int] = []
    token = ""
    while True:
        page = await content.ListBanners(
            content_pb2.ListBannersRequest(placement=placement, page_size=2, page_token=token)
        )
        seen += [b.id for b in page.banners]
        token = page.next_page_token
        if not token:
            break
    assert seen == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"image_url": ""},
        {"image_url": "javascript:alert(1)"},
        {"image_url": "data:image/png;base64,iVBORw0KGgo="},
        {"image_url": "ftp://img.example/a.png"},
        {"image_url": "/relative.png"},
        {"image_url": "https://"},
        {"image_url": "https://img.example/a b.png"},
        {"link_url": "javascript:alert(1)"},
        {"link_url": "JAVASCRIPT:alert(1)"},
        {"link_url": "data:text/html,<script>alert(1)</script>"},
        {"link_url": "//evil.example"},
        {"link_url": "vbscript:x"},
        {"placement": ""},
        {"placement": "Home Hero"},
        {"placement": "x" * 41},
        {"title": "x" * 201},
    ],
)
async def test_invalid_banners_are_rejected(
    content: Stub, admin: Metadata, fields: dict[str, object]
) -> None:
    reply = content.CreateBanner(_banner_request(**{"placement": "home_hero", **fields}), metadata=admin)
    assert await _code(reply) == grpc.StatusCode.INVALID_ARGUMENT


async def test_banner_times_must_make_a_window(content: Stub, admin: Metadata, clock: FakeClock) -> None:
    now = clock.now
    backwards = _banner_request(
        "home_hero", start_time=_stamp(now), end_time=_stamp(now - timedelta(hours=1))
    )
    assert await _code(content.CreateBanner(backwards, metadata=admin)) == grpc.StatusCode.INVALID_ARGUMENT
    empty = _banner_request("home_hero", start_time=_stamp(now), end_time=_stamp(now))
    assert await _code(content.CreateBanner(empty, metadata=admin)) == grpc.StatusCode.INVALID_ARGUMENT

    placement = _placement()
    banner = (
        await content.CreateBanner(
            _banner_request(placement, end_time=_stamp(now + timedelta(hours=1))), metadata=admin
        )
    ).banner
    before_start = content.UpdateBanner(
        content_pb2.UpdateBannerRequest(id=banner.id, start_time=_stamp(now + timedelta(hours=2))),
        metadata=admin,
    )
    assert await _code(before_start) == grpc.StatusCode.INVALID_ARGUMENT
    moved = await content.UpdateBanner(
        content_pb2.UpdateBannerRequest(id=banner.id, end_time=_stamp(now + timedelta(days=1))),
        metadata=admin,
    )
    assert moved.banner.end_time.ToDatetime() == (now + timedelta(days=1)).replace(tzinfo=None)
    bad_url = content.UpdateBanner(
        content_pb2.UpdateBannerRequest(id=banner.id, image_url="javascript:x"), metadata=admin
    )
    assert await _code(bad_url) == grpc.StatusCode.INVALID_ARGUMENT
    missing = content.UpdateBanner(content_pb2.UpdateBannerRequest(id=2**62, title="x"), metadata=admin)
    assert await _code(missing) == grpc.StatusCode.NOT_FOUND


async def test_links_may_be_shop_paths_or_http_urls(content: Stub, admin: Metadata) -> None:
    for link in ("/sale?x=1", "https://partner.example/x", "http://partner.example", ""):
        reply = await content.CreateBanner(_banner_request(_placement(), link_url=link), metadata=admin)
        assert reply.banner.link_url == link


# --- the default build ----------------------------------------------------------------------------


async def test_the_default_build_uses_the_real_clock(platform: Platform, tokens: TokenFactory) -> None:
    await platform.start("content")
    stub = platform.stub(content_pb2_grpc.ContentServiceStub, "content")
    admin = bearer(tokens.admin())
    post = await _published(stub, admin)
    assert (await stub.GetPost(content_pb2.GetPostRequest(slug=post.slug))).post.id == post.id
