"""`python -m deploy.seed_catalog --products 100000`: a large demo catalog, written straight into
the catalog's, inventory's and reviews' databases in bulk (a few thousand rows per statement, one
transaction per table batch), not one RPC per product.

It reads the same settings as the services (`SHOP_DATA_DIR`, `SHOP_DATABASE_URL`,
`SHOP_<SERVICE>_DATABASE_URL`), migrates the three schemas first, and refuses a catalog that
already has products. What it writes is what the services would have written: products (active,
with slugs, SKUs, one leaf category each, 1-3 images), the search index (FTS5 rows on SQLite, the
vocabulary with its trigram index on both), stock levels, reviews with their rating summaries, and
the catalog's denormalised signals (in stock, rating) already in step with them. Deterministic for
a given `--seed`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from deploy.migrate import migrate
from services.catalog.domain import slugify
from services.catalog.search.text import vocabulary
from services.catalog.tables import (
    CategoryRow,
    ImageRow,
    ProductCategoryRow,
    ProductRow,
    ProductSlugRow,
    SearchTermRow,
)
from services.inventory.store import StockLevelRow
from services.kit.config import ServiceSettings, load
from services.kit.database import Database
from services.reviews.store import ReviewRow, SummaryRow

BATCH = 5000
CURRENCY = "USD"

DEPARTMENTS = {
    "Home": ["Lighting", "Furniture", "Kitchen", "Bedding", "Decor"],
    "Garden": ["Tools", "Planters", "Outdoor furniture", "Watering"],
    "Office": ["Desks", "Chairs", "Stationery", "Storage"],
    "Sports": ["Cycling", "Running", "Camping", "Fitness", "Swimming"],
    "Electronics": ["Audio", "Cables", "Chargers", "Cameras", "Accessories"],
    "Fashion": ["Bags", "Hats", "Scarves", "Watches", "Belts"],
    "Toys": ["Puzzles", "Blocks", "Board games", "Plush"],
    "Books": ["Cookbooks", "Travel", "Notebooks", "Maps"],
}
LEAVES_PER_SUBCATEGORY = 3


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


ADJECTIVES = _words(
    "classic modern rustic compact foldable portable vintage sturdy elegant minimalist deluxe "
    "lightweight heavy-duty ergonomic handmade organic waterproof wireless adjustable premium"
)
MATERIALS = _words(
    "oak walnut bamboo steel brass copper ceramic glass linen cotton wool leather canvas "
    "marble concrete aluminium rattan cork velvet silicone"
)
NOUNS = _words(
    "lamp chair table shelf mug bowl kettle blanket pillow basket planter trowel rake hose "
    "notebook pencil stapler bottle backpack tent helmet speaker headphones charger cable "
    "camera tripod wallet scarf hat watch belt puzzle block game map atlas journal lantern "
    "clock mirror vase candle rug stool bench cabinet drawer"
)
FILLER = _words(
    "made for everyday use with a durable finish easy to clean and built to last designed in "
    "small batches a thoughtful gift for home office garden travel and weekends outdoors"
)
# Reviewers are made-up accounts far above real user ids (no account deletion touches them).
REVIEWER_BASE = 1_000_000_000
COMMENTS = ("Great value.", "Does the job.", "Not as pictured.", "Love it!", "Sturdy and well made.")


@dataclass(frozen=True)
class Sizes:
    products: int
    reviews_per_product: float
    seed: int


def _settings(service: str) -> ServiceSettings:
    return load(ServiceSettings, service_name=service)


def _batches(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


async def _insert(conn: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    for batch in _batches(rows):
        await conn.execute(table.insert(), list(batch))


def _categories(at: datetime) -> tuple[list[dict[str, Any]], list[int]]:
    """The category tree (department > subcategory > leaf) and the leaves' ids."""
    rows: list[dict[str, Any]] = []
    leaves: list[int] = []

    def add(name: str, parent: dict[str, Any] | None, position: int) -> dict[str, Any]:
        cid = len(rows) + 1
        slug = slugify(name if parent is None else f"{parent['slug']} {name}", "category")
        row = {
            "id": cid,
            "name": name,
            "slug": slug,
            "parent_id": parent["id"] if parent else None,
            "position": position,
            "path": (parent["path"] if parent else "/") + f"{cid}/",
            "created_at": at,
            "updated_at": at,
        }
        rows.append(row)
        return row

    for d, (department, subs) in enumerate(DEPARTMENTS.items()):
        top = add(department, None, d)
        for s, sub in enumerate(subs):
            middle = add(sub, top, s)
            for leaf in range(LEAVES_PER_SUBCATEGORY):
                leaves.append(add(f"{sub} {('Essentials', 'Pro', 'Studio')[leaf]}", middle, leaf)["id"])
    return rows, leaves


