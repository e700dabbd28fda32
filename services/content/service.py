"""The content gRPC servicer: blog posts and promotional banners.

Admins write and see everything; everyone else sees only what is live now (a post published and
due, a banner switched on and within its window). "Now" comes from the servicer's clock, so tests
move time instead of sleeping: `build_with_clock(clock)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.kit import paging, principal, timestamps
from services.kit.errors import DomainError, invalid
from services.kit.server import Build, Registration, Runtime
from shop.content.v1 import content_pb2, content_pb2_grpc

from . import domain
from .domain import BannerCursor, Clock, ContentError, PostCursor
from .store import (
    BannerChanges,
    BannerRow,
    ContentStore,
    NewBanner,
    NewPost,
    PostChanges,
    PostRow,
    SlugTaken,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _is_admin() -> bool:
    caller = principal.current()
    return caller is not None and caller.is_admin


def _time(stamp: Timestamp, field: str) -> datetime:
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise invalid(f"{field} is not a valid time") from exc


def _post_to_proto(row: PostRow) -> content_pb2.Post:
    post = content_pb2.Post(
        id=row.id,
        slug=row.slug,
        title=row.title,
        body_markdown=row.body_markdown,
        body_html=row.body_html,
        author_id=row.author_id,
        author_name=row.author_name,
        tags=row.tags,
        status=content_pb2.POST_STATUS_PUBLISHED if row.published else content_pb2.POST_STATUS_DRAFT,
        create_time=timestamps.to_proto(row.created_at),
        update_time=timestamps.to_proto(row.updated_at),
    )
    if row.publish_at is not None:
        post.publish_time.CopyFrom(timestamps.to_proto(row.publish_at))
    return post


def _banner_to_proto(row: BannerRow) -> content_pb2.Banner:
    banner = content_pb2.Banner(
        id=row.id,
        title=row.title,
        image_url=row.image_url,
        link_url=row.link_url,
        placement=row.placement,
        priority=row.priority,
        active=row.active,
        create_time=timestamps.to_proto(row.created_at),
        update_time=timestamps.to_proto(row.updated_at),
    )
    if row.start_at is not None:
        banner.start_time.CopyFrom(timestamps.to_proto(row.start_at))
    if row.end_at is not None:
        banner.end_time.CopyFrom(timestamps.to_proto(row.end_at))
    return banner


def _check_window(row: BannerRow) -> None:
    domain.window(row.start_at, row.end_at)


class ContentServicer(content_pb2_grpc.ContentServiceServicer):
    def __init__(self, store: ContentStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def _now(self) -> datetime:
        return self._clock()

    # --- posts --------------------------------------------------------------------------------

    async def _post(self, post_id: int) -> PostRow:
        row = await self._store.get_post(post_id)
        if row is None:
            raise DomainError(ContentError.POST_NOT_FOUND, f"post {post_id} not found")
        return row

    async def CreatePost(
        self, request: content_pb2.CreatePostRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.CreatePostResponse:
        admin = principal.require_admin()
        title = domain.title(request.title)
        body = domain.body(request.body_markdown)
        slug = domain.explicit_slug(request.slug) if request.slug else None
        post = NewPost(
            title=title,
            body_markdown=body,
            body_html=domain.render_markdown(body),
            author_id=admin.user_id,
            author_name=domain.author_name(request.author_name),
            tags=domain.tags(request.tags),
        )
        try:
            row = await self._store.create_post(post, slug, domain.slugify(title))
        except SlugTaken as exc:
            raise DomainError(ContentError.SLUG_TAKEN, f"slug {exc} is already in use") from exc
        return content_pb2.CreatePostResponse(post=_post_to_proto(row))

    async def GetPost(
        self, request: content_pb2.GetPostRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.GetPostResponse:
        key = request.WhichOneof("key")
        if key == "id":
            row = await self._store.get_post(request.id)
        elif key == "slug":
            # A malformed slug names no post.
            row = await self._store.get_post_by_slug(request.slug) if domain.is_slug(request.slug) else None
        else:
            raise invalid("id or slug is required")
        visible = row is not None and (
            _is_admin() or domain.post_is_public(row.published, row.publish_at, self._now())
        )
        if row is None or not visible:
            raise DomainError(ContentError.POST_NOT_FOUND)
        return content_pb2.GetPostResponse(post=_post_to_proto(row))

    async def ListPosts(
        self, request: content_pb2.ListPostsRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.ListPostsResponse:
        size = paging.page_size(request.page_size)
        after = PostCursor.decode(request.page_token)
        live_at = None if request.include_unpublished and _is_admin() else self._now()
        rows = await self._store.list_posts(size + 1, after, domain.tag_filter(request.tag), live_at)
        rows, token = paging.split(rows, size, lambda r: PostCursor(r.sort_at, r.id).encode())
        return content_pb2.ListPostsResponse(posts=[_post_to_proto(r) for r in rows], next_page_token=token)

    async def UpdatePost(
        self, request: content_pb2.UpdatePostRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.UpdatePostResponse:
        principal.require_admin()
        body = domain.body(request.body_markdown) if request.HasField("body_markdown") else None
        changes = PostChanges(
            # The slug changes only when asked: a new title keeps the old slug.
            slug=domain.explicit_slug(request.slug) if request.HasField("slug") else None,
            title=domain.title(request.title) if request.HasField("title") else None,
            body_markdown=body,
            body_html=domain.render_markdown(body) if body is not None else None,
            author_name=domain.author_name(request.author_name) if request.HasField("author_name") else None,
            tags=domain.tags(request.tags.values) if request.HasField("tags") else None,
        )
        try:
            row = await self._store.update_post(request.id, changes)
        except SlugTaken as exc:
            raise DomainError(ContentError.SLUG_TAKEN, f"slug {request.slug} is already in use") from exc
        if row is None:
            raise DomainError(ContentError.POST_NOT_FOUND, f"post {request.id} not found")
        return content_pb2.UpdatePostResponse(post=_post_to_proto(row))

    async def PublishPost(
        self, request: content_pb2.PublishPostRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.PublishPostResponse:
        principal.require_admin()
        at = _time(request.publish_time, "publish_time") if request.HasField("publish_time") else self._now()
        row = await self._store.publish_post(request.id, at)
        if row is None:
            raise DomainError(ContentError.POST_NOT_FOUND, f"post {request.id} not found")
        return content_pb2.PublishPostResponse(post=_post_to_proto(row))

    async def UnpublishPost(
        self, request: content_pb2.UnpublishPostRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.UnpublishPostResponse:
        principal.require_admin()
        row = await self._store.unpublish_post(request.id)
        if row is None:
            raise DomainError(ContentError.POST_NOT_FOUND, f"post {request.id} not found")
        return content_pb2.UnpublishPostResponse(post=_post_to_proto(row))

    async def DeletePost(
        self, request: content_pb2.DeletePostRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.DeletePostResponse:
        principal.require_admin()
        if not await self._store.delete_post(request.id):
            raise DomainError(ContentError.POST_NOT_FOUND, f"post {request.id} not found")
        return content_pb2.DeletePostResponse()

    # --- banners ------------------------------------------------------------------------------

    async def CreateBanner(
        self, request: content_pb2.CreateBannerRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.CreateBannerResponse:
        principal.require_admin()
        start = _time(request.start_time, "start_time") if request.HasField("start_time") else None
        end = _time(request.end_time, "end_time") if request.HasField("end_time") else None
        domain.window(start, end)
        row = await self._store.create_banner(
            NewBanner(
                title=domain.banner_title(request.title),
                image_url=domain.http_url(request.image_url, "image_url"),
                link_url=domain.link_url(request.link_url),
                placement=domain.placement(request.placement),
                start_at=start,
                end_at=end,
                priority=request.priority,
                active=request.active,
            )
        )
        return content_pb2.CreateBannerResponse(banner=_banner_to_proto(row))

    async def GetBanner(
        self, request: content_pb2.GetBannerRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.GetBannerResponse:
        row = await self._store.get_banner(request.id)
        if row is None or not (
            _is_admin() or domain.banner_is_live(row.active, row.start_at, row.end_at, self._now())
        ):
            raise DomainError(ContentError.BANNER_NOT_FOUND, f"banner {request.id} not found")
        return content_pb2.GetBannerResponse(banner=_banner_to_proto(row))

    async def ListBanners(
        self, request: content_pb2.ListBannersRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.ListBannersResponse:
        size = paging.page_size(request.page_size)
        after = BannerCursor.decode(request.page_token)
        placement = domain.placement(request.placement, required=False)
        live_at = None if request.include_inactive and _is_admin() else self._now()
        rows = await self._store.list_banners(size + 1, after, placement, live_at)
        rows, token = paging.split(
            rows, size, lambda r: BannerCursor(r.priority, r.created_at, r.id).encode()
        )
        return content_pb2.ListBannersResponse(
            banners=[_banner_to_proto(r) for r in rows], next_page_token=token
        )

    async def UpdateBanner(
        self, request: content_pb2.UpdateBannerRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.UpdateBannerResponse:
        principal.require_admin()
        image_url = request.image_url if request.HasField("image_url") else None
        changes = BannerChanges(
            title=domain.banner_title(request.title) if request.HasField("title") else None,
            image_url=domain.http_url(image_url, "image_url") if image_url is not None else None,
            link_url=domain.link_url(request.link_url) if request.HasField("link_url") else None,
            placement=domain.placement(request.placement) if request.HasField("placement") else None,
            # A time once set can be moved but not cleared.
            start_at=_time(request.start_time, "start_time") if request.HasField("start_time") else None,
            end_at=_time(request.end_time, "end_time") if request.HasField("end_time") else None,
            priority=request.priority if request.HasField("priority") else None,
            active=request.active if request.HasField("active") else None,
        )
        row = await self._store.update_banner(request.id, changes, _check_window)
        if row is None:
            raise DomainError(ContentError.BANNER_NOT_FOUND, f"banner {request.id} not found")
        return content_pb2.UpdateBannerResponse(banner=_banner_to_proto(row))

    async def DeleteBanner(
        self, request: content_pb2.DeleteBannerRequest, context: grpc.aio.ServicerContext
    ) -> content_pb2.DeleteBannerResponse:
        principal.require_admin()
        if not await self._store.delete_banner(request.id):
            raise DomainError(ContentError.BANNER_NOT_FOUND, f"banner {request.id} not found")
        return content_pb2.DeleteBannerResponse()


def build_with_clock(clock: Clock) -> Build:
    """The service's build, reading the time from `clock` (tests pass one they can move)."""

    def utc_now() -> datetime:
        return domain.aware(clock())

    async def build(runtime: Runtime) -> Sequence[Registration]:
        db = await runtime.database(MIGRATIONS)
        return [
            Registration(
                ContentServicer(ContentStore(db, utc_now), utc_now),
                content_pb2_grpc.add_ContentServiceServicer_to_server,
                content_pb2.DESCRIPTOR.services_by_name["ContentService"].full_name,
            )
        ]

    return build


build = build_with_clock(timestamps.now)
