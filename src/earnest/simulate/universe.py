"""The simulated listed companies: names, NSE-style tickers, ISINs, sectors and sizes.

Everything here is invented. Names combine an Indian place or heritage word with a sector word
("Narmada Finance Limited"); tickers are built from them the way NSE tickers look (``NARMADAFIN``,
at most 10 characters, upper-case). ISINs are well formed: ``INE`` + a 4-character issuer code +
``01`` (equity) + a 2-digit serial + the ISO 6166 check digit (:func:`isin_check_digit`).
"""

from __future__ import annotations

import datetime as dt
import re
import zlib
from dataclasses import dataclass
from itertools import product

import numpy as np
import polars as pl

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random stream for one part of the simulation.

    Each part (returns, volumes, corporate actions...) draws from its own stream keyed by name, so
    adding a new part later does not change what the existing parts produce for the same seed.
    """
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


@dataclass(frozen=True)
class Sector:
    """A sector: how its companies are named, and the NSE sector index it feeds (if any)."""

    name: str
    words: tuple[str, ...]
    tickers: tuple[str, ...]
    index_name: str | None = None
    index_base: float = 10_000.0


SECTORS: tuple[Sector, ...] = (
    Sector(
        "Banks",
        ("Bank", "Co-operative Bank", "Gramin Bank"),
        ("BANK", "COOPBK", "GRBANK"),
        "Nifty Bank",
        35_000.0,
    ),
    Sector(
        "IT",
        ("Infotech", "Software", "Technologies", "Digital"),
        ("INFO", "SOFT", "TECH", "DIGI"),
        "Nifty IT",
        28_000.0,
    ),
    Sector(
        "Pharma",
        ("Pharma", "Labs", "Lifesciences", "Healthcare"),
        ("PHARM", "LAB", "LIFE", "HLTH"),
        "Nifty Pharma",
        12_500.0,
    ),
    Sector(
        "Auto",
        ("Motors", "Auto", "Auto Components", "Tyres"),
        ("MOTOR", "-AUTO", "AUTOCO", "TYRE"),
        "Nifty Auto",
        10_500.0,
    ),
    Sector(
        "FMCG",
        ("Foods", "Consumer", "Beverages", "Agro"),
        ("FOOD", "CONS", "BEV", "AGRO"),
        "Nifty FMCG",
        38_000.0,
    ),
    Sector(
        "Metals",
        ("Steel", "Metals", "Alloys", "Mining"),
        ("STEEL", "METAL", "ALLOY", "MIN"),
        "Nifty Metal",
        5_500.0,
    ),
    Sector("Energy", ("Power", "Energy", "Petro", "Gas"), ("POWER", "ENRGY", "PETRO", "GAS")),
    Sector(
        "Financial Services",
        ("Finance", "Capital", "Finserv", "Housing Finance"),
        ("FIN", "CAP", "FINSV", "HFL"),
    ),
    Sector("Realty", ("Realty", "Infra", "Buildcon", "Cement"), ("REALTY", "INFRA", "BUILD", "CEM")),
    Sector(
        "Chemicals", ("Chemicals", "Polymers", "Organics", "Fertilisers"), ("CHEM", "POLY", "ORG", "FERT")
    ),
)
"""Ten sectors; six feed a sector index in the daily index file."""

_PREFIXES = (
    "Aravali",
    "Bhagirath",
    "Chambal",
    "Damodar",
    "Ellora",
    "Godavari",
    "Hampi",
    "Indus",
    "Jhelum",
    "Kaveri",
    "Konkan",
    "Malwa",
    "Narmada",
    "Nilgiri",
    "Sahyadri",
    "Satpura",
    "Tapti",
    "Vindhya",
    "Ajanta",
    "Kanchan",
    "Mandovi",
    "Sabari",
    "Vaigai",
    "Yamuna",
    "Saraswati",
    "Shivalik",
    "Deccan",
    "Kalinga",
    "Magadh",
    "Avadh",
    "Kutch",
    "Marwar",
    "Mewar",
    "Bundel",
    "Trikuta",
    "Amrit",
    "Navdeep",
    "Prakash",
    "Suryoday",
    "Chandra",
    "Tara",
    "Vasant",
    "Sharad",
    "Hemant",
    "Sagar",
    "Parvat",
    "Akash",
    "Prithvi",
    "Agni",
    "Varun",
    "Vayu",
    "Mitra",
    "Arjun",
    "Vikram",
    "Harsha",
    "Pallava",
    "Hoysala",
    "Kakatiya",
    "Rohini",
    "Ujjwal",
    "Pragati",
    "Unnati",
    "Samrat",
    "Kirti",
    "Lakshya",
    "Nirmal",
    "Omkar",
    "Pushpak",
    "Rajhans",
    "Sanjivani",
    "Triveni",
    "Utkarsh",
    "Yashas",
    "Zenith",
)
_MIDDLES = ("", "Shree ", "New ", "United ", "National ", "Modern ")


def isin_check_digit(body: str) -> str:
    """The ISO 6166 check digit of an 11-character ISIN body (``INE002A0101`` -> ``8``).

    Letters become two digits (A=10 ... Z=35), then the Luhn algorithm runs over the digit
    string, doubling every second digit counted from the right, starting with the rightmost.
    """
    if re.fullmatch(r"[A-Z]{2}[0-9A-Z]{9}", body) is None:
        raise ValueError(f"an ISIN body is 11 upper-case letters or digits, got {body!r}")
    digits = "".join(str(int(ch, 36)) for ch in body)
    total = 0
    for pos, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if pos % 2 == 0 else 1)
        total += d // 10 + d % 10
    return str((10 - total % 10) % 10)


def is_valid_isin(isin: str) -> bool:
    """True if ``isin`` is 12 characters and its last one is the right check digit."""
    if re.fullmatch(r"[A-Z]{2}[0-9A-Z]{9}[0-9]", isin) is None:
        return False
    return isin[-1] == isin_check_digit(isin[:11])


def _issuer_codes(rng: np.random.Generator, n: int) -> list[str]:
    """Unique 4-character issuer codes: older ``002A``-style and newer ``0D0U``-style."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        if rng.random() < 0.7:
            code = f"{int(rng.integers(1, 999)):03d}{_LETTERS[int(rng.integers(0, 26))]}"
        else:
            a, b = rng.integers(0, 26, size=2)
            code = f"0{_LETTERS[a]}{int(rng.integers(0, 10))}{_LETTERS[b]}"
        if code not in seen:
            seen.add(code)
            out.append(code)
    return out


