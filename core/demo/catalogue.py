"""The fixed part of the demo: sections, platforms, the 60-metric catalogue, channels, names.

Nothing here depends on the seed, so two seeds give the same catalogue and brand names and
only the numbers differ. Each metric carries, besides what the `metrics` table stores, the
*typical* band the generator draws from: strictly inside [min_value, max_value], so generated
values (anomalies included) always pass the import range check.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Metric, Platform, Section

SECTIONS: tuple[str, ...] = ("Marketplace", "Digital Spends", "Organic Performance", "Socialwatch")

# Default project section weights: marketplace performance matters most for these portfolios.
SECTION_WEIGHTS: dict[str, float] = {
    "Marketplace": 0.30,
    "Digital Spends": 0.20,
    "Organic Performance": 0.25,
    "Socialwatch": 0.25,
}


@dataclass(frozen=True)
class PlatformSpec:
    section: str
    name: str
    weight: float


PLATFORMS: tuple[PlatformSpec, ...] = (
    PlatformSpec("Marketplace", "Amazon", 1.5),
    PlatformSpec("Marketplace", "Flipkart", 1.2),
    PlatformSpec("Marketplace", "Blinkit", 0.6),
    PlatformSpec("Digital Spends", "Google Ads", 1.3),
    PlatformSpec("Digital Spends", "Meta", 1.2),
    PlatformSpec("Digital Spends", "YouTube Ads", 0.9),
    PlatformSpec("Digital Spends", "Amazon Ads", 0.8),
    PlatformSpec("Organic Performance", "SEO", 1.2),
    PlatformSpec("Organic Performance", "Google Analytics", 1.3),
    PlatformSpec("Socialwatch", "Instagram", 1.2),
    PlatformSpec("Socialwatch", "Facebook", 0.7),
    PlatformSpec("Socialwatch", "X/Twitter", 0.6),
    PlatformSpec("Socialwatch", "YouTube", 1.0),
    PlatformSpec("Socialwatch", "LinkedIn", 0.5),
    PlatformSpec("Socialwatch", "Social Listening", 1.1),
)


@dataclass(frozen=True)
class MetricSpec:
    """One catalogue entry. `scale="log"` for counts spanning orders of magnitude across brands."""

    code: str
    name: str
    platform: str
    unit: str
    direction: str  # "higher" | "lower" is better
    weight: float
    min_value: float
    max_value: float
    typical_low: float
    typical_high: float
    scale: str = "linear"  # "linear" | "log"
    decimals: int = 2


def _m(code, name, platform, unit, direction, weight, lo, hi, tlo, thi, scale="linear", decimals=2) -> MetricSpec:
    return MetricSpec(code, name, platform, unit, direction, weight, lo, hi, tlo, thi, scale, decimals)


def describe(spec: MetricSpec) -> str:
    """The template's description of a metric, in words a marketer reads on the framework page."""
    better = "more" if spec.direction == "higher" else "less"
    unit = f" ({spec.unit})" if spec.unit else ""
    return f"{spec.name} on {spec.platform}{unit}; {better} is better."


def build_framework(organization_id: int, metrics: tuple[MetricSpec, ...] | None = None,
                    ) -> tuple[list[Section], list[Platform], list[Metric]]:
    """The template framework as new, unsaved rows of one organization: the four default sections
    (weighted as SECTION_WEIGHTS), their platforms and `metrics` (default: all of METRICS). The demo
    gives every organization one; `core.setup.framework` starts an organization's framework from it."""
    metrics = METRICS if metrics is None else metrics
    sections = {name: Section(organization_id=organization_id, name=name, position=i, weight=SECTION_WEIGHTS[name])
                for i, name in enumerate(SECTIONS)}
    platforms = {spec.name: Platform(section=sections[spec.section], name=spec.name, weight=spec.weight)
                 for spec in PLATFORMS}
    rows = [Metric(organization_id=organization_id, platform=platforms[m.platform], code=m.code, name=m.name,
                   direction=m.direction, weight=m.weight, unit=m.unit, min_value=m.min_value, max_value=m.max_value,
                   description=describe(m))
            for m in metrics]
    return list(sections.values()), list(platforms.values()), rows


H, L = "higher", "lower"

