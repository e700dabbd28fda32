"""/api/posts and /api/banners: the blog and the promotional banners.

Reading is public and sees only what is live now; admins write, and may list drafts
(`?include_drafts=true`) and inactive banners (`?include_inactive=true`). Times are ISO 8601
with a zone ("2026-12-01T09:00:00Z").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, BeforeValidator, Field, RootModel, StrictBool, StrictInt, StrictStr

from gateway.auth import authenticate
from gateway.models import (
    HTTP_URL_PATTERN,
    LINK_URL_PATTERN,
    SLUG_WITH_LETTER,
    Message,
    Patch,
    QueryParams,
    RequestBody,
)
from gateway.routing import Ctx, Route
from services.kit import timestamps
from services.kit.clients import Metadata
from services.kit.text import NON_BLANK_TEXT_PATTERN
from shop.content.v1 import content_pb2

MAX_TITLE = 200
MAX_BODY = 100_000
MAX_SLUG = 100
MAX_AUTHOR = 100
MAX_TAGS = 20
MAX_TAG = 40
MAX_URL = 2000
MAX_PLACEMENT = 40
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _aware_time(value: Any) -> datetime:
    """An ISO 8601 string with a zone; anything else (numbers, naive times) is refused."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("must be an ISO 8601 time such as 2026-12-01T09:00:00Z") from exc
    if parsed.tzinfo is None:
        raise ValueError("must include a zone (Z or +hh:mm)")
    return timestamps.to_utc(parsed)  # ValueError when the offset leaves years 1-9999


Time = Annotated[datetime, BeforeValidator(_aware_time)]
Tag = Annotated[StrictStr, Field(min_length=1, max_length=MAX_TAG, pattern=NON_BLANK_TEXT_PATTERN)]
Priority = Annotated[StrictInt, Field(ge=INT32_MIN, le=INT32_MAX, description="Higher shows first")]


def _stamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _time(message: Any, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


async def _admin_metadata(ctx: Ctx) -> Metadata:
    """For a public route's admin-only option: the caller must be an admin (401/403 otherwise)."""
    caller = await authenticate(ctx.request, ctx.upstreams, "admin")
    assert caller is not None
    return (("x-request-id", ctx.request_id), ("authorization", f"Bearer {caller.token}"))


# --- posts ------------------------------------------------------------------------------------


class NewPost(RequestBody):
    title: StrictStr = Field(min_length=1, max_length=MAX_TITLE)
    body_markdown: StrictStr = Field(default="", max_length=MAX_BODY, description="Markdown")
    slug: StrictStr = Field(
        default="",
        max_length=MAX_SLUG,
        pattern=f"^$|{SLUG_WITH_LETTER}",
        description="a-z, 0-9 and single hyphens, with a letter; derived from the title when empty",
    )
    author_name: StrictStr = Field(default="", max_length=MAX_AUTHOR, description="The byline")
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)


class PostChanges(Patch):
    title: StrictStr = Field(default="", min_length=1, max_length=MAX_TITLE)
    body_markdown: StrictStr = Field(default="", max_length=MAX_BODY)
    slug: StrictStr = Field(
        default="", min_length=1, max_length=MAX_SLUG, pattern=SLUG_WITH_LETTER, description="Must be free"
    )
    author_name: StrictStr = Field(default="", max_length=MAX_AUTHOR)
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS, description="Replaces all tags")


class Publication(RequestBody):
    publish_time: Time | None = Field(default=None, description="Now when left out; a future time schedules")


class Post(BaseModel):
    id: int
    slug: str
    title: str
    body_markdown: str
    body_html: str = Field(description="Rendered from body_markdown and sanitized: safe to insert")
    author_name: str
    tags: list[str]
    status: Literal["draft", "published"] = Field(description="published with a future time is scheduled")
    publish_time: datetime | None
    create_time: datetime
    update_time: datetime


class PostList(RootModel[list[Post]]):
    """Newest first."""


