"""Charts and tables for the report, in one accessible style.

Colours are the Okabe-Ito colour-blind-safe palette, paired with different markers and hatches so
they stay readable in greyscale; every chart states n and draws 95% intervals where there are any;
every figure is embedded as a PNG with alt text, so the HTML needs nothing from the internet.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from review_lib.config import table  # noqa: E402
from review_lib.findings import (SUPPRESSED, count_text, coverage_notes, load_review,  # noqa: E402
                                 publication_table, publishing, secondary_suppression, set_publication,
                                 share_hidden, small_counts)

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"]
MARKERS = ["o", "s", "D", "^", "v", "P"]
HATCHES = ["", "///", "...", "xx", "\\\\", "++"]
_AUTHORITIES: list[str] = []


def set_authorities(names: list[str]) -> None:
    """Fix the order that gives each authority its colour, marker and hatch on every chart
    (the review's list of authorities; call once per page, before drawing)."""
    _AUTHORITIES[:] = list(names)


def open_page(review_dir: str, data_dir: str = "", config_path: str = "", publish: bool = False):
    """What every report page does first: load the review, hide small numbers or not, give each
    authority its colour, and show the notes on how complete the coding is.

    Parameters
    ----------
    review_dir, data_dir, config_path : str
        The review folder, the tables the report build made (empty: computed from the review
        folder) and the review configuration (empty: the bundled one); see :func:`findings.load_review`.
    publish : bool
        Whether the page is for publication (small numbers suppressed).

    Returns
    -------
    tuple
        The review (:class:`findings.Review`), and a function that shows a piece of HTML on the page.
    """
    from IPython.display import HTML, display

    review = load_review(review_dir, data_dir, config_path)
    set_publication(publish)
    set_authorities(review.authorities)
    show = lambda markup: display(HTML(markup))
    for note in coverage_notes(review.answers, review.sample, review.codebook, review.authorities, review.findings):
        show(f'<p class="callout">{html.escape(note)}</p>')
    return review, show


def authority_style(name: str) -> dict[str, str]:
    """The one colour, marker and hatch that stand for ``name`` on every chart of the report.

    Parameters
    ----------
    name : str
        An authority's name (or any other series, such as "Both authorities").

    Returns
    -------
    dict[str, str]
        ``color``, ``marker`` and ``hatch``, chosen by the authority's place in the review's list
        (:func:`set_authorities`; the bundled configuration's order until that is called).
    """
    if not _AUTHORITIES:
        from review_lib.config import load_config

        set_authorities([a.name for a in load_config(None).authorities])
    if name not in _AUTHORITIES:
        _AUTHORITIES.append(name)
    i = _AUTHORITIES.index(name) % len(MARKERS)
    return {"color": PALETTE[i], "marker": MARKERS[i], "hatch": HATCHES[i]}


def style() -> None:
    """Apply the report's chart style (call once before drawing)."""
    plt.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 110, "font.size": 10, "axes.titlesize": 11,
        "axes.titleweight": "bold", "axes.spines.top": False, "axes.spines.right": False,
        "axes.grid": True, "grid.color": "#DDDDDD", "grid.linewidth": 0.6, "axes.axisbelow": True,
        "legend.frameon": False, "font.family": "DejaVu Sans",
    })


