"""The profile service through real gRPC: profiles, the address book and its default, who may see
what (a customer naming another user is PERMISSION_DENIED; another user's address id is NOT_FOUND),
admin search, the internal RPCs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import grpc
import pytest

from shop.auth.v1 import auth_pb2, auth_pb2_grpc
from shop.common.v1 import common_pb2
from shop.profile.v1 import profile_pb2, profile_pb2_grpc
from tests.support.harness import Platform
from tests.support.polling import once_available
from tests.support.tokens import TokenFactory, bearer

ProfileStub = profile_pb2_grpc.ProfileServiceStub
UNKNOWN_USER = 10**12


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    metadata: tuple[tuple[str, str]]


@dataclass
class Clients:
    profile: ProfileStub
    auth: auth_pb2_grpc.AuthServiceStub
    tokens: TokenFactory

    async def account(self) -> Account:
        email = f"p-{uuid4().hex[:16]}@shop.test"
        reply = await self.auth.Register(auth_pb2.RegisterRequest(email=email, password="profile-pass-1"))
        return Account(reply.user.id, email, bearer(self.tokens.customer(reply.user.id)))

    @property
    def admin(self) -> tuple[tuple[str, str]]:
        return bearer(self.tokens.admin())

    @property
    def service(self) -> tuple[tuple[str, str]]:
        return bearer(self.tokens.service("orders"))

    async def add(self, who: Account, label: str = "", is_default: bool = False, **fields: str) -> int:
        reply = await self.profile.CreateAddress(
            profile_pb2.CreateAddressRequest(label=label, address=_address(**fields), is_default=is_default),
            metadata=who.metadata,
        )
        address_id: int = reply.address.id
        return address_id

    async def listed(self, who: Account) -> list[profile_pb2.SavedAddress]:
        reply = await self.profile.ListAddresses(profile_pb2.ListAddressesRequest(), metadata=who.metadata)
        return list(reply.addresses)


def _address(**fields: str) -> common_pb2.Address:
    values = {
        "name": "Ada Lovelace",
        "line1": "1 Main St",
        "city": "Springfield",
        "postal_code": "12345",
        "country": "US",
        **fields,
    }
    return common_pb2.Address(**values)


async def _status(call: Awaitable[Any]) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    code: grpc.StatusCode = err.value.code()
    return code


@pytest.fixture
async def clients(platform: Platform, tokens: TokenFactory) -> Clients:
    for name in ("auth", "profile"):
        await platform.start(name)
        # Earlier tests may have met these services down: wait out the shared reconnect backoff.
        await asyncio.wait_for(platform.channel(name).channel_ready(), timeout=10)
    return Clients(
        platform.stub(ProfileStub, "profile"), platform.stub(auth_pb2_grpc.AuthServiceStub, "auth"), tokens
    )


# --- the profile -------------------------------------------------------------------------------


async def test_a_new_user_has_an_empty_profile_with_their_email(clients: Clients) -> None:
    me = await clients.account()
    reply = await clients.profile.GetProfile(profile_pb2.GetProfileRequest(), metadata=me.metadata)
    profile = reply.profile
    assert (profile.user_id, profile.email, profile.display_name, profile.phone) == (me.id, me.email, "", "")
    assert (profile.preferences.marketing_opt_in, profile.preferences.locale) == (False, "")


async def test_update_changes_only_the_given_fields(clients: Clients) -> None:
    me = await clients.account()
    first = await clients.profile.UpdateProfile(
        profile_pb2.UpdateProfileRequest(
            display_name="  Ada  ", phone="+1 (415) 555-0123", locale="en-US", currency="eur"
        ),
        metadata=me.metadata,
    )
    assert (first.profile.display_name, first.profile.phone, first.profile.email) == (
        "Ada",
        "+14155550123",
        me.email,
    )
    assert (first.profile.preferences.locale, first.profile.preferences.currency) == ("en-US", "EUR")
    assert first.profile.create_time.seconds > 0

    second = await clients.profile.UpdateProfile(
        profile_pb2.UpdateProfileRequest(marketing_opt_in=True), metadata=me.metadata
    )
    assert second.profile.preferences.marketing_opt_in is True
    assert (second.profile.display_name, second.profile.phone) == ("Ada", "+14155550123")

    cleared = await clients.profile.UpdateProfile(
        profile_pb2.UpdateProfileRequest(display_name="", phone=""), metadata=me.metadata
    )
    assert (cleared.profile.display_name, cleared.profile.phone) == ("", "")
    got = await clients.profile.GetProfile(profile_pb2.GetProfileRequest(user_id=me.id), metadata=me.metadata)
    assert got.profile == cleared.profile


@pytest.mark.parametrize(
    "request_",
    [
        profile_pb2.UpdateProfileRequest(display_name="x" * 101),
        profile_pb2.UpdateProfileRequest(display_name="bell\x07"),
        profile_pb2.UpdateProfileRequest(phone="12345678"),
        profile_pb2.UpdateProfileRequest(phone="+0123456789"),
        profile_pb2.UpdateProfileRequest(phone="+1 555"),
        profile_pb2.UpdateProfileRequest(phone="+1234567890123456"),
        profile_pb2.UpdateProfileRequest(phone="call me"),
        profile_pb2.UpdateProfileRequest(locale="english!"),
        profile_pb2.UpdateProfileRequest(locale="e"),
        profile_pb2.UpdateProfileRequest(currency="US"),
        profile_pb2.UpdateProfileRequest(currency="USDD"),
        profile_pb2.UpdateProfileRequest(currency="U$D"),
    ],
)
async def test_invalid_profile_fields(clients: Clients, request_: profile_pb2.UpdateProfileRequest) -> None:
    me = await clients.account()
    assert await _status(clients.profile.UpdateProfile(request_, metadata=me.metadata)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_display_name_limit_is_inclusive(clients: Clients) -> None:
    me = await clients.account()
    reply = await clients.profile.UpdateProfile(
        profile_pb2.UpdateProfileRequest(display_name="é" * 100), metadata=me.metadata
    )
    assert reply.profile.display_name == "é" * 100


async def test_unknown_users_are_not_found(clients: Clients) -> None:
    for call in (
        clients.profile.GetProfile(
            profile_pb2.GetProfileRequest(user_id=UNKNOWN_USER), metadata=clients.admin
        ),
        clients.profile.UpdateProfile(
            profile_pb2.UpdateProfileRequest(user_id=UNKNOWN_USER, display_name="x"), metadata=clients.admin
        ),
        clients.profile.CreateAddress(
            profile_pb2.CreateAddressRequest(user_id=UNKNOWN_USER, address=_address()),
            metadata=clients.service,
        ),
    ):
        assert await _status(call) == grpc.StatusCode.NOT_FOUND


async def test_admins_and_services_reach_anyone(clients: Clients) -> None:
    someone = await clients.account()
    await clients.profile.UpdateProfile(
        profile_pb2.UpdateProfileRequest(user_id=someone.id, display_name="Set by support"),
        metadata=clients.admin,
    )
    got = await clients.profile.GetProfile(
        profile_pb2.GetProfileRequest(user_id=someone.id), metadata=clients.service
    )
    assert got.profile.display_name == "Set by support"
    # A service must say whose profile it means.
    code = await _status(
        clients.profile.GetProfile(profile_pb2.GetProfileRequest(), metadata=clients.service)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_customers_reach_only_their_own_profile(clients: Clients) -> None:
    me, other = await clients.account(), await clients.account()
    theirs = await clients.add(other)
    md = me.metadata
    # Naming another user is refused outright.
    for call in (
        clients.profile.GetProfile(profile_pb2.GetProfileRequest(user_id=other.id), metadata=md),
        clients.profile.UpdateProfile(
            profile_pb2.UpdateProfileRequest(user_id=other.id, display_name="hijack"), metadata=md
        ),
        clients.profile.ListAddresses(profile_pb2.ListAddressesRequest(user_id=other.id), metadata=md),
        clients.profile.CreateAddress(
            profile_pb2.CreateAddressRequest(user_id=other.id, address=_address()), metadata=md
        ),
        clients.profile.GetDefaultAddress(
            profile_pb2.GetDefaultAddressRequest(user_id=other.id), metadata=md
        ),
        clients.profile.DeleteAddress(
            profile_pb2.DeleteAddressRequest(user_id=other.id, id=theirs), metadata=md
        ),
    ):
        assert await _status(call) == grpc.StatusCode.PERMISSION_DENIED
    # Another user's address, named by id alone, is indistinguishable from none.
    for call in (
        clients.profile.UpdateAddress(profile_pb2.UpdateAddressRequest(id=theirs, label="mine"), metadata=md),
        clients.profile.DeleteAddress(profile_pb2.DeleteAddressRequest(id=theirs), metadata=md),
        clients.profile.SetDefaultAddress(profile_pb2.SetDefaultAddressRequest(id=theirs), metadata=md),
    ):
        assert await _status(call) == grpc.StatusCode.NOT_FOUND
    [kept] = await clients.listed(other)
    assert (kept.id, kept.label, kept.is_default) == (theirs, "", True)
    code = await _status(clients.profile.GetProfile(profile_pb2.GetProfileRequest()))
    assert code == grpc.StatusCode.UNAUTHENTICATED


# --- addresses ---------------------------------------------------------------------------------


async def test_first_address_is_the_default_and_listing_order(clients: Clients) -> None:
    me = await clients.account()
    first = await clients.add(me, "Home", is_default=False)
    second = await clients.add(me, "Work")
    assert [(a.id, a.is_default) for a in await clients.listed(me)] == [(first, True), (second, False)]
    third = await clients.add(me, "Cabin", is_default=True, country="fr", postal_code="75001")
    listed = await clients.listed(me)
    # The default first, then newest first.
    assert [(a.id, a.is_default) for a in listed] == [(third, True), (second, False), (first, False)]
    assert (listed[0].label, listed[0].address.country, listed[0].user_id) == ("Cabin", "FR", me.id)
    assert listed[0].address.name == "Ada Lovelace"


async def test_deleting_the_default_promotes_the_oldest_remaining(clients: Clients) -> None:
    me = await clients.account()
    a, b, c = [await clients.add(me, label) for label in ("a", "b", "c")]
    await clients.profile.SetDefaultAddress(profile_pb2.SetDefaultAddressRequest(id=c), metadata=me.metadata)
    await clients.profile.DeleteAddress(profile_pb2.DeleteAddressRequest(id=c), metadata=me.metadata)
    assert [(x.id, x.is_default) for x in await clients.listed(me)] == [(a, True), (b, False)]
    # Deleting one that is not the default leaves the default alone.
    await clients.profile.DeleteAddress(profile_pb2.DeleteAddressRequest(id=b), metadata=me.metadata)
    assert [(x.id, x.is_default) for x in await clients.listed(me)] == [(a, True)]
    await clients.profile.DeleteAddress(profile_pb2.DeleteAddressRequest(id=a), metadata=me.metadata)
    assert await clients.listed(me) == []
    code = await _status(
        clients.profile.GetDefaultAddress(profile_pb2.GetDefaultAddressRequest(), metadata=me.metadata)
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code = await _status(
        clients.profile.DeleteAddress(profile_pb2.DeleteAddressRequest(id=a), metadata=me.metadata)
    )
    assert code == grpc.StatusCode.NOT_FOUND


async def test_set_default_moves_the_one_flag(clients: Clients) -> None:
    me = await clients.account()
    a, b = await clients.add(me), await clients.add(me)
    reply = await clients.profile.SetDefaultAddress(
        profile_pb2.SetDefaultAddressRequest(id=b), metadata=me.metadata
    )
    assert (reply.address.id, reply.address.is_default) == (b, True)
    assert [(x.id, x.is_default) for x in await clients.listed(me)] == [(b, True), (a, False)]
    # Setting the default again changes nothing.
    again = await clients.profile.SetDefaultAddress(
        profile_pb2.SetDefaultAddressRequest(id=b), metadata=me.metadata
    )
    assert again.address.is_default
    assert sum(x.is_default for x in await clients.listed(me)) == 1


async def test_update_address_changes_label_or_the_whole_address(clients: Clients) -> None:
    me = await clients.account()
    address_id = await clients.add(me, "Home", line2="Flat 2", phone="+44 20 7946 0000")
    relabelled = await clients.profile.UpdateAddress(
        profile_pb2.UpdateAddressRequest(id=address_id, label="Old home"), metadata=me.metadata
    )
    assert (relabelled.address.label, relabelled.address.address.line2) == ("Old home", "Flat 2")
    assert relabelled.address.address.phone == "+442079460000"
    moved = await clients.profile.UpdateAddress(
        profile_pb2.UpdateAddressRequest(
            id=address_id, address=_address(line1="2 Side St", city="Shelbyville", country="CA")
        ),
        metadata=me.metadata,
    )
    assert moved.address.label == "Old home"
    assert (moved.address.address.line1, moved.address.address.line2) == ("2 Side St", "")
    assert (moved.address.address.country, moved.address.is_default) == ("CA", True)
    for request in (
        profile_pb2.UpdateAddressRequest(id=address_id),
        profile_pb2.UpdateAddressRequest(id=address_id, address=_address(country="XX")),
        profile_pb2.UpdateAddressRequest(id=address_id, label="x" * 51),
    ):
        assert await _status(clients.profile.UpdateAddress(request, metadata=me.metadata)) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
    code = await _status(
        clients.profile.UpdateAddress(
            profile_pb2.UpdateAddressRequest(id=UNKNOWN_USER, label="x"), metadata=me.metadata
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "fields",
    [
        {"line1": ""},
        {"line1": "   "},
        {"city": ""},
        {"postal_code": ""},
        {"postal_code": "12#45"},
        {"postal_code": "1" * 21},
        {"country": ""},
        {"country": "XX"},
        {"country": "USA"},
        {"country": "U"},
        {"phone": "555-0123"},
        {"line1": "x" * 201},
        {"name": "n" * 101},
        {"city": "tab\tcity"},
    ],
)
async def test_invalid_addresses(clients: Clients, fields: dict[str, str]) -> None:
    me = await clients.account()
    code = await _status(
        clients.profile.CreateAddress(
            profile_pb2.CreateAddressRequest(address=_address(**fields)), metadata=me.metadata
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert await clients.listed(me) == []


async def test_an_address_is_required_and_labels_are_bounded(clients: Clients) -> None:
    me = await clients.account()
    for request in (
        profile_pb2.CreateAddressRequest(label="Home"),
        profile_pb2.CreateAddressRequest(label="x" * 51, address=_address()),
    ):
        code = await _status(clients.profile.CreateAddress(request, metadata=me.metadata))
        assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_at_most_twenty_addresses(clients: Clients) -> None:
    me = await clients.account()
    for i in range(20):
        await clients.add(me, f"#{i}")
    code = await _status(
        clients.profile.CreateAddress(
            profile_pb2.CreateAddressRequest(address=_address()), metadata=me.metadata
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert len(await clients.listed(me)) == 20


async def test_concurrent_first_addresses_leave_exactly_one_default(clients: Clients) -> None:
    me = await clients.account()
    ids = await asyncio.gather(*(clients.add(me, f"#{i}") for i in range(6)))
    listed = await clients.listed(me)
    assert sorted(a.id for a in listed) == sorted(ids)
    assert sum(a.is_default for a in listed) == 1


async def test_addresses_page_in_listing_order(clients: Clients) -> None:
    me = await clients.account()
    ids = [await clients.add(me) for _ in range(5)]
    seen: list[int] = []
    token = ""
    while True:
        page = await clients.profile.ListAddresses(
            profile_pb2.ListAddressesRequest(page_size=2, page_token=token), metadata=me.metadata
        )
        assert len(page.addresses) <= 2
        seen += [a.id for a in page.addresses]
        token = page.next_page_token
        if not token:
            break
    assert seen == [ids[0], *reversed(ids[1:])]
    for bad in ("%%%", "eyJhZnRlciI6IDF9"):  # garbage, and a token of the wrong shape
        code = await _status(
            clients.profile.ListAddresses(
                profile_pb2.ListAddressesRequest(page_token=bad), metadata=me.metadata
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_orders_get_the_default_address_with_a_service_token(clients: Clients) -> None:
    me = await clients.account()
    await clients.add(me, "Home")
    work = await clients.add(me, "Work", is_default=True, line1="9 Office Rd")
    reply = await clients.profile.GetDefaultAddress(
        profile_pb2.GetDefaultAddressRequest(user_id=me.id), metadata=clients.service
    )
    assert (reply.address.id, reply.address.address.line1, reply.address.is_default) == (
        work,
        "9 Office Rd",
        True,
    )
    nobody = await clients.account()
    code = await _status(
        clients.profile.GetDefaultAddress(
            profile_pb2.GetDefaultAddressRequest(user_id=nobody.id), metadata=clients.service
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


# --- admin search and the internal RPCs --------------------------------------------------------


async def test_admins_search_by_email_or_display_name(clients: Clients) -> None:
    tag = uuid4().hex[:10]
    people = [await clients.account() for _ in range(3)]
    for i, who in enumerate(people):
        await clients.profile.UpdateProfile(
            profile_pb2.UpdateProfileRequest(display_name=f"Customer {tag.upper()} {i}"),
            metadata=who.metadata,
        )
    found = await clients.profile.SearchProfiles(
        profile_pb2.SearchProfilesRequest(query=f" {tag} "), metadata=clients.admin
    )
    assert [p.user_id for p in found.profiles] == [p.id for p in people]
    by_email = await clients.profile.SearchProfiles(
        profile_pb2.SearchProfilesRequest(query=people[1].email.upper()), metadata=clients.admin
    )
    assert [(p.user_id, p.email) for p in by_email.profiles] == [(people[1].id, people[1].email)]
    # Pages walk every match once; LIKE wildcards match only themselves.
    seen: list[int] = []
    token = ""
    while True:
        page = await clients.profile.SearchProfiles(
            profile_pb2.SearchProfilesRequest(query=tag, page_size=2, page_token=token),
            metadata=clients.admin,
        )
        seen += [p.user_id for p in page.profiles]
        token = page.next_page_token
        if not token:
            break
    assert seen == [p.id for p in people]
    none = await clients.profile.SearchProfiles(
        profile_pb2.SearchProfilesRequest(query=f"%{tag}_%"), metadata=clients.admin
    )
    assert list(none.profiles) == []

    for metadata in (people[0].metadata, clients.service):
        code = await _status(
            clients.profile.SearchProfiles(profile_pb2.SearchProfilesRequest(query=tag), metadata=metadata)
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED
    for request in (
        profile_pb2.SearchProfilesRequest(page_token="%%%"),
        profile_pb2.SearchProfilesRequest(page_size=-1),
        profile_pb2.SearchProfilesRequest(query="q" * 255),
    ):
        code = await _status(clients.profile.SearchProfiles(request, metadata=clients.admin))
        assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_delete_user_data_is_internal_and_idempotent(clients: Clients) -> None:
    me = await clients.account()
    await clients.profile.UpdateProfile(
        profile_pb2.UpdateProfileRequest(display_name="Gone"), metadata=me.metadata
    )
    await clients.add(me)
    await clients.add(me)
    for metadata in (me.metadata, clients.admin):
        code = await _status(
            clients.profile.DeleteUserData(
                profile_pb2.DeleteUserDataRequest(user_id=me.id), metadata=metadata
            )
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED
    first = await clients.profile.DeleteUserData(
        profile_pb2.DeleteUserDataRequest(user_id=me.id), metadata=clients.service
    )
    assert (first.addresses_deleted, first.profile_deleted) == (2, True)
    again = await clients.profile.DeleteUserData(
        profile_pb2.DeleteUserDataRequest(user_id=me.id), metadata=clients.service
    )
    assert (again.addresses_deleted, again.profile_deleted) == (0, False)
    assert await clients.listed(me) == []
    got = await clients.profile.GetProfile(profile_pb2.GetProfileRequest(), metadata=me.metadata)
    assert got.profile.display_name == ""
    code = await _status(
        clients.profile.DeleteUserData(profile_pb2.DeleteUserDataRequest(), metadata=clients.service)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_first_write_needs_auth(clients: Clients, platform: Platform) -> None:
    me = await clients.account()
    await platform.stop("auth")
    try:
        code = await _status(
            clients.profile.UpdateProfile(
                profile_pb2.UpdateProfileRequest(display_name="x"), metadata=me.metadata
            )
        )
        assert code == grpc.StatusCode.UNAVAILABLE
    finally:
        await platform.start("auth")
    # Profile reconnects to auth on its own once auth is back.
    await once_available(
        lambda: clients.profile.UpdateProfile(
            profile_pb2.UpdateProfileRequest(display_name="x"), metadata=me.metadata
        )
    )