class PostQuery(QueryParams):
    tag: str = Field(default="", max_length=MAX_TAG)
    page_size: int = Field(default=20, ge=1, le=100)
    page_token: str = Field(default="", max_length=1000)
    include_drafts: bool = Field(default=False, description="Admins only: drafts and scheduled posts too")


class PostPreview(QueryParams):
    preview: bool = Field(default=False, description="Admins only: also a draft or scheduled post")


def _post(post: content_pb2.Post) -> Post:
    return Post(
        id=post.id,
        slug=post.slug,
        title=post.title,
        body_markdown=post.body_markdown,
        body_html=post.body_html,
        author_name=post.author_name,
        tags=list(post.tags),
        status="published" if post.status == content_pb2.POST_STATUS_PUBLISHED else "draft",
        publish_time=_time(post, "publish_time"),
        create_time=post.create_time.ToDatetime(tzinfo=UTC),
        update_time=post.update_time.ToDatetime(tzinfo=UTC),
    )


async def list_posts(ctx: Ctx) -> PostList:
    query = ctx.query(PostQuery)
    metadata = await _admin_metadata(ctx) if query.include_drafts else ctx.metadata
    reply = await ctx.upstreams.content.ListPosts(
        content_pb2.ListPostsRequest(
            page_size=query.page_size,
            page_token=query.page_token,
            tag=query.tag,
            include_unpublished=query.include_drafts,
        ),
        metadata=metadata,
    )
    ctx.next_page(reply.next_page_token)
    return PostList([_post(p) for p in reply.posts])


def _post_key(ctx: Ctx) -> content_pb2.GetPostRequest:
    ref = ctx.ref()
    if isinstance(ref, int):
        return content_pb2.GetPostRequest(id=ref)
    return content_pb2.GetPostRequest(slug=ref)


async def _post_id(ctx: Ctx) -> int:
    """The id of the post `{ref}` names; a slug costs one lookup (admins see drafts too)."""
    ref = ctx.ref()
    if isinstance(ref, int):
        return ref
    reply = await ctx.upstreams.content.GetPost(_post_key(ctx), metadata=ctx.metadata)
    post_id: int = reply.post.id
    return post_id


async def get_post(ctx: Ctx) -> Post:
    metadata = await _admin_metadata(ctx) if ctx.query(PostPreview).preview else ctx.metadata
    reply = await ctx.upstreams.content.GetPost(_post_key(ctx), metadata=metadata)
    return _post(reply.post)


async def create_post(ctx: Ctx) -> Post:
    body = ctx.body(NewPost)
    reply = await ctx.upstreams.content.CreatePost(
        content_pb2.CreatePostRequest(
            slug=body.slug,
            title=body.title,
            body_markdown=body.body_markdown,
            author_name=body.author_name,
            tags=body.tags,
        ),
        metadata=ctx.metadata,
    )
    return _post(reply.post)


async def update_post(ctx: Ctx) -> Post:
    body = ctx.body(PostChanges)
    given = body.model_fields_set
    request = content_pb2.UpdatePostRequest(id=await _post_id(ctx))
    for name in ("title", "body_markdown", "slug", "author_name"):
        if name in given:
            setattr(request, name, getattr(body, name))
    if "tags" in given:
        request.tags.CopyFrom(content_pb2.Tags(values=body.tags))
    reply = await ctx.upstreams.content.UpdatePost(request, metadata=ctx.metadata)
    return _post(reply.post)


async def publish_post(ctx: Ctx) -> Post:
    body = ctx.body(Publication)
    request = content_pb2.PublishPostRequest(id=await _post_id(ctx))
    if body.publish_time is not None:
        request.publish_time.CopyFrom(_stamp(body.publish_time))
    reply = await ctx.upstreams.content.PublishPost(request, metadata=ctx.metadata)
    return _post(reply.post)


async def unpublish_post(ctx: Ctx) -> Post:
    reply = await ctx.upstreams.content.UnpublishPost(
        content_pb2.UnpublishPostRequest(id=await _post_id(ctx)), metadata=ctx.metadata
    )
    return _post(reply.post)


