"""The metric names a PromQL expression reads, and the series names a /metrics page offers."""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

# Series Prometheus makes itself for every scrape target; no process serves them.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

_NAME = re.compile(r"(?<![\w$])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=[{\[)\s,]|$)")
# PromQL words and functions that look like names.
_WORDS = (
    "sum min max avg count stddev stdvar topk bottomk quantile count_values group by without on "
    "ignoring group_left group_right and or unless bool offset rate irate increase delta deriv idelta "
    "histogram_quantile label_values label_replace abs absent absent_over_time clamp_min clamp_max "
    "vector scalar time sort sort_desc avg_over_time max_over_time min_over_time sum_over_time "
    "count_over_time last_over_time changes resets predict_linear timestamp le inf nan"
)
_NOT_METRICS = frozenset(_WORDS.split())


def metric_names(expr: str) -> set[str]:
    """Names of the series `expr` selects (Grafana's `$__rate_interval`-style variables ignored)."""
    cleaned = re.sub(r"\{[^}]*\}", "{}", expr)  # label matchers hold label names and values
    cleaned = re.sub(r"label_values\(([^,)]+),[^)]*\)", r"label_values(\1)", cleaned)  # (metric, label)
    cleaned = re.sub(r"\[[^\]]*\]", "[]", cleaned)  # range and subquery durations
    cleaned = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", cleaned)
    cleaned = re.sub(r'"[^"]*"', '""', cleaned)
    found = set()
    for match in _NAME.finditer(cleaned):
        name = match.group(1)
        if name in _NOT_METRICS or re.fullmatch(r"[0-9.e]+", name):
            continue
        found.add(name)
    return found


def served_series(pages: Iterable[str]) -> set[str]:
    """Every series name the /metrics pages offer, including those of families declared with no
    sample yet (a counter family `x` offers `x_total`, a histogram `x_bucket`, `x_sum`, `x_count`)."""
    names: set[str] = set()
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("_sum", "_count"),
    }
    for page in pages:
        for family in text_string_to_metric_families(page):
            names.update(sample.name for sample in family.samples)
            names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names