METRICS: tuple[MetricSpec, ...] = (
    # Marketplace · Amazon
    _m("amazon_avg_rating", "Average product rating", "Amazon", "stars", H, 1.5, 1, 5, 3.3, 4.7),
    _m("amazon_review_count", "Ratings and reviews", "Amazon", "count", H, 1.0, 0, 1e7, 300, 4e5, "log", 0),
    _m("amazon_search_rank", "Average organic search rank", "Amazon", "rank", L, 1.5, 1, 1000, 1.5, 120, "log", 1),
    _m("amazon_buybox_share", "Buy Box win rate", "Amazon", "%", H, 1.2, 0, 100, 55, 99.5),
    _m("amazon_oos_rate", "Out-of-stock rate", "Amazon", "%", L, 1.0, 0, 100, 0.5, 22),
    _m("amazon_return_rate", "Return rate", "Amazon", "%", L, 0.8, 0, 100, 1.0, 16),
    _m("amazon_content_score", "Listing content score", "Amazon", "score", H, 0.7, 0, 100, 40, 98, decimals=0),
    # Marketplace · Flipkart
    _m("flipkart_avg_rating", "Average product rating", "Flipkart", "stars", H, 1.5, 1, 5, 3.2, 4.6),
    _m("flipkart_review_count", "Ratings and reviews", "Flipkart", "count", H, 1.0, 0, 1e7, 150, 2.5e5, "log", 0),
    _m("flipkart_search_rank", "Average organic search rank", "Flipkart", "rank", L, 1.4, 1, 1000, 1.5, 150,
       "log", 1),
    _m("flipkart_return_rate", "Return rate", "Flipkart", "%", L, 0.8, 0, 100, 1.5, 20),
    _m("flipkart_delivery_days", "Average delivery time", "Flipkart", "days", L, 0.6, 0.5, 20, 1.2, 7.5),
    # Marketplace · Blinkit (quick commerce)
    _m("blinkit_availability", "Dark-store availability", "Blinkit", "%", H, 1.2, 0, 100, 45, 98),
    _m("blinkit_search_rank", "Average search rank", "Blinkit", "rank", L, 1.0, 1, 200, 1.2, 40, "log", 1),
    # Digital Spends · Google Ads
    _m("gads_impression_share", "Search impression share", "Google Ads", "%", H, 1.3, 0, 100, 12, 85),
    _m("gads_ctr", "Click-through rate", "Google Ads", "%", H, 1.0, 0, 100, 0.8, 9),
    _m("gads_cpc", "Cost per click", "Google Ads", "INR", L, 1.2, 0.1, 500, 3, 60, "log"),
    _m("gads_conversion_rate", "Conversion rate", "Google Ads", "%", H, 1.2, 0, 100, 0.5, 8),
    _m("gads_roas", "Return on ad spend", "Google Ads", "ratio", H, 1.5, 0, 50, 0.8, 9, "log"),
    _m("gads_quality_score", "Average quality score", "Google Ads", "score", H, 0.6, 1, 10, 3.5, 9.2, decimals=1),
    # Digital Spends · Meta
    _m("meta_cpm", "Cost per thousand impressions", "Meta", "INR", L, 1.0, 1, 2000, 40, 450, "log"),
    _m("meta_ctr", "Link click-through rate", "Meta", "%", H, 1.0, 0, 100, 0.4, 3.5),
    _m("meta_cpa", "Cost per acquisition", "Meta", "INR", L, 1.4, 1, 20000, 80, 2500, "log"),
    _m("meta_roas", "Return on ad spend", "Meta", "ratio", H, 1.5, 0, 50, 0.6, 7, "log"),
    # Digital Spends · YouTube Ads
    _m("ytads_view_rate", "View rate", "YouTube Ads", "%", H, 1.0, 0, 100, 8, 45),
    _m("ytads_cpv", "Cost per view", "YouTube Ads", "INR", L, 1.0, 0.01, 50, 0.15, 2.5, "log"),
    _m("ytads_completion_rate", "Video completion rate", "YouTube Ads", "%", H, 0.8, 0, 100, 15, 70),
    # Digital Spends · Amazon Ads
    _m("amzads_acos", "Advertising cost of sales", "Amazon Ads", "%", L, 1.3, 0, 300, 6, 70),
    _m("amzads_ctr", "Sponsored products CTR", "Amazon Ads", "%", H, 0.8, 0, 100, 0.2, 2.2),
    # Organic Performance · SEO
    _m("seo_organic_sessions", "Organic search sessions", "SEO", "sessions", H, 1.5, 0, 1e9, 5e3, 3e6, "log", 0),
    _m("seo_keywords_top10", "Keywords ranking in top 10", "SEO", "count", H, 1.2, 0, 1e6, 30, 25000, "log", 0),
    _m("seo_domain_authority", "Domain authority", "SEO", "score", H, 0.8, 0, 100, 15, 85, decimals=0),
    _m("seo_backlinks", "Referring domains", "SEO", "count", H, 0.6, 0, 1e7, 80, 60000, "log", 0),
    _m("seo_share_of_search", "Share of search", "SEO", "%", H, 1.3, 0, 100, 0.5, 35),
    # Organic Performance · Google Analytics
    _m("ga_bounce_rate", "Bounce rate", "Google Analytics", "%", L, 1.2, 0, 100, 22, 78),
    _m("ga_avg_session_duration", "Average session duration", "Google Analytics", "seconds", H, 1.0, 0, 3600,
       35, 420, "log", 0),
    _m("ga_pages_per_session", "Pages per session", "Google Analytics", "pages", H, 0.7, 1, 50, 1.3, 7.5),
    _m("ga_conversion_rate", "Site conversion rate", "Google Analytics", "%", H, 1.5, 0, 100, 0.3, 6.5),
    _m("ga_page_load_time", "Average page load time", "Google Analytics", "seconds", L, 1.0, 0.1, 60, 0.9, 7.5,
       "log"),
    _m("ga_returning_users", "Returning users share", "Google Analytics", "%", H, 0.8, 0, 100, 12, 55),
    # Socialwatch · Instagram
    _m("ig_followers", "Followers", "Instagram", "followers", H, 1.0, 0, 1e9, 2e3, 5e6, "log", 0),
    _m("ig_engagement_rate", "Engagement rate", "Instagram", "%", H, 1.5, 0, 100, 0.4, 6.5),
    _m("ig_follower_growth", "Monthly follower growth", "Instagram", "%", H, 1.0, -50, 100, -1.5, 7.5),
    _m("ig_reach", "Monthly reach", "Instagram", "accounts", H, 1.0, 0, 1e10, 1e4, 2e7, "log", 0),
    _m("ig_reel_views", "Reel views", "Instagram", "views", H, 0.8, 0, 1e10, 5e3, 3e7, "log", 0),
    # Socialwatch · Facebook
    _m("fb_followers", "Page followers", "Facebook", "followers", H, 0.8, 0, 1e9, 5e3, 8e6, "log", 0),
    _m("fb_engagement_rate", "Engagement rate", "Facebook", "%", H, 1.0, 0, 100, 0.05, 2.5),
    _m("fb_response_time", "Median response time", "Facebook", "hours", L, 1.0, 0, 720, 0.3, 48, "log"),
    # Socialwatch · X/Twitter
    _m("x_followers", "Followers", "X/Twitter", "followers", H, 0.8, 0, 1e9, 1e3, 2e6, "log", 0),
    _m("x_engagement_rate", "Engagement rate", "X/Twitter", "%", H, 1.0, 0, 100, 0.02, 1.5),
    _m("x_mentions", "Brand mentions", "X/Twitter", "mentions", H, 0.8, 0, 1e9, 100, 3e5, "log", 0),
    _m("x_response_time", "Median response time", "X/Twitter", "minutes", L, 1.2, 0, 10080, 8, 900, "log", 0),
    # Socialwatch · YouTube (organic channel)
    _m("yt_subscribers", "Channel subscribers", "YouTube", "subscribers", H, 1.0, 0, 1e9, 500, 3e6, "log", 0),
    _m("yt_views", "Monthly views", "YouTube", "views", H, 1.2, 0, 1e10, 2e3, 5e7, "log", 0),
    _m("yt_avg_view_duration", "Average view duration", "YouTube", "seconds", H, 0.8, 0, 3600, 20, 300, "log", 0),
    # Socialwatch · LinkedIn
    _m("li_followers", "Company page followers", "LinkedIn", "followers", H, 0.6, 0, 1e8, 500, 6e5, "log", 0),
    _m("li_engagement_rate", "Engagement rate", "LinkedIn", "%", H, 1.0, 0, 100, 0.3, 5),
    # Socialwatch · Social Listening
    _m("sl_share_of_voice", "Share of voice", "Social Listening", "%", H, 1.5, 0, 100, 0.5, 30),
    _m("sl_net_sentiment", "Net sentiment", "Social Listening", "score", H, 1.3, -100, 100, -35, 75, decimals=1),
    _m("sl_negative_share", "Negative mentions share", "Social Listening", "%", L, 1.0, 0, 100, 4, 45),
)