def _ticker(prefix: str, suffix: str, taken: set[str]) -> str:
    """An NSE-looking ticker of at most 10 characters, unique within ``taken``."""
    stem = prefix.upper().replace(" ", "")
    room = 10 - len(suffix)
    for cut in range(room, 2, -1):
        cand = stem[:cut] + suffix
        if cand not in taken:
            return cand
    for letter in _LETTERS:
        cand = stem[: room - 1] + letter + suffix
        if cand not in taken:
            return cand
    raise ValueError(f"cannot find a free ticker for {prefix} {suffix}")  # pragma: no cover


def short_name(name: str) -> str:
    """The 25-character security name NSE uses in its reports (``Narmada Finance Ltd``)."""
    return name.replace(" Limited", " Ltd")[:25].rstrip()


def build_universe(seed: int, n: int, *, as_of: dt.date) -> pl.DataFrame:
    """``n`` invented companies, largest first.

    Columns: ``idx`` (0-based position, the column index of the simulation's arrays), ``name``,
    ``short_name``, ``symbol``, ``isin``, ``sector`` (index into :data:`SECTORS`),
    ``sector_name``, ``face_value`` (rupees), ``listing_date`` (before ``as_of``), ``mcap_cr``
    (market capitalisation in Rs crore at the start) and ``fin_instrm_id`` (NSE's numeric token).
    """
    rng = stream(seed, "universe")
    combos = [(m, p, s, w) for m, p, s in product(_MIDDLES, _PREFIXES, range(len(SECTORS))) for w in range(4)]
    combos = [c for c in combos if c[3] < len(SECTORS[c[2]].words)]
    if n > len(combos):
        raise ValueError(f"at most {len(combos)} simulated companies, asked for {n}")
    # Plain names first (no middle word), then the rest: names stay short for small universes.
    plain = [c for c in combos if c[0] == ""]
    order = list(rng.permutation(len(plain)))
    rest = [c for c in combos if c[0] != ""]
    picks = [plain[i] for i in order[:n]]
    if n > len(plain):
        picks += [rest[i] for i in rng.permutation(len(rest))[: n - len(plain)]]
    taken: set[str] = set()
    names, symbols, sectors = [], [], []
    for middle, prefix, sector, word in picks:
        sec = SECTORS[sector]
        names.append(f"{middle}{prefix} {sec.words[word]} Limited")
        symbols.append(_ticker(middle.strip()[:1] + prefix, sec.tickers[word], taken))
        taken.add(symbols[-1])
        sectors.append(sector)
    mcap = np.sort(np.clip(np.exp(rng.normal(np.log(20_000.0), 1.4, size=n)), 250.0, 1.8e6))[::-1]
    bodies = [f"INE{code}01{int(rng.choice([1, 1, 1, 2])):02d}" for code in _issuer_codes(rng, n)]
    span = (dt.date(2021, 6, 30) - dt.date(1995, 1, 2)).days
    listing = [dt.date(1995, 1, 2) + dt.timedelta(days=int(d)) for d in rng.integers(0, span, size=n)]
    listing = [min(d, as_of - dt.timedelta(days=30)) for d in listing]
    return pl.DataFrame(
        {
            "idx": np.arange(n, dtype=np.int64),
            "name": names,
            "short_name": [short_name(x) for x in names],
            "symbol": symbols,
            "isin": [b + isin_check_digit(b) for b in bodies],
            "sector": np.asarray(sectors, dtype=np.int64),
            "sector_name": [SECTORS[s].name for s in sectors],
            "face_value": rng.choice([10.0, 5.0, 2.0, 1.0], size=n, p=[0.55, 0.1, 0.2, 0.15]),
            "listing_date": listing,
            "mcap_cr": mcap,
            "fin_instrm_id": rng.choice(np.arange(1000, 30_000), size=n, replace=False).astype(np.int64),
        }
    )


__all__ = ["SECTORS", "Sector", "build_universe", "is_valid_isin", "isin_check_digit", "short_name", "stream"]