async def seed(sizes: Sizes) -> dict[str, float]:
    """Writes the catalog; the seconds each part took."""
    rng = random.Random(sizes.seed)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for service in ("catalog", "inventory", "reviews"):
        await migrate(service, wait_seconds=30)
    timings["migrate"] = time.perf_counter() - started

    now = datetime.now(UTC).replace(microsecond=0)
    catalog = Database(_settings("catalog").resolved_database_url())
    inventory = Database(_settings("inventory").resolved_database_url())
    reviews = Database(_settings("reviews").resolved_database_url())
    try:
        async with catalog.engine.connect() as conn:
            if await conn.scalar(sa.select(sa.func.count()).select_from(ProductRow.__table__)):
                raise SystemExit("deploy.seed_catalog: the catalog already has products; use a new database")

        mark = time.perf_counter()
        categories, leaves = _categories(now)
        products: list[dict[str, Any]] = []
        memberships: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        stock: list[dict[str, Any]] = []
        review_rows: list[dict[str, Any]] = []
        summaries: list[dict[str, Any]] = []
        fts: list[dict[str, Any]] = []
        terms: Counter[str] = Counter()
        for pid in range(1, sizes.products + 1):
            name = f"{rng.choice(ADJECTIVES).title()} {rng.choice(MATERIALS)} {rng.choice(NOUNS)}"
            description = " ".join(rng.choice(FILLER) for _ in range(rng.randint(8, 30)))
            sku = f"SKU-{pid:07d}"
            created = now - timedelta(seconds=sizes.products - pid)
            on_hand = 0 if rng.random() < 0.1 else rng.randint(1, 200)
            count = 0
            if sizes.reviews_per_product:
                count = min(int(rng.expovariate(1 / sizes.reviews_per_product)), 40)
            stars = [min(5, max(1, round(rng.gauss(3.8, 1.1)))) for _ in range(count)]
            average = sum(stars) / count if count else 0.0
            products.append(
                {
                    "id": pid,
                    "name": name,
                    "description": description,
                    "price_minor": rng.randint(99, 99_999),
                    "currency": CURRENCY,
                    "weight_grams": rng.randint(50, 20_000),
                    "slug": f"{slugify(name, 'product')}-{pid}",
                    "sku": sku,
                    "status": "active",
                    "in_stock": on_hand > 0,
                    "rating_average": average,
                    "rating_count": count,
                    "popularity": 0,
                    "created_at": created,
                    "updated_at": created,
                    "deleted_at": None,
                }
            )
            memberships.append({"product_id": pid, "category_id": rng.choice(leaves)})
            for position in range(rng.randint(1, 3)):
                images.append(
                    {
                        "product_id": pid,
                        "url": f"https://images.example.com/products/{pid}/{position}.jpg",
                        "alt_text": f"{name}, view {position + 1}",
                        "position": position,
                        "is_primary": position == 0,
                    }
                )
            stock.append(
                {
                    "product_id": pid,
                    "on_hand": on_hand,
                    "reserved": 0,
                    "low_stock_threshold": 5,
                    "updated_at": now,
                }
            )
            for user, rating in enumerate(stars, 1):
                review_rows.append(
                    {
                        "product_id": pid,
                        "user_id": REVIEWER_BASE + user,
                        "rating": rating,
                        "comment": rng.choice(COMMENTS),
                        "verified_purchase": False,
                        "hidden": False,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
            if count:
                histogram = Counter(stars)
                summaries.append(
                    {
                        "product_id": pid,
                        "count": count,
                        "sum": sum(stars),
                        **{f"r{n}": histogram[n] for n in range(1, 6)},
                    }
                )
            fts.append({"id": pid, "n": name, "d": description, "s": sku})
            terms.update(vocabulary(name, description, sku))
        timings["generate"] = time.perf_counter() - mark

        mark = time.perf_counter()
        async with catalog.engine.begin() as conn:
            await _insert(conn, CategoryRow.__table__, categories)  # type: ignore[arg-type]
            await _insert(conn, ProductRow.__table__, products)  # type: ignore[arg-type]
            slugs = [{"slug": p["slug"], "product_id": p["id"]} for p in products]
            await _insert(conn, ProductSlugRow.__table__, slugs)  # type: ignore[arg-type]
            await _insert(conn, ProductCategoryRow.__table__, memberships)  # type: ignore[arg-type]
            await _insert(conn, ImageRow.__table__, images)  # type: ignore[arg-type]
            vocabulary_rows = [
                {"id": i, "term": term, "products": n} for i, (term, n) in enumerate(sorted(terms.items()), 1)
            ]
            await _insert(conn, SearchTermRow.__table__, vocabulary_rows)  # type: ignore[arg-type]
            if catalog.is_sqlite:
                for batch in _batches(fts):
                    await conn.execute(
                        sa.text(
                            "INSERT INTO products_fts (rowid, name, description, sku) "
                            "VALUES (:id, :n, :d, :s)"
                        ),
                        list(batch),
                    )
                for batch in _batches(vocabulary_rows):
                    await conn.execute(
                        sa.text("INSERT INTO search_terms_trigram (rowid, term) VALUES (:id, :term)"),
                        [{"id": r["id"], "term": r["term"]} for r in batch],
                    )
            else:
                # Explicit ids: move the sequences past them for rows the service adds later.
                for table in ("products", "categories", "product_images", "search_terms"):
                    await conn.execute(
                        sa.text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT coalesce(max(id), 1) FROM {table}))"
                        )
                    )
        timings["catalog"] = time.perf_counter() - mark

        mark = time.perf_counter()
        async with inventory.engine.begin() as conn:
            await _insert(conn, StockLevelRow.__table__, stock)  # type: ignore[arg-type]
        timings["inventory"] = time.perf_counter() - mark

        mark = time.perf_counter()
        async with reviews.engine.begin() as conn:
            await _insert(conn, ReviewRow.__table__, review_rows)  # type: ignore[arg-type]
            await _insert(conn, SummaryRow.__table__, summaries)  # type: ignore[arg-type]
        timings["reviews"] = time.perf_counter() - mark

        for db in (catalog, inventory, reviews):
            async with db.engine.begin() as conn:
                await conn.execute(sa.text("ANALYZE"))  # planner statistics for the new size
        timings["total"] = time.perf_counter() - started
        timings["reviews_written"] = float(len(review_rows))
        return timings
    finally:
        for db in (catalog, inventory, reviews):
            await db.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.seed_catalog", description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--reviews-per-product", type=float, default=2.0, help="on average")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not 1 <= args.products <= 10_000_000:
        parser.error("--products must be between 1 and 10,000,000")
    timings = asyncio.run(seed(Sizes(args.products, max(0.0, args.reviews_per_product), args.seed)))
    reviews = int(timings.pop("reviews_written"))
    parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
    print(f"seeded {args.products} products and {reviews} reviews: {parts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
