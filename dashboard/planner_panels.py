"""The planner's check and impact panels: problems as map features and list items, the
before → after table."""

from __future__ import annotations

from typing import Any

import shapely
from dash import html

from dashboard import planner_view as pv
from dashboard.i18n import t
from geo import planning as gp
from geo.coverage_report import Problem

BAND_LIST_LIMIT = 60


def problem_features(problems: list[Problem], datum: str, existing: bool = False
                      ) -> list[dict[str, Any]]:
    out = []
    for p in problems:
        if p.geometry is None or p.geometry.is_empty:
            continue
        geom = p.geometry if p.area_m2 > 0 or p.geometry.geom_type == "Point" else \
            shapely.point_on_surface(p.geometry)
        out.append(pv.feature(geom, {"kind": p.kind, "severity": "warning" if existing else
                                     p.severity, "message": p.message}, datum))
    return out


def problem_items(problems: list[Problem], lang: str, cls: str) -> list[Any]:
    return [html.Li(p.message, className=f"{cls} om-sev-{p.severity}") for p in problems]


def impact_table(impact: gp.Impact, lang: str) -> html.Table:
    keys = ("households", "persons", "cameras", "workers", "open_incidents")
    heads = [t("p_grid", lang), t("p_households", lang), t("p_persons", lang),
             t("p_cameras", lang), t("p_workers", lang), t("p_open", lang), t("p_band", lang)]
    rows = []
    for u in impact.units:
        cells = [html.Td([html.Div(u.name), html.Small(f"{u.code} · {t('p_' + u.status, lang)}",
                                                       className="om-muted")])]
        for k in keys:
            before, after = u.before.get(k, 0), u.after.get(k, 0)
            change = "om-up" if after > before else "om-down" if after < before else ""
            cells.append(html.Td(f"{before} → {after}", className=change))
        cells.append(html.Td(t(f"p_{u.band}", lang), className=f"om-band-{u.band}"))
        rows.append(html.Tr(cells, className=f"om-impact-{u.status}"))
    return html.Table(className="om-impact", id="p-impact-table", children=[
        html.Thead(html.Tr([html.Th(h) for h in heads])), html.Tbody(rows)])
