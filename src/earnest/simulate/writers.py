"""Write a simulated market as files in NSE's real formats, byte for byte as NSE writes them.

Layout under the target folder (one file per session unless noted)::

    README.txt                      says the data is simulated, with the seed
    bhavcopy/cmDDMONYYYYbhav.csv.zip                   legacy CM bhavcopy, sessions before 2024-07-08
    bhavcopy/BhavCopy_NSE_CM_0_0_0_YYYYMMDD_F_0000.csv.zip  UDiFF CM bhavcopy, from 2024-07-08
    full/sec_bhavdata_full_DDMMYYYY.csv                 full bhavcopy with delivery, every session
    indices/ind_close_all_DDMMYYYY.csv                  daily index closes
    bands/sec_list_DDMMYYYY.csv                         price bands, every ``band_every`` sessions
    corporate_actions/bcDDMMYYYY.csv                    PR-bundle corporate actions, when there are any
    masters/EQUITY_L.csv, masters/symbolchange.csv      equity master (listed names only), renames

Format details that matter to a reader: the legacy bhavcopy ends every line with a comma and
writes numbers in their shortest form (``990``, ``1002.9``) with ``DD-MON-YYYY`` dates; UDiFF has
34 columns, ISO dates, two decimals and five empty trailing fields; the full bhavcopy separates
fields with ``", "``, gives turnover in lakhs and ``-`` for delivery of ``BE`` series; the index
file writes shortest numbers with bare decimals (``-.77``) and ``-`` where NSE has no value.
Rows are built for all sessions at once with Polars string expressions, then split by session.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from earnest.simulate import naming
from earnest.simulate.planting import PlantedError, apply_errors
from earnest.simulate.results import write_results

if TYPE_CHECKING:
    from earnest.simulate.market import SimMarket

LEGACY_HEADER = (
    "SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,TOTTRDQTY,TOTTRDVAL,TIMESTAMP,TOTALTRADES,ISIN,"
)
UDIFF_HEADER = (
    "TradDt,BizDt,Sgmt,Src,FinInstrmTp,FinInstrmId,ISIN,TckrSymb,SctySrs,XpryDt,FininstrmActlXpryDt,StrkPric,"
    "OptnTp,FinInstrmNm,OpnPric,HghPric,LwPric,ClsPric,LastPric,PrvsClsgPric,UndrlygPric,SttlmPric,OpnIntrst,"
    "ChngInOpnIntrst,TtlTradgVol,TtlTrfVal,TtlNbOfTxsExctd,SsnId,NewBrdLotQty,Rmks,Rsvd1,Rsvd2,Rsvd3,Rsvd4"
)
FULL_HEADER = (
    "SYMBOL, SERIES, DATE1, PREV_CLOSE, OPEN_PRICE, HIGH_PRICE, LOW_PRICE, LAST_PRICE, CLOSE_PRICE, "
    "AVG_PRICE, TTL_TRD_QNTY, TURNOVER_LACS, NO_OF_TRADES, DELIV_QTY, DELIV_PER"
)
INDEX_HEADER = (
    "Index Name,Index Date,Open Index Value,High Index Value,Low Index Value,Closing Index Value,"
    "Points Change,Change(%),Volume,Turnover (Rs. Cr.),P/E,P/B,Div Yield"
)
BANDS_HEADER = "Symbol,Series,Security Name,Band,Remarks"
ACTIONS_HEADER = "SERIES,SYMBOL,SECURITY,RECORD_DT,BC_STRT_DT,BC_END_DT,EX_DT,ND_STRT_DT,ND_END_DT,PURPOSE"
EQUITY_HEADER = (
    "SYMBOL,NAME OF COMPANY, SERIES, DATE OF LISTING, PAID UP VALUE, MARKET LOT, ISIN NUMBER, FACE VALUE"
)

_LEGACY_ZIP_TIME = (17, 33, 22)
_UDIFF_ZIP_TIME = (18, 34, 2)
"""Zip member timestamps: the evening of the session, as NSE's archives carry them."""
_ZIP_LEVEL = 1
"""Deflate level: the fastest; the archive's compression level is no part of NSE's format."""


# ---- number and date formatting as Polars expressions ------------------------------------------