async def delete_post(ctx: Ctx) -> Message:
    await ctx.upstreams.content.DeletePost(
        content_pb2.DeletePostRequest(id=await _post_id(ctx)), metadata=ctx.metadata
    )
    return Message(message="Post deleted")


# --- banners ----------------------------------------------------------------------------------


class NewBanner(RequestBody):
    image_url: StrictStr = Field(
        min_length=1, max_length=MAX_URL, pattern=HTTP_URL_PATTERN, description="An http(s) URL"
    )
    placement: StrictStr = Field(
        min_length=1, max_length=MAX_PLACEMENT, description='The slot, e.g. "home_hero"'
    )
    title: StrictStr = Field(default="", max_length=MAX_TITLE)
    link_url: StrictStr = Field(
        default="",
        max_length=MAX_URL,
        pattern=LINK_URL_PATTERN,
        description="A shop path (/sale) or an http(s) URL",
    )
    start_time: Time | None = Field(default=None, description="Shown at once when left out")
    end_time: Time | None = Field(default=None, description="Shown until switched off when left out")
    priority: Priority = 0
    active: StrictBool = Field(default=True, description="The admin's switch")


class BannerChanges(Patch):
    image_url: StrictStr = Field(default="", min_length=1, max_length=MAX_URL, pattern=HTTP_URL_PATTERN)
    placement: StrictStr = Field(default="", min_length=1, max_length=MAX_PLACEMENT)
    title: StrictStr = Field(default="", max_length=MAX_TITLE)
    link_url: StrictStr = Field(default="", max_length=MAX_URL, pattern=LINK_URL_PATTERN)
    start_time: Time = Field(
        default=datetime(1970, 1, 1, tzinfo=UTC), description="Can be moved, not cleared"
    )
    end_time: Time = Field(default=datetime(1970, 1, 1, tzinfo=UTC), description="Can be moved, not cleared")
    priority: Priority = 0
    active: StrictBool = False


class Banner(BaseModel):
    id: int
    title: str
    image_url: str
    link_url: str
    placement: str
    start_time: datetime | None
    end_time: datetime | None
    priority: int
    active: bool
    create_time: datetime
    update_time: datetime


class BannerList(RootModel[list[Banner]]):
    """Highest priority first, then newest."""


class BannerQuery(QueryParams):
    placement: str = Field(default="", max_length=MAX_PLACEMENT, description="Every placement when empty")
    page_size: int = Field(default=20, ge=1, le=100)
    page_token: str = Field(default="", max_length=1000)
    include_inactive: bool = Field(
        default=False, description="Admins only: switched-off, future and expired banners too"
    )


def _banner(banner: content_pb2.Banner) -> Banner:
    return Banner(
        id=banner.id,
        title=banner.title,
        image_url=banner.image_url,
        link_url=banner.link_url,
        placement=banner.placement,
        start_time=_time(banner, "start_time"),
        end_time=_time(banner, "end_time"),
        priority=banner.priority,
        active=banner.active,
        create_time=banner.create_time.ToDatetime(tzinfo=UTC),
        update_time=banner.update_time.ToDatetime(tzinfo=UTC),
    )


async def list_banners(ctx: Ctx) -> BannerList:
    query = ctx.query(BannerQuery)
    metadata = await _admin_metadata(ctx) if query.include_inactive else ctx.metadata
    reply = await ctx.upstreams.content.ListBanners(
        content_pb2.ListBannersRequest(
            page_size=query.page_size,
            page_token=query.page_token,
            placement=query.placement,
            include_inactive=query.include_inactive,
        ),
        metadata=metadata,
    )
    ctx.next_page(reply.next_page_token)
    return BannerList([_banner(b) for b in reply.banners])


async def get_banner(ctx: Ctx) -> Banner:
    reply = await ctx.upstreams.content.GetBanner(
        content_pb2.GetBannerRequest(id=ctx.id("id")), metadata=ctx.metadata
    )
    return _banner(reply.banner)