@dataclass(frozen=True)
class ChannelSpec:
    """A paid channel: typical weekly spend (INR, for a brand of average size) and its curve family.

    `flighting`: "always" (always-on with noise), "pulsed" (always-on with bursts) or
    "burst" (on/off flights, zero weeks in between). `shape` and `decay` are ranges the
    true curve parameters are drawn from; shape > 1 is S-shaped.
    """

    name: str
    weekly_spend: float
    flighting: str
    shape: tuple[float, float]
    decay: tuple[float, float]
    roi: tuple[float, float]  # revenue per unit of spend at the typical spend level


CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec("TV", 2_500_000, "burst", (1.8, 2.6), (0.45, 0.70), (1.2, 2.4)),
    ChannelSpec("Search", 600_000, "always", (0.6, 0.95), (0.00, 0.15), (2.5, 5.0)),
    ChannelSpec("Meta", 800_000, "pulsed", (0.75, 1.0), (0.15, 0.35), (1.8, 3.5)),
    ChannelSpec("YouTube", 700_000, "burst", (1.4, 2.0), (0.30, 0.50), (1.3, 2.6)),
    ChannelSpec("Retail Media", 500_000, "pulsed", (0.7, 1.0), (0.05, 0.25), (2.5, 4.5)),
    ChannelSpec("OOH", 900_000, "burst", (1.6, 2.4), (0.40, 0.60), (0.8, 1.8)),
)


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    category: str
    own: tuple[str, ...]
    competitors: tuple[str, ...]


