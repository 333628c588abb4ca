"""Static vocabularies the generator draws from (names, cities, user agents, ...).

Everything here is plain data. Generated text only uses example.com / example.org /
example.net for addresses and shop / CDN URLs.
"""

from __future__ import annotations

from typing import Final, NamedTuple

SHOP_URL: Final = "https://shop.example.com"
CDN_URL: Final = "https://cdn.example.com/img"
CURRENCY: Final = "EUR"
EMAIL_DOMAINS: Final = ("example.com", "example.org", "example.net")
EMAIL_DOMAIN_WEIGHTS: Final = (0.6, 0.25, 0.15)

FIRST_NAMES: Final = tuple(
    "Emma Liam Olivia Noah Mia Lucas Sofia Leon Anna Finn Clara Elias Hannah Paul Lea Jonas Marie Felix "
    "Julia Max Sara David Laura Jan Nora Tom Alice Hugo Chloe Louis Ines Mateo Lucia Marco Giulia Pieter "
    "Sanne Lars Ingrid Oscar Maja Piotr Zofia Tomas Eva Joao Beatriz Sean Aoife James".split()
)
LAST_NAMES: Final = tuple(
    "Schmidt Mueller Schneider Fischer Weber Meyer Wagner Becker Martin Bernard Dubois Laurent Garcia "
    "Fernandez Lopez Martinez Rossi Russo Bianchi Romano DeJong Jansen Visser Peeters Maes Gruber Huber "
    "Keller Hansen Nielsen Johansson Andersson Larsen Virtanen Nowak Kowalski Novak Silva Santos Murphy "
    "Kelly Smith Jones Taylor Brown Wilson Clarke Walsh Moreau Costa".split()
)


class City(NamedTuple):
    name: str
    country: str
    offset_minutes: int  # standard-time UTC offset a local client clock writes
    weight: float


CITIES: Final = (
    City("Berlin", "DE", 60, 6.0),
    City("Munich", "DE", 60, 3.0),
    City("Hamburg", "DE", 60, 3.0),
    City("Cologne", "DE", 60, 2.0),
    City("Paris", "FR", 60, 5.0),
    City("Lyon", "FR", 60, 1.5),
    City("Madrid", "ES", 60, 3.0),
    City("Barcelona", "ES", 60, 2.5),
    City("Milan", "IT", 60, 2.5),
    City("Rome", "IT", 60, 2.5),
    City("Amsterdam", "NL", 60, 3.0),
    City("Rotterdam", "NL", 60, 1.0),
    City("Brussels", "BE", 60, 1.5),
    City("Vienna", "AT", 60, 2.0),
    City("Zurich", "CH", 60, 1.5),
    City("Copenhagen", "DK", 60, 1.2),
    City("Stockholm", "SE", 60, 1.5),
    City("Oslo", "NO", 60, 1.0),
    City("Helsinki", "FI", 120, 1.0),
    City("Warsaw", "PL", 60, 2.0),
    City("Prague", "CZ", 60, 1.2),
    City("Lisbon", "PT", 0, 1.2),
    City("Dublin", "IE", 0, 1.2),
    City("London", "GB", 0, 4.0),
    City("Manchester", "GB", 0, 1.5),
    City("New York", "US", -300, 1.0),
)


class Category(NamedTuple):
    slug: str
    title: str
    median_price: float  # EUR
    weight: float  # share of the catalogue
    nouns: tuple[str, ...]
    searches: tuple[str, str, str, str]


CATEGORIES: Final = (
    Category(
        "shoes",
        "Shoes",
        89.0,
        1.4,
        ("Sneakers", "Ankle Boots", "Loafers", "Running Shoes", "Sandals", "Chelsea Boots"),
        ("white sneakers", "ankle boots", "running shoes", "leather loafers"),
    ),
    Category(
        "outerwear",
        "Outerwear",
        149.0,
        1.0,
        ("Parka", "Trench Coat", "Puffer Jacket", "Wool Coat", "Rain Jacket", "Bomber Jacket"),
        ("winter coat", "rain jacket", "puffer jacket", "trench coat"),
    ),
    Category(
        "dresses",
        "Dresses",
        69.0,
        1.1,
        ("Midi Dress", "Wrap Dress", "Shirt Dress", "Maxi Dress", "Slip Dress", "Knit Dress"),
        ("midi dress", "summer dress", "black dress", "wrap dress"),
    ),
    Category(
        "accessories",
        "Accessories",
        29.0,
        1.2,
        ("Scarf", "Beanie", "Belt", "Sunglasses", "Gloves", "Cap"),
        ("wool scarf", "leather belt", "sunglasses", "beanie"),
    ),
    Category(
        "bags",
        "Bags",
        79.0,
        0.8,
        ("Tote Bag", "Backpack", "Crossbody Bag", "Shopper", "Clutch", "Weekender"),
        ("tote bag", "backpack", "crossbody bag", "leather bag"),
    ),
    Category(
        "knitwear",
        "Knitwear",
        59.0,
        1.0,
        ("Crew Neck Jumper", "Cardigan", "Turtleneck", "V-Neck Sweater", "Knit Vest", "Hoodie"),
        ("cashmere jumper", "cardigan", "turtleneck", "wool sweater"),
    ),
    Category(
        "jeans",
        "Jeans",
        69.0,
        0.9,
        ("Slim Jeans", "Straight Jeans", "Wide Leg Jeans", "Bootcut Jeans", "Mom Jeans", "Denim Shorts"),
        ("slim jeans", "wide leg jeans", "black jeans", "straight jeans"),
    ),
    Category(
        "sportswear",
        "Sportswear",
        45.0,
        0.9,
        ("Leggings", "Training Top", "Track Jacket", "Sports Bra", "Running Shorts", "Joggers"),
        ("leggings", "running shorts", "yoga pants", "track jacket"),
    ),
    Category(
        "beauty",
        "Beauty",
        24.0,
        0.8,
        ("Face Serum", "Lip Balm", "Eau de Parfum", "Hand Cream", "Cleanser", "Body Lotion"),
        ("face serum", "perfume", "hand cream", "lip balm"),
    ),
    Category(
        "home",
        "Home",
        34.0,
        0.7,
        ("Scented Candle", "Throw Blanket", "Cushion Cover", "Ceramic Vase", "Bath Towel", "Linen Napkins"),
        ("scented candle", "throw blanket", "cushion", "towels"),
    ),
)

