"""Carts in Redis, one per user (or per guest: the owner "guest:<id>"), all under the service's key prefix:

    keys("cart", user_id)              hash  item_id -> {"product_id": P, "quantity": Q},
                                             and "version" -> a random id given by every change
    keys("cart", user_id, "products")  hash  product_id -> item_id (one line per product)
    keys("cart", user_id, "seq")       the last item id given out

Every change runs as one Lua script, so concurrent writes to a cart never lose an update, and
refreshes the expiry of all three keys. The version never repeats, so orders can check a cart out
once: two checkouts that read the same version are two checkouts of the same cart. The JSON is
written by the scripts with the ids spliced in as the decimal strings Python validated (Lua
numbers would round ids above 2^53). On Redis Cluster the owner's id in the names is a hash tag
(`cart:{123}`), which puts a cart's three keys in one slot.

A guest's cart merges into a user's in two steps that each touch one owner's keys (so they hold
on Redis Cluster too): the guest's lines are read and deleted in one transaction, then added to
the user's cart in one script.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import redis.asyncio as redis

from services.kit.errors import DomainError
from services.kit.redis import Keys, hash_tag, is_cluster

from .domain import MAX_LINES, MAX_QUANTITY, CartError

VERSION = "version"

# The product's line in the cart and its quantity: (item_id, quantity), or (false, 0) when there
# is none (a product entry whose line is gone counts as none).
_LINE_OF = """
local function line_of(items, products, product)
  local item = redis.call('HGET', products, product)
  if item then
    local raw = redis.call('HGET', items, item)
    if raw then
      return item, tonumber(string.match(raw, '"quantity"%s*:%s*(%d+)'))
    end
  end
  return false, 0
end
"""

# KEYS: items, products, seq. ARGV: product_id, quantity, max quantity, max lines, ttl, version.
# Returns {"ok", item_id, quantity} | {"too_many", item_id, current quantity} | {"full"}.
_ADD = (
    _LINE_OF
    + """
local items, products, seq = KEYS[1], KEYS[2], KEYS[3]
local product, quantity = ARGV[1], tonumber(ARGV[2])
local max_quantity, max_lines, ttl, version = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local item, current = line_of(items, products, product)
local total = current + quantity
if total > max_quantity then
  return {'too_many', item or '', tostring(current)}
end
if not item then
  if redis.call('HLEN', items) - redis.call('HEXISTS', items, 'version') >= max_lines then
    return {'full'}
  end
  item = tostring(redis.call('INCR', seq))
  redis.call('HSET', products, product, item)
end
local line = '{"product_id":' .. product .. ',"quantity":' .. total .. '}'
redis.call('HSET', items, item, line, 'version', version)
for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ttl) end
return {'ok', item, tostring(total)}
"""
)

# KEYS: items, products, seq. ARGV: item_id, quantity (0 removes the line), ttl, version.
# Returns the line's product_id, or nil when the item is not in the cart.
_SET = """
local items, products = KEYS[1], KEYS[2]
local item, quantity, ttl, version = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local raw = redis.call('HGET', items, item)
if not raw then
  return false
end
local product = string.match(raw, '"product_id"%s*:%s*(%d+)')
if quantity == '0' then
  redis.call('HDEL', items, item)
  if redis.call('HGET', products, product) == item then
    redis.call('HDEL', products, product)
  end
else
  redis.call('HSET', items, item, '{"product_id":' .. product .. ',"quantity":' .. quantity .. '}')
end
redis.call('HSET', items, 'version', version)
for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ttl) end
return product
"""


# KEYS: items, products, seq. ARGV: max quantity, max lines, ttl, version, then product, quantity pairs.
# Per product the quantities add up, capped at max quantity; a new line past max lines stays out.
# Returns the number of lines taken in.
_MERGE = (
    _LINE_OF
    + """
local items, products, seq = KEYS[1], KEYS[2], KEYS[3]
local max_quantity, max_lines, ttl, version = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local taken = 0
for i = 5, #ARGV, 2 do
  local product, quantity = ARGV[i], tonumber(ARGV[i + 1])
  local item, current = line_of(items, products, product)
  if item or redis.call('HLEN', items) - redis.call('HEXISTS', items, 'version') < max_lines then
    if not item then
      item = tostring(redis.call('INCR', seq))
      redis.call('HSET', products, product, item)
    end
    local total = math.min(current + quantity, max_quantity)
    redis.call('HSET', items, item, '{"product_id":' .. product .. ',"quantity":' .. total .. '}')
    taken = taken + 1
  end