@dataclass(frozen=True)
class OrganizationSpec:
    name: str
    slug: str
    projects: tuple[ProjectSpec, ...]


# Competitors listed in both of an organization's projects are the same brand row (shared).
ORGANIZATIONS: tuple[OrganizationSpec, ...] = (
    OrganizationSpec(
        "Aurora Consumer Products",
        "aurora",
        (
            ProjectSpec(
                "Personal Care",
                "Personal care",
                ("Lumina", "Veda Botanics", "PureLeaf", "Silken", "Dewdrop", "Aloe Nova", "Kesari Glow",
                 "Mintique", "Softora", "Tejas Men"),
                ("Glowell", "Herbalia", "Nivasa", "Clarique", "Sundari", "Fresca", "Amrita Naturals",
                 "Velvetine", "Zestora", "Bloomix"),
            ),
            ProjectSpec(
                "Home Care",
                "Home care",
                ("Sparkle Home", "Ujjwal", "Fresh Nest", "Shinex", "Klenza", "Aroma Haven", "Brightwash",
                 "Dhara Clean", "Gleamo", "Safeguard Plus"),
                ("Glowell", "Herbalia", "Nivasa", "Clarique", "Purex", "Washwell", "Hygenix", "Shudh",
                 "Brillo Max", "Tidal Fresh"),
            ),
        ),
    ),
    OrganizationSpec(
        "Northwind Electronics",
        "northwind",
        (
            ProjectSpec(
                "Audio",
                "Audio",
                ("Northwind Audio", "Sonique", "Bassline", "EchoPod", "Tarang", "Pulse Buds", "Aerosound",
                 "Nimbus Beats", "Vibe Pro", "Resona"),
                ("Boomtide", "Soundara", "Audiora", "Zentune", "Kranti Audio", "Clearwave", "Decibel One",
                 "Harmonix", "Tunely", "Acoustiq"),
            ),
            ProjectSpec(
                "Smart Home",
                "Smart home",
                ("Northwind Home", "Lumos Smart", "Homely", "Sentra", "Wattwise", "Glimmer", "Cozyhome",
                 "Ghar Smart", "Nestora", "Brightlink"),
                ("Boomtide", "Soundara", "Audiora", "Zentune", "Smartika", "Homegenie", "Veloce Home",
                 "Kasa Bright", "Connecto", "Switchly"),
            ),
        ),
    ),
)

# Syllables for the benchmark portfolio's brand names (N can be in the thousands).
_PREFIXES = ("Aur", "Bel", "Cor", "Dar", "El", "Fen", "Gal", "Hel", "Ir", "Jas", "Kal", "Lum", "Mir", "Nov",
             "Or", "Pra", "Qui", "Ros", "Sol", "Tar", "Ul", "Ver", "Wyn", "Xan", "Yor", "Zen")
_SUFFIXES = ("a", "ex", "ora", "ix", "ana", "io", "elle", "ovo", "ara", "une", "ique", "ent", "yx", "alis",
             "ova", "ium", "etta", "ari", "enz", "oma")
_WORDS = ("", " Labs", " Naturals", " Home", " Tech", " Foods", " Living", " Care")


def benchmark_brand_names(n: int) -> list[str]:
    """`n` distinct, pronounceable brand names, the same for every seed."""
    stems = [p + s for p in _PREFIXES for s in _SUFFIXES]
    names = [stem + word for word in _WORDS for stem in stems]
    if n > len(names):
        names += [f"{names[i % len(names)]} {i // len(names) + 1}" for i in range(len(names), n)]
    return names[:n]