def figure_html(fig, alt: str, caption: str = "") -> str:
    """The figure as an embedded PNG ``<figure>`` with alt text and caption (closes the figure)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (f'<figure class="chart"><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"{cap}</figure>")


def table_html(df: pd.DataFrame, caption: str = "", index: bool = True, percent_columns=()) -> str:
    """A plain, accessible HTML table: a caption, one header row in the report's words (from
    ``data_templates/report_columns.csv``), text left-aligned and numbers right-aligned."""
    shown = df.copy()
    if index:
        shown = shown.rename_axis([n or "" for n in shown.index.names]).reset_index()
    shown.columns = [str(c) for c in shown.columns]
    shown.columns.name = None
    columns = table("report_columns").set_index("column")
    numeric = {c: pd.api.types.is_numeric_dtype(shown[c]) for c in shown.columns}
    if publishing():   # the same suppression as the workbook of tables (report_tables.xlsx)
        shown = publication_table(shown, percent_columns)   # without any weighting column
    numeric = [numeric[c] for c in shown.columns]
    for column in shown.columns:
        def fmt(v, pattern="{:,.1f}", places=1):
            # rounded before formatting (+ 0.0 drops the sign of a negative zero): never "-0.0"
            return "" if pd.isna(v) else v if isinstance(v, str) else pattern.format(round(v, places) + 0.0)
        if column in percent_columns:
            shown[column] = shown[column].map(lambda v: fmt(v, "{:.0f}%", 0))
        elif pd.api.types.is_float_dtype(df[column] if column in df else shown[column]):
            shown[column] = shown[column].map(fmt)
    shown = shown.rename(columns=lambda c: columns["label"].get(c, c))
    kind = [' class="num"' if num else "" for num in numeric]
    head = "".join(f'<th scope="col"{k}>{html.escape(str(c))}</th>' for c, k in zip(shown.columns, kind))
    rows = "".join("<tr>" + "".join(f"<td{k}>{html.escape(str(v))}</td>" for v, k in zip(row, kind)) + "</tr>"
                   for row in shown.fillna("").itertuples(index=False))
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class="report-table">{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def headline_chart(headlines: pd.DataFrame, authorities: list[str], title: str):
    """Share of cases with the good-practice answer, per question and authority, with 95% intervals."""
    style()
    rows = headlines.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(rows) * max(1, len(authorities) / 2)))
    step = 0.8 / max(len(authorities), 1)
    for i, la in enumerate(authorities):
        look = authority_style(la)
        y = np.arange(len(rows)) + (i - (len(authorities) - 1) / 2) * step
        pct, low, high = (rows[f"{la}|{k}"].astype(float) for k in ("percent", "ci_low", "ci_high"))
        # a published report's headlines lack a hidden share as a whole (n too): say so beside it
        hidden = rows[f"{la}|n"].isna() if publishing() else pd.Series(False, index=rows.index)
        n = rows[f"{la}|n"].fillna(0).astype(int)
        if publishing():   # a share whose count, or whose complement, is 1 to 4 would reveal it
            small = pd.Series([share_hidden(c, m) for c, m in zip(rows[f"{la}|count"].fillna(0), n)], index=rows.index)
            pct, low, high = (v.where(~small) for v in (pct, low, high))
        bars = ax.errorbar(pct, y, xerr=[pct - low, high - pct], fmt=look["marker"], color=look["color"],
                           ecolor=look["color"], capsize=3, markersize=6, label=la, linestyle="none")
        for artist in bars.lines[:1] + tuple(bars.lines[1]) + tuple(bars.lines[2]):
            artist.set_clip_on(False)
        for yy, p, nn, gone in zip(y, pct, n, hidden):
            label = f"n={count_text(nn, in_chart=True)}" if not np.isnan(p) else ("suppressed" if nn or gone else "")
            if label:
                # clear of a marker at 100% and its cap
                ax.annotate(label, (104, yy), fontsize=8, color="#444444",
                            va="center", annotation_clip=False)
    ax.set_yticks(np.arange(len(rows)), [f"{l}: {h}" for l, h in zip(rows["report_label"], rows["headline_answer"])])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel("Per cent of cases answered (marker) with 95% interval (line)")
    ax.set_title(title, loc="left")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(authorities), fontsize=8)
    return fig


def year_chart(by_year: pd.DataFrame, authorities: list[str]):
    """Q1: children starting an out-of-area placement each year, per authority."""
    style()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    years = by_year.index.astype(int)
    width = 0.8 / len(authorities)
    # the table beside the chart hides more than the small counts (secondary suppression, so that its
    # totals cannot give them back): a bar or label showing one of those would undo it
    shown = publication_table(by_year.reset_index()) if publishing() else by_year.reset_index()
    for i, la in enumerate(authorities):
        values = by_year.get(la, pd.Series(0, index=by_year.index))
        hidden = shown[la].astype(object).eq(SUPPRESSED).to_numpy() if la in shown else np.zeros(len(values), bool)
        look = authority_style(la)
        bars = ax.bar(years + (i - (len(authorities) - 1) / 2) * width, values.where(~hidden, 0), width,
                      color=look["color"], hatch=look["hatch"], edgecolor="white", label=la)
        ax.bar_label(bars, labels=[SUPPRESSED if gone else f"{v:g}" for v, gone in zip(values, hidden)], fontsize=8)
    ax.set_xticks(years)
    ax.set_ylabel("Children")
    ax.set_title("Children starting an out-of-area placement, by year")
    ax.margins(y=0.15)   # room for the count labels
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)   # beside, not over, the bars
    return fig


def distance_chart(frame: pd.DataFrame, authorities: list[str]):
    """Q2: children by distance band from home, per authority, as a share of all its children (n).

    When publishing, a band's bar is hidden ('c' at its foot) where the count is 1 to 4, and so is
    another of the authority's bars wherever the figures published beside it would give a hidden
    one back (:func:`findings.secondary_suppression`): every band, with the children whose distance
    is unknown, adds up to n; the bands from 20 miles add up to the children more than 20 miles
    away, whose share the location table gives. An n of 1 to 4 shows as '<5'."""
    style()
    bands = table("distance_bands")
    names = list(bands["band"])
    counts = pd.DataFrame({la: frame.loc[frame["authority"] == la, "distance_band"].value_counts()
                           .reindex(names, fill_value=0) for la in authorities}).T
    counts["Unknown"] = [int((frame["authority"] == la).sum()) for la in authorities] - counts.sum(axis=1)
    hidden = pd.DataFrame(False, index=counts.index, columns=counts.columns)
    if publishing():
        values = counts.to_numpy(float)
        cells = np.arange(values.size).reshape(values.shape)
        far = np.flatnonzero(bands["min_miles"].astype(float).to_numpy() >= 20)
        lines = [(row, np.ones(len(row))) for row in cells] + [(row[far], np.ones(len(far))) for row in cells]
        hidden[:] = secondary_suppression(values.ravel(), small_counts(values.ravel()), lines).reshape(values.shape)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / len(authorities)
    for i, la in enumerate(authorities):
        n = int(counts.loc[la].sum())   # every child of the authority, a distance known or not
        shown = counts.loc[la, names].where(~hidden.loc[la, names], 0)
        x = np.arange(len(names)) + (i - (len(authorities) - 1) / 2) * width
        look = authority_style(la)
        ax.bar(x, 100 * shown / max(n, 1), width, color=look["color"], hatch=look["hatch"], edgecolor="white",
               label=f"{la} (n={count_text(n, in_chart=True)})")
        for xx in x[hidden.loc[la, names].to_numpy()]:
            ax.annotate(SUPPRESSED, (xx, 0), ha="center", va="bottom", fontsize=8, color="#444444")
    ax.set_xticks(range(len(names)), [textwrap.fill(b, 10) for b in names], fontsize=8)   # no label runs into the next
    ax.set_ylabel("Per cent of children")
    ax.set_title("Straight-line distance from home to placement")
    ax.legend()
    return fig


def placement_map(frame: pd.DataFrame, authorities: list[str], minimum: int | None = None):
    """Q2: where children were placed, counted by host authority and drawn at the authority's centre
    over an outline made from postcode grid squares (no tiles, no addresses), cropped to England
    (widened for any host authority beyond it), with the key beside the map."""
    style()
    minimum = max(minimum or 5, 5) if publishing() else minimum or 1   # never a host of 1 to 4 children
    key = (5, 10, 20) if publishing() else (1, 5, 20)
    land = table("map_land_grid").astype(float)
    centres = table("authority_centroids").set_index("upper_tier_code").astype(float)
    fig, ax = plt.subplots(figsize=(8, 7.5))
    ax.scatter(land["easting"] + 2500, land["northing"] + 2500, s=16, marker="s", color="#E6E6E6", linewidths=0)
    shown = []
    for la in authorities:
        counts = frame[frame["authority"] == la].groupby("host_authority_code").size()
        counts = counts[counts >= minimum]
        where = centres.reindex(counts.index).dropna()
        shown.append(where)
        look = authority_style(la)
        drawn = counts.reindex(where.index)
        if publishing():   # a marker's size would give its count to within one: drawn at the key's sizes instead
            drawn = pd.Series(np.array(key)[np.searchsorted(key, drawn, side="right") - 1], index=drawn.index)
        ax.scatter(where["easting"], where["northing"], s=14 * drawn, alpha=0.55,
                   color=look["color"], marker=look["marker"], edgecolors="black", linewidths=0.4, label=la)
    for n, upper in zip(key, key[1:] + (None,)):   # a key to marker size
        label = f"{n} child{'ren' if n > 1 else ''}" if not publishing() else \
            f"{n} to {upper - 1} children" if upper else f"{n} or more children"
        ax.scatter([], [], s=14 * n, color="white", edgecolors="black", linewidths=0.6, label=label)
    _crop_to_england(ax, centres, shown)
    ax.set_aspect("equal")
    ax.set_xticks([]), ax.set_yticks([])
    ax.grid(False)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title("Where children were placed: host authorities", loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, labelspacing=1.2, borderpad=1)
    return fig


def _crop_to_england(ax, centres: pd.DataFrame, shown: list[pd.DataFrame], margin: float = 70_000) -> None:
    """Limit the map to England (its authorities' centres plus a margin), widened to take in any
    host authority drawn outside it."""
    points = pd.concat([centres[centres.index.str.startswith("E")]] + shown)
    ax.set_xlim(points["easting"].min() - margin, points["easting"].max() + margin)
    ax.set_ylim(points["northing"].min() - margin, points["northing"].max() + margin)


def sample_chart(strata: pd.DataFrame):
    """Population and sample by stratum: the sample's shape beside the frame's."""
    style()
    rows = strata.assign(label=strata["authority"] + ": " + strata["stratum"])
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.28 * len(rows)))
    y = np.arange(len(rows))
    # greys, not an authority's colour: these bars are frame and sample, not authorities
    ax.barh(y - 0.2, rows["population"], 0.4, color="#BBBBBB", label="Children in the frame")
    ax.barh(y + 0.2, rows["sample"], 0.4, color="#444444", hatch="///", edgecolor="white", label="Cases sampled")
    ax.set_yticks(y, rows["label"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("Children")
    ax.set_title("Population and sample by stratum")
    ax.legend()
    return fig


def quotes_html(quotes: pd.DataFrame) -> str:
    """Chosen quotes grouped by kind, each with its case's review ID (never a name)."""
    parts = []
    for kind, group in quotes.groupby("kind", sort=False):
        parts.append(f"<h3>{html.escape(kind)}</h3>" + "".join(
            f"<blockquote>{html.escape(q)} <small>(case {html.escape(r)})</small></blockquote>"
            for q, r in zip(group["shown"], group["review_id"])))
    return "".join(parts)