async def create_banner(ctx: Ctx) -> Banner:
    body = ctx.body(NewBanner)
    request = content_pb2.CreateBannerRequest(
        title=body.title,
        image_url=body.image_url,
        link_url=body.link_url,
        placement=body.placement,
        priority=body.priority,
        active=body.active,
    )
    if body.start_time is not None:
        request.start_time.CopyFrom(_stamp(body.start_time))
    if body.end_time is not None:
        request.end_time.CopyFrom(_stamp(body.end_time))
    reply = await ctx.upstreams.content.CreateBanner(request, metadata=ctx.metadata)
    return _banner(reply.banner)


async def update_banner(ctx: Ctx) -> Banner:
    body = ctx.body(BannerChanges)
    given = body.model_fields_set
    request = content_pb2.UpdateBannerRequest(id=ctx.id("id"))
    for name in ("title", "image_url", "link_url", "placement", "priority", "active"):
        if name in given:
            setattr(request, name, getattr(body, name))
    for name in ("start_time", "end_time"):
        if name in given:
            getattr(request, name).CopyFrom(_stamp(getattr(body, name)))
    reply = await ctx.upstreams.content.UpdateBanner(request, metadata=ctx.metadata)
    return _banner(reply.banner)


async def delete_banner(ctx: Ctx) -> Message:
    await ctx.upstreams.content.DeleteBanner(
        content_pb2.DeleteBannerRequest(id=ctx.id("id")), metadata=ctx.metadata
    )
    return Message(message="Banner deleted")


POSTS = ("posts",)
BANNERS = ("banners",)
ROUTES = [
    Route(
        "GET",
        "/posts/",
        list_posts,
        "Published posts, newest first (admins: drafts too)",
        POSTS,
        response=PostList,
        query=PostQuery,
        paged=True,
        errors=(401, 403),
    ),
    Route(
        "POST",
        "/posts/",
        create_post,
        "Write a post (created as a draft)",
        POSTS,
        auth="admin",
        request=NewPost,
        response=Post,
        status=201,
        errors=(409,),
    ),
    Route(
        "GET",
        "/posts/{ref}",
        get_post,
        "One published post by its slug or id",
        POSTS,
        response=Post,
        query=PostPreview,
        errors=(401, 403),
    ),
    Route(
        "PUT",
        "/posts/{ref}",
        update_post,
        "Change any of title, body, slug, byline, tags (a new title keeps the slug)",
        POSTS,
        auth="admin",
        request=PostChanges,
        response=Post,
        errors=(409,),
    ),
    Route(
        "DELETE", "/posts/{ref}", delete_post, "Delete a post for good", POSTS, auth="admin", response=Message
    ),
    Route(
        "POST",
        "/posts/{ref}/publish",
        publish_post,
        "Publish a post now, or schedule it",
        POSTS,
        auth="admin",
        request=Publication,
        request_optional=True,
        response=Post,
    ),
    Route(
        "POST",
        "/posts/{ref}/unpublish",
        unpublish_post,
        "Take a post back to draft",
        POSTS,
        auth="admin",
        response=Post,
    ),
    Route(
        "GET",
        "/banners/",
        list_banners,
        "Banners live now, highest priority first (admins: all)",
        BANNERS,
        response=BannerList,
        query=BannerQuery,
        paged=True,
        errors=(401, 403),
    ),
    Route(
        "POST",
        "/banners/",
        create_banner,
        "Add a banner",
        BANNERS,
        auth="admin",
        request=NewBanner,
        response=Banner,
        status=201,
    ),
    Route("GET", "/banners/{id}", get_banner, "One banner", BANNERS, auth="admin", response=Banner),
    Route(
        "PUT",
        "/banners/{id}",
        update_banner,
        "Change any of a banner's fields (times can be moved, not cleared)",
        BANNERS,
        auth="admin",
        request=BannerChanges,
        response=Banner,
    ),
    Route(
        "DELETE", "/banners/{id}", delete_banner, "Delete a banner", BANNERS, auth="admin", response=Message
    ),
]