def _scaled(col: str | pl.Expr, decimals: int) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Sign, integer part and zero-padded fraction of a number rounded to ``decimals``."""
    expr = pl.col(col) if isinstance(col, str) else col
    units = (expr * 10**decimals).round(0).cast(pl.Int64)
    sign = pl.when(units < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    whole = (units.abs() // 10**decimals).cast(pl.Utf8)
    frac = (units.abs() % 10**decimals).cast(pl.Utf8).str.zfill(decimals)
    return sign, whole, frac


def fixed(col: str | pl.Expr, decimals: int = 2) -> pl.Expr:
    """``1234.5`` -> ``1234.50``: always ``decimals`` digits (UDiFF, full bhavcopy)."""
    sign, whole, frac = _scaled(col, decimals)
    return sign + whole + pl.lit(".") + frac


def shortest(col: str | pl.Expr, decimals: int = 2, *, bare: bool = False) -> pl.Expr:
    """``990.00`` -> ``990``, ``1002.90`` -> ``1002.9`` (legacy bhavcopy); with ``bare`` a zero
    integer part is dropped: ``-0.77`` -> ``-.77`` (NSE's index file)."""
    sign, whole, frac = _scaled(col, decimals)
    frac = frac.str.strip_chars_end("0")
    if bare:
        whole = pl.when((whole == "0") & (frac != "")).then(pl.lit("")).otherwise(whole)
    return sign + whole + pl.when(frac == "").then(pl.lit("")).otherwise(pl.lit(".") + frac)


def _int(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Utf8)


def _date(col: str, fmt: str, *, upper: bool = False) -> pl.Expr:
    out = pl.col(col).dt.strftime(fmt)
    return out.str.to_uppercase() if upper else out


# ---- lines of each format ----------------------------------------------------------------------


def legacy_lines(rows: pl.DataFrame) -> pl.Series:
    """Rows (``bars`` columns) as legacy CM bhavcopy lines."""
    parts = [
        pl.col("symbol"),
        pl.col("series"),
        *[shortest(c) for c in ("open", "high", "low", "close", "last")],
        shortest("prev_close"),
        _int("volume"),
        shortest("turnover"),
        _date("date", "%d-%b-%Y", upper=True),
        _int("trades"),
        pl.col("isin"),
        pl.lit(""),
    ]
    return rows.select(pl.concat_str(parts, separator=",").alias("line")).to_series()


def udiff_lines(rows: pl.DataFrame) -> pl.Series:
    """Rows (``bars`` columns plus ``fin_instrm_id`` and ``nse_name``) as UDiFF CM lines."""
    iso = _date("date", "%Y-%m-%d")
    empty = pl.lit("")
    parts = [
        iso,
        iso,
        pl.lit("CM"),
        pl.lit("NSE"),
        pl.lit("STK"),
        _int("fin_instrm_id"),
        pl.col("isin"),
        pl.col("symbol"),
        pl.col("series"),
        empty,
        empty,
        empty,
        empty,
        pl.col("nse_name"),
        *[fixed(c) for c in ("open", "high", "low", "close", "last", "prev_close")],
        empty,
        fixed("close"),
        empty,
        empty,
        _int("volume"),
        fixed("turnover"),
        _int("trades"),
        pl.lit("F1"),
        pl.lit("1"),
        empty,
        empty,
        empty,
        empty,
        empty,
    ]
    return rows.select(pl.concat_str(parts, separator=",").alias("line")).to_series()


def full_lines(rows: pl.DataFrame) -> pl.Series:
    """Rows (``bars`` columns plus ``avg_price``) as full-bhavcopy lines (``", "`` separated)."""
    has = pl.col("delivery_qty").is_not_null()
    per = pl.col("delivery_qty") * 100.0 / pl.col("volume")
    parts = [
        pl.col("symbol"),
        pl.col("series"),
        _date("date", "%d-%b-%Y"),
        fixed("prev_close"),
        *[fixed(c) for c in ("open", "high", "low", "last", "close", "avg_price")],
        _int("volume"),
        fixed(pl.col("turnover") / 1e5),
        _int("trades"),
        pl.when(has).then(_int("delivery_qty")).otherwise(pl.lit("-")),
        pl.when(has).then(fixed(per)).otherwise(pl.lit("-")),
    ]
    return rows.select(pl.concat_str(parts, separator=", ").alias("line")).to_series()


def index_lines(rows: pl.DataFrame) -> pl.Series:
    """Index rows (see :data:`earnest.simulate.indices.INDEX_SCHEMA`) as ``ind_close_all`` lines."""
    dash = pl.lit("-")

    def num(expr: str | pl.Expr, decimals: int = 2) -> pl.Expr:
        return shortest(expr, decimals, bare=True).fill_null(dash)

    points = pl.col("close") - pl.col("prev_close")
    pct = (pl.col("close") / pl.col("prev_close") - 1.0) * 100.0
    parts = [
        pl.col("index_name"),
        _date("date", "%d-%m-%Y"),
        *[num(c, 4) for c in ("open", "high", "low", "close")],
        num(points),
        num(pct),
        _int("volume").fill_null(dash),
        num("turnover_cr"),
        num("pe"),
        num("pb"),
        num("div_yield"),
    ]
    return rows.select(pl.concat_str(parts, separator=",").alias("line")).to_series()


def band_lines(rows: pl.DataFrame) -> pl.Series:
    """Price-band rows as ``sec_list`` lines: band as an integer percent or ``No Band``."""
    band = pl.when(pl.col("band_pct").is_null()).then(pl.lit("No Band")).otherwise(shortest("band_pct"))
    remarks = pl.lit('"') + pl.col("remarks") + pl.lit('"')
    parts = [pl.col("symbol"), pl.col("series"), pl.col("name"), band, remarks]
    return rows.select(pl.concat_str(parts, separator=",").alias("line")).to_series()


def action_lines(rows: pl.DataFrame) -> pl.Series:
    """Corporate actions as PR-bundle ``bc`` lines (ISO dates, book closure and no-delivery empty)."""
    empty = pl.lit("")
    parts = [
        pl.col("series"),
        pl.col("symbol"),
        pl.col("security"),
        _date("record_date", "%Y-%m-%d"),
        empty,
        empty,
        _date("ex_date", "%Y-%m-%d"),
        empty,
        empty,
        pl.col("purpose"),
    ]
    return rows.select(pl.concat_str(parts, separator=",").alias("line")).to_series()


# ---- files -------------------------------------------------------------------------------------


def _text(header: str | None, body: str) -> bytes:
    return ((f"{header}\n" if header is not None else "") + body + "\n").encode()


def _zip(path: Path, member: str, data: bytes, when: dt.date, clock: tuple[int, int, int]) -> None:
    info = zipfile.ZipInfo(member, date_time=(when.year, when.month, when.day, *clock))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(info, data, compresslevel=_ZIP_LEVEL)


def _bodies(frame: pl.DataFrame, col: str, lines: Callable[[pl.DataFrame], pl.Series]) -> dict[dt.date, str]:
    """Every row formatted by ``lines`` in one pass, then joined into one text per ``col`` value
    (in the frame's order)."""
    if frame.is_empty():
        return {}
    joined = (
        pl.DataFrame({"key": frame.get_column(col), "line": lines(frame)})
        .group_by("key", maintain_order=True)
        .agg(pl.col("line").str.join("\n"))
    )
    return dict(zip(joined.get_column("key").to_list(), joined.get_column("line").to_list(), strict=True))


def _price_rows(market: SimMarket) -> pl.DataFrame:
    """``bars`` in file order with the UDiFF extras (NSE token and upper-case short name)."""
    extra = market.instruments.select(
        "isin", "fin_instrm_id", pl.col("short_name").str.to_uppercase().alias("nse_name")
    )
    return market.bars.join(extra, on="isin", how="left").sort("date", *naming.ROW_ORDER)


def _errors(market: SimMarket, kind: str) -> list[PlantedError]:
    return [e for e in market.planted_errors if e.kind == kind]


def _write_prices(market: SimMarket, folder: Path) -> list[Path]:
    """Legacy or UDiFF bhavcopy (zipped) and the full bhavcopy for every session."""
    rows = _price_rows(market)
    cut = market.config.udiff_from
    out = []
    eras = (
        (
            naming.LEGACY_KIND,
            rows.filter(pl.col("date") < cut),
            LEGACY_HEADER,
            legacy_lines,
            _LEGACY_ZIP_TIME,
        ),
        (naming.UDIFF_KIND, rows.filter(pl.col("date") >= cut), UDIFF_HEADER, udiff_lines, _UDIFF_ZIP_TIME),
    )
    for kind, part, header, lines, clock in eras:
        for day, body in _bodies(apply_errors(part, _errors(market, kind)), "date", lines).items():
            name = naming.price_file(kind, day)
            path = folder / naming.BHAVCOPY_DIR / f"{name}.zip"
            _zip(path, name, _text(header, body), day, clock)
            out.append(path)
    full = apply_errors(rows, _errors(market, naming.FULL_KIND))
    for day, body in _bodies(full, "date", full_lines).items():
        path = folder / naming.FULL_DIR / naming.full_csv(day)
        path.write_bytes(_text(FULL_HEADER, body))
        out.append(path)
    return out


def _write_daily(
    frame: pl.DataFrame,
    folder: Path,
    *,
    col: str,
    header: str,
    lines: Callable[[pl.DataFrame], pl.Series],
    name: Callable[[dt.date], str],
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for day, body in _bodies(frame, col, lines).items():
        path = folder / name(day)
        path.write_bytes(_text(header, body))
        out.append(path)
    return out


def _band_order(bands: pl.DataFrame) -> pl.DataFrame:
    """NSE lists bands by band (2, 5, 10, 20, then No Band), then symbol."""
    return bands.sort("effective_date", pl.col("band_pct").fill_null(1e9), "symbol", "series")


def _write_masters(market: SimMarket, folder: Path) -> list[Path]:
    listed = market.instruments.filter(pl.col("status") == "listed").sort("symbol")
    equity = listed.select(
        pl.concat_str(
            [
                pl.col("symbol"),
                pl.col("name"),
                pl.col("series"),
                _date("listing_date", "%d-%b-%Y", upper=True),
                shortest("face_value"),
                pl.lit("1"),
                pl.col("isin"),
                shortest("face_value"),
            ],
            separator=",",
        )
    ).to_series()
    changes = market.symbol_changes.select(
        pl.concat_str(
            [
                pl.col("company_name"),
                pl.col("old_symbol"),
                pl.col("new_symbol"),
                _date("change_date", "%d-%b-%Y", upper=True),
            ],
            separator=",",
        )
    ).to_series()
    base = folder / naming.MASTERS_DIR
    base.mkdir(parents=True, exist_ok=True)
    (base / "EQUITY_L.csv").write_bytes(_text(EQUITY_HEADER, "\n".join(equity)))
    (base / "symbolchange.csv").write_bytes(_text(None, "\n".join(changes)))
    return [base / "EQUITY_L.csv", base / "symbolchange.csv"]


def _readme(market: SimMarket) -> str:
    cfg = market.config
    return (
        "SIMULATED DATA - NOT REAL MARKET PRICES\n\n"
        f"Generated by earnest's market simulator (earnest.simulate) with seed {cfg.seed}: "
        f"{cfg.n_companies} invented companies over {len(market.sessions)} NSE sessions "
        f"({market.sessions[0]} to {market.sessions[-1]}).\n"
        "Every company, ticker, ISIN, price and corporate action here is made up. The files follow NSE's\n"
        "real formats (legacy and UDiFF CM bhavcopy, full bhavcopy with delivery, ind_close_all,\n"
        "sec_list price bands, PR-bundle bc corporate actions, EQUITY_L and symbolchange) so that earnest's\n"
        f"normal ingest reads them like exchange files. {len(market.planted_errors)} rows carry deliberate\n"
        "data errors for the quality gate to catch, and one split is in no corporate-action file.\n"
    )


def write_market(market: SimMarket, folder: Path) -> list[Path]:
    """Write every file of ``market`` under ``folder`` (created if needed); returns their paths."""
    for sub in (naming.BHAVCOPY_DIR, naming.FULL_DIR):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    out = _write_prices(market, folder)
    out += _write_daily(
        market.index,
        folder / naming.INDICES_DIR,
        col="date",
        header=INDEX_HEADER,
        lines=index_lines,
        name=naming.index_csv,
    )
    out += _write_daily(
        _band_order(market.bands),
        folder / naming.BANDS_DIR,
        col="effective_date",
        header=BANDS_HEADER,
        lines=band_lines,
        name=naming.bands_csv,
    )
    recorded = market.actions.filter(pl.col("recorded")).sort("bc_date", "symbol", "series", "ex_date")
    out += _write_daily(
        recorded,
        folder / naming.ACTIONS_DIR,
        col="bc_date",
        header=ACTIONS_HEADER,
        lines=action_lines,
        name=naming.actions_csv,
    )
    out += _write_masters(market, folder)
    out += write_results(market, folder)
    readme = folder / "README.txt"
    readme.write_text(_readme(market))
    return [*out, readme]


__all__ = [
    "ACTIONS_HEADER",
    "BANDS_HEADER",
    "EQUITY_HEADER",
    "FULL_HEADER",
    "INDEX_HEADER",
    "LEGACY_HEADER",
    "UDIFF_HEADER",
    "action_lines",
    "band_lines",
    "fixed",
    "full_lines",
    "index_lines",
    "legacy_lines",
    "shortest",
    "udiff_lines",
    "write_market",
]
