"""The profile gRPC servicer: whose profile, validation, the store, rows to messages.

The profile keeps a copy of the account's email (for admin search and display). It is read from
auth's GetUser, with this service's own token, when a user's profile row is first stored; auth
answering NOT_FOUND there also keeps data of unknown or deleted users out of this service.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import grpc

from services.kit import paging, principal, text, timestamps
from services.kit.clients import ServiceToken, unreachable
from services.kit.errors import CommonError, DomainError, invalid
from services.kit.server import Registration, Runtime
from shop.auth.v1 import auth_pb2, auth_pb2_grpc
from shop.common.v1 import common_pb2
from shop.profile.v1 import profile_pb2, profile_pb2_grpc

from . import domain
from .domain import ProfileError
from .store import AddressRow, CreateOutcome, ProfileChanges, ProfileRow, ProfileStore

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MAX_QUERY = 254


def _profile(row: ProfileRow) -> profile_pb2.Profile:
    return profile_pb2.Profile(
        user_id=row.user_id,
        email=row.email,
        display_name=row.display_name,
        phone=row.phone,
        preferences=profile_pb2.Preferences(
            marketing_opt_in=row.marketing_opt_in, locale=row.locale, currency=row.currency
        ),
        create_time=timestamps.to_proto(row.created_at),
        update_time=timestamps.to_proto(row.updated_at),
    )


def _address(row: AddressRow) -> profile_pb2.SavedAddress:
    return profile_pb2.SavedAddress(
        id=row.id,
        user_id=row.user_id,
        label=row.label,
        address=common_pb2.Address(**row.postal.__dict__),
        is_default=row.is_default,
        create_time=timestamps.to_proto(row.created_at),
        update_time=timestamps.to_proto(row.updated_at),
    )


def _postal(address: common_pb2.Address) -> domain.PostalAddress:
    return domain.postal_address(
        name=address.name,
        line1=address.line1,
        line2=address.line2,
        city=address.city,
        region=address.region,
        postal_code_=address.postal_code,
        country_=address.country,
        phone_=address.phone,
    )


def _not_found(address_id: int) -> DomainError:
    return DomainError(ProfileError.ADDRESS_NOT_FOUND, f"address {address_id} not found")


def _cursor(row: AddressRow) -> tuple[int, int]:
    """The address's place in listing order (default first, then newest first)."""
    return (0 if row.is_default else 1, -row.id)


