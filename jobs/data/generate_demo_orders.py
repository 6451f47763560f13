"""Generate the demo dataset ``demo_orders.csv.gz`` deterministically.

About 100,000 orders over the 90 days 2024-01-01 .. 2024-03-30, with weekly and
weekend seasonality, repeat customers, a product catalogue and some cancelled or
refunded orders. Same seed, same bytes: ``python jobs/data/generate_demo_orders.py``
rewrites the shipped file identically.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import random
from pathlib import Path

SEED = 20240101
FIRST_DAY = dt.date(2024, 1, 1)
DAYS = 90
ORDERS_PER_DAY = 1111  # ~100k in all
OUTPUT = Path(__file__).with_name("demo_orders.csv.gz")
COLUMNS = (
    "order_id",
    "order_date",
    "ordered_at",
    "customer_id",
    "country",
    "sku",
    "category",
    "quantity",
    "unit_price",
    "currency",
    "status",
    "amount",
)
COUNTRIES = (
    ("GB", "GBP", 0.45),
    ("DE", "EUR", 0.2),
    ("FR", "EUR", 0.15),
    ("US", "USD", 0.12),
    ("NL", "EUR", 0.08),
)
CATEGORIES = ("books", "games", "garden", "kitchen", "music", "outdoor", "toys", "tools")
STATUSES = (("completed", 0.9), ("cancelled", 0.06), ("refunded", 0.04))


def _catalogue(rng: random.Random) -> list[tuple[str, str, float]]:
    items = []
    for n in range(400):
        category = CATEGORIES[n % len(CATEGORIES)]
        price = round(rng.lognormvariate(2.8, 0.7), 2)
        items.append((f"{category[:3].upper()}-{n:05d}", category, max(price, 0.99)))
    return items


def rows() -> list[list[str]]:
    rng = random.Random(SEED)
    catalogue = _catalogue(rng)
    out: list[list[str]] = []
    order_id = 1_000_000
    for day_index in range(DAYS):
        day = FIRST_DAY + dt.timedelta(days=day_index)
        weekend = day.weekday() >= 5
        count = int(ORDERS_PER_DAY * (1.25 if weekend else 0.9) * rng.uniform(0.9, 1.1))
        seconds = sorted(rng.randrange(86_400) for _ in range(count))
        for second in seconds:
            order_id += 1
            country, currency, _ = rng.choices(COUNTRIES, [c[2] for c in COUNTRIES])[0]
            sku, category, price = catalogue[min(int(rng.expovariate(1 / 60)), len(catalogue) - 1)]
            quantity = 1 + int(rng.expovariate(1.5))
            status = rng.choices([s[0] for s in STATUSES], [s[1] for s in STATUSES])[0]
            at = dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(seconds=second)
            out.append(
                [
                    str(order_id),
                    day.isoformat(),
                    at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    f"C{int(rng.expovariate(1 / 9000)) % 40_000:06d}",
                    country,
                    sku,
                    category,
                    str(quantity),
                    f"{price:.2f}",
                    currency,
                    status,
                    f"{price * quantity:.2f}",
                ]
            )
    return out


def write(path: Path = OUTPUT) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows())
    # mtime=0 keeps the gzip bytes identical between runs.
    path.write_bytes(gzip.compress(buffer.getvalue().encode(), compresslevel=9, mtime=0))
    return path


if __name__ == "__main__":
    print(write())