end
if taken > 0 then
  redis.call('HSET', items, 'version', version)
  for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ttl) end
end
return taken
"""
)

# Whose cart: a user id, or "guest:<id>" (domain.guest_owner).
Owner = int | str


def _new_version() -> str:
    return secrets.token_hex(12)


@dataclass(frozen=True)
class Item:
    item_id: int
    product_id: int
    quantity: int


class CartStore:
    def __init__(self, client: redis.Redis, keys: Keys, ttl_seconds: int) -> None:
        self._redis = client
        self._keys = keys
        self._ttl = ttl_seconds
        self._add = client.register_script(_ADD)
        self._set = client.register_script(_SET)
        self._merge = client.register_script(_MERGE)
        self._tagged = is_cluster(client)

    def _cart_keys(self, user_id: Owner) -> list[str]:
        # On a cluster the three keys share the owner's hash tag, so one script can touch them all.
        # A single server keeps the untagged names, which its existing carts are stored under.
        user = hash_tag(user_id) if self._tagged else user_id
        return [
            self._keys("cart", user),
            self._keys("cart", user, "products"),
            self._keys("cart", user, "seq"),
        ]

    async def items(self, user_id: Owner) -> tuple[list[Item], str]:
        """The cart's lines, in the order they were first added, and its version ("" when empty)."""
        raw = await self._redis.hgetall(self._cart_keys(user_id)[0])
        version = str(raw.pop(VERSION, ""))
        items = []
        for item_id, value in raw.items():
            line = json.loads(value)
            items.append(Item(int(item_id), int(line["product_id"]), int(line["quantity"])))
        return sorted(items, key=lambda item: item.item_id), version if items else ""

    async def add(self, user_id: Owner, product_id: int, quantity: int) -> Item:
        """Adds a line, or raises the quantity of the product's line (keeping its item id)."""
        reply = await self._add(
            keys=self._cart_keys(user_id),
            args=[str(product_id), str(quantity), MAX_QUANTITY, MAX_LINES, self._ttl, _new_version()],
        )
        status = reply[0]
        if status == "full":
            raise DomainError(CartError.CART_FULL)
        if status == "too_many":
            raise DomainError(
                CartError.LINE_FULL,
                f"the cart already holds {reply[2]} of product {product_id}; at most {MAX_QUANTITY} per line",
            )
        return Item(int(reply[1]), product_id, int(reply[2]))

    async def set_quantity(self, user_id: Owner, item_id: int, quantity: int) -> Item:
        """Sets a line's quantity; 0 removes the line."""
        product = await self._set(
            keys=self._cart_keys(user_id), args=[str(item_id), str(quantity), self._ttl, _new_version()]
        )
        if product is None:
            raise DomainError(CartError.ITEM_NOT_FOUND, f"item {item_id} not in cart")
        return Item(item_id, int(product), quantity)

    async def clear(self, user_id: Owner) -> None:
        items, products, seq = self._cart_keys(user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            # The counter stays, so an item id is never reused while the cart key lives.
            pipe.delete(items, products)
            pipe.expire(seq, self._ttl)
            await pipe.execute()

    async def merge(self, guest: str, user_id: int) -> int:
        """Moves the guest's lines into the user's cart (the merge rule is in _MERGE); returns how
        many lines were taken in. The guest's cart is gone afterwards."""
        items, products, seq = self._cart_keys(guest)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(items)
            pipe.delete(items, products, seq)
            raw, _ = await pipe.execute()
        raw.pop(VERSION, None)
        lines = sorted((int(k), json.loads(v)) for k, v in raw.items())
        if not lines:
            return 0
        args: list[str | int] = [MAX_QUANTITY, MAX_LINES, self._ttl, _new_version()]
        for _, line in lines:
            args += [str(int(line["product_id"])), str(int(line["quantity"]))]
        taken: int = await self._merge(keys=self._cart_keys(user_id), args=args)
        return taken

    async def forget(self, user_id: Owner) -> None:
        """Everything of the user's cart, item counter included (account deletion)."""
        await self._redis.delete(*self._cart_keys(user_id))