class ProfileServicer(profile_pb2_grpc.ProfileServiceServicer):
    def __init__(
        self, store: ProfileStore, auth: auth_pb2_grpc.AuthServiceAsyncStub, token: ServiceToken
    ) -> None:
        self._store = store
        self._auth = auth
        self._token = token

    async def _email_of(self, user_id: int) -> str:
        """The account's email from auth; NOT_FOUND when there is no such user."""
        try:
            reply = await self._auth.GetUser(
                auth_pb2.GetUserRequest(id=user_id), metadata=await self._token.metadata()
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise DomainError(ProfileError.USER_NOT_FOUND, f"user {user_id} not found") from None
            if unreachable(exc):
                raise DomainError(CommonError.DEPENDENCY_UNAVAILABLE, "auth is unavailable") from None
            raise
        email: str = reply.user.email
        return email

    async def _ensure(self, user_id: int) -> None:
        """Stores the user's (empty) profile if it is not stored yet."""
        if await self._store.get(user_id) is None:
            await self._store.create_if_missing(user_id, await self._email_of(user_id))

    async def GetProfile(
        self, request: profile_pb2.GetProfileRequest, context: grpc.aio.ServicerContext
    ) -> profile_pb2.GetProfileResponse:
        user_id = principal.acting_user_id(request.user_id)
        row = await self._store.get(user_id)
        if row is None:
            # Not stored yet: an empty profile (NOT_FOUND only when the account does not exist).
            email = await self._email_of(user_id)
            return profile_pb2.GetProfileResponse(
                profile=profile_pb2.Profile(
                    user_id=user_id, email=email, preferences=profile_pb2.Preferences()
                )
            )
        return profile_pb2.GetProfileResponse(profile=_profile(row))

    async def UpdateProfile(
        self, request: profile_pb2.UpdateProfileRequest, context: grpc.aio.ServicerContext
    ) -> profile_pb2.UpdateProfileResponse:
        user_id = principal.acting_user_id(request.user_id)
        changes = ProfileChanges(
            display_name=domain.display_name(request.display_name)
            if request.HasField("display_name")
            else None,
            phone=domain.phone(request.phone) if request.HasField("phone") else None,
            marketing_opt_in=request.marketing_opt_in if request.HasField("marketing_opt_in") else None,
            locale=domain.locale(request.locale) if request.HasField("locale") else None,
            currency=domain.currency(request.currency) if request.HasField("currency") else None,
        )
        await self._ensure(user_id)
        row = await self._store.update(user_id, changes)
        if row is None:  # deleted meanwhile
            raise DomainError(ProfileError.USER_NOT_FOUND, f"user {user_id} not found")
        return profile_pb2.UpdateProfileResponse(profile=_profile(row))

    async def ListAddresses(
        self, request: profile_pb2.ListAddressesRequest, context: grpc.aio.ServicerContext
    ) -> profile_pb2.ListAddressesResponse:
        user_id = principal.acting_user_id(request.user_id)
        size = paging.page_size(request.page_size)
        after = paging.decode_pair(request.page_token)
        rows = await self._store.addresses(user_id)
        if after is not None:
            rows = [r for r in rows if _cursor(r) > after]
        page, token = paging.split(rows, size, lambda r: paging.encode_ints(*_cursor(r)))
        return profile_pb2.ListAddressesResponse(addresses=[_address(r) for r in page], next_page_token=token)

    async def CreateAddress(
        self, request: profile_pb2.CreateAddressRequest, context: grpc.aio.ServicerContext
    ) -> profile_pb2.CreateAddressResponse:
        user_id = principal.acting_user_id(request.user_id)
        if not request.HasField("address"):
            raise invalid("address is required")
        label = domain.label(request.label)
        address = _postal(request.address)
        await self._ensure(user_id)
        result = await self._store.create_address(user_id, label, address, request.is_default)
        if result is CreateOutcome.TOO_MANY:
            raise DomainError(ProfileError.TOO_MANY_ADDRESSES)
        if result is CreateOutcome.NO_PROFILE:  # deleted meanwhile
            raise DomainError(ProfileError.USER_NOT_FOUND, f"user {user_id} not found")
        return profile_pb2.CreateAddressResponse(address=_address(result))

    async def UpdateAddress(
        self, request: profile_pb2.UpdateAddressRequest, context: grpc.aio.ServicerContext
    ) -> profile_pb2.UpdateAddressResponse:
        user_id = principal.acting_user_id(request.user_id)
        label = domain.label(request.label) if request.HasField("label") else None
        address = _postal(request.address) if request.HasField("address") else None
        if label is None and address is None:
            raise invalid("set label or address")
        row = await self._store.update_address(user_id, request.id, label, address)
        if row is None:
            raise _not_found(request.id)
        return profile_pb2.UpdateAddressResponse(address=_address(row))

    async def DeleteAddress(
        self, request: profile_pb2.DeleteAddressRequest, context: grpc.aio.ServicerContext
    ) -> profile_pb2.DeleteAddressResponse:
        user_id = principal.acting_user_id(request.user_id)
        if not await self._store.delete_address(user_id, request.id):
            raise _not_found(request.id)
        return profile_pb2.DeleteAddressResponse()

    async def SetDefaultAddress(
        self, request: profile_pb2.SetDefaultAddressRequest, context: grpc.aio.ServicerContext
    ) -> profile_pb2.SetDefaultAddressResponse:
        user_id = principal.acting_user_id(request.user_id)
        row = await self._store.set_default(user_id, request.id)
        if row is None:
            raise _not_found(request.id)
        return profile_pb2.SetDefaultAddressResponse(address=_address(row))

    async def GetDefaultAddress(
        self, request: profile_pb2.GetDefaultAddressRequest, context: grpc.aio.ServicerContext
    ) -> profile_pb2.GetDefaultAddressResponse:
        user_id = principal.acting_user_id(request.user_id)
        row = await self._store.default_address(user_id)
        if row is None:
            raise DomainError(ProfileError.NO_DEFAULT_ADDRESS, f"user {user_id} has no address")
        return profile_pb2.GetDefaultAddressResponse(address=_address(row))

    async def SearchProfiles(
        self, request: profile_pb2.SearchProfilesRequest, context: grpc.aio.ServicerContext
    ) -> profile_pb2.SearchProfilesResponse:
        principal.require_admin()
        query = text.bounded(request.query, "query", MAX_QUERY)
        size = paging.page_size(request.page_size)
        rows = await self._store.search(query, size + 1, paging.decode_int(request.page_token))
        rows, token = paging.split(rows, size, lambda r: paging.encode(r.user_id))
        return profile_pb2.SearchProfilesResponse(profiles=[_profile(r) for r in rows], next_page_token=token)

    async def DeleteUserData(
        self, request: profile_pb2.DeleteUserDataRequest, context: grpc.aio.ServicerContext
    ) -> profile_pb2.DeleteUserDataResponse:
        principal.require_service_for(request.user_id)
        addresses, profile = await self._store.delete_user_data(request.user_id)
        return profile_pb2.DeleteUserDataResponse(addresses_deleted=addresses, profile_deleted=profile)


async def build(runtime: Runtime) -> Sequence[Registration]:
    db = await runtime.database(MIGRATIONS)
    # The stub is built on an aio channel; Channels.stub's signature makes mypy pick the sync type.
    auth = cast(
        "auth_pb2_grpc.AuthServiceAsyncStub", runtime.channels.stub(auth_pb2_grpc.AuthServiceStub, "auth")
    )
    return [
        Registration(
            ProfileServicer(ProfileStore(db), auth, runtime.service_token()),
            profile_pb2_grpc.add_ProfileServiceServicer_to_server,
            profile_pb2.DESCRIPTOR.services_by_name["ProfileService"].full_name,
        )
    ]