COLOURS: Final = tuple("Black White Navy Grey Beige Olive Burgundy Camel Blue Green Red Ivory".split())
STYLES: Final = tuple("Classic Relaxed Essential Premium Organic Recycled Vintage Everyday Tailored Soft".split())

# Realistic browser user agents; none contains a pattern of seeds/bot_user_agent_patterns.csv.
DESKTOP_USER_AGENTS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
MOBILE_USER_AGENTS: Final = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
)
TABLET_USER_AGENTS: Final = (
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Safari/537.36",
)
BROWSER_USER_AGENTS: Final = DESKTOP_USER_AGENTS + MOBILE_USER_AGENTS + TABLET_USER_AGENTS
DEVICE_KIND_WEIGHTS: Final = (0.42, 0.5, 0.08)  # desktop, mobile, tablet

# Crawlers and automation: each contains a pattern of seeds/bot_user_agent_patterns.csv.
BOT_USER_AGENTS: Final = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "python-requests/2.32.3",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
)

REFERRERS: Final = (
    "https://www.google.com/",
    "https://www.instagram.com/",
    "https://www.facebook.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://www.pinterest.com/",
)


class Campaign(NamedTuple):
    source: str
    medium: str
    name: str
    content: str
    term: str


CAMPAIGNS: Final = (
    Campaign("google", "cpc", "brand_search", "text_ad", "example shop"),
    Campaign("google", "cpc", "generic_shoes", "text_ad", "sneakers sale"),
    Campaign("newsletter", "email", "weekly_edit", "hero_banner", "newsletter"),
    Campaign("instagram", "social", "autumn_drop", "story", "autumn"),
    Campaign("facebook", "paid_social", "retargeting", "carousel", "viewed_products"),
    Campaign("affiliate", "affiliate", "cashback_partner", "deal_page", "cashback"),
    Campaign("tiktok", "paid_social", "creator_collab", "video", "outfit"),
)

SIGN_METHODS: Final = ("email", "google", "apple")


class TrackName(NamedTuple):
    canonical: str
    aliases: tuple[str, ...]  # alternative spellings accepted by seeds/event_name_map.csv


# Index = event kind code for track kinds (see behaviour.Kind).
TRACK_NAMES: Final = {
    "Product List Viewed": ("Category Viewed",),
    "Product Viewed": ("Viewed Product", "product_viewed", "view_item"),
    "Products Searched": ("search", "Searched Products"),
    "Product Added to Wishlist": ("add_to_wishlist", "Added to Wishlist"),
    "Product Added": ("add_to_cart", "Added to Cart", "product_added"),
    "Product Removed": ("remove_from_cart", "Removed from Cart"),
    "Cart Viewed": ("Viewed Cart",),
    "Checkout Started": ("begin_checkout", "Started Checkout"),
    "Order Completed": ("purchase", "Order Complete", "completed order"),
    "Signed Up": ("sign_up",),
    "Signed In": ("login",),
}

# Track names that are not in the event-name map (quarantined as unknown_event_name).
UNKNOWN_EVENT_NAMES: Final = ("debug_ping", "Experiment Viewed", "Banner Impression", "test_event")
# Message types staging does not handle (quarantined as unknown_message_type).
UNKNOWN_MESSAGE_TYPES: Final = ("alias", "group", "Track Event")
# Client timestamps that cannot be parsed (quarantined as invalid_timestamp; NULL too).
INVALID_TIMESTAMPS: Final = ("", "not-a-timestamp", "2026-02-30T25:61:00Z", "undefined")

UNKNOWN_ORDER_STATUSES: Final = ("pending", "on_hold", "shipped")
UNKNOWN_EMAIL_EVENT_TYPES: Final = ("dropped", "deferred", "processed")
UNKNOWN_CONSENT_STATUSES: Final = ("pending", "opted_in")
UNKNOWN_CHANNELS: Final = ("push", "whatsapp")
CRM_INVALID_EMAILS: Final = ("n/a", "john@", "")
ESP_INVALID_EMAILS: Final = ("not-an-email", "jane.doe@", "jane.doe@example", "jane doe@example.com")
