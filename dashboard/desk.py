"""The desk page's layout (``/desk``, 工作台): queues with counts, filters, the list with a
live countdown, bulk accept/dispatch and the case panel.  Callbacks: ``desk_callbacks``."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from geo.catalog import CATEGORIES, SOURCES

REFRESH_MS = 5_000  # a new case shows within 5 s (the wall's live interval too)
QUEUE_LABELS = {"to_accept": ("待签收", "To accept"), "in_hand": ("办理中", "In hand"),
                "due_soon": ("即将超期", "Due soon"), "overdue": ("已超期", "Overdue"),
                "supervised": ("督办", "Supervised"), "to_rate": ("待评价", "To rate"),
                "done": ("已办结", "Done (30 days)")}
SEVERITY = {"high": ("高", "High"), "medium": ("中", "Medium"), "low": ("低", "Low")}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "zh" else pair[1]


def page(lang: str, who: str, links: list[tuple[str, str]]) -> list[Any]:
    zh = lang == "zh"
    other = "en" if zh else "zh"
    header = html.Div(className="om-header", children=[
        html.Div("工作台 · 一张图" if zh else "Desk · OneMap", className="om-title"),
        html.Div(who, className="om-breadcrumb", id="d-who"),
        html.Div(className="om-header-buttons", children=[
            *[html.A(label, href=href, className="om-button") for label, href in links],
            html.A("退出" if zh else "Sign out", href="/logout", className="om-button"),
            html.A("English" if zh else "中文", href=f"?lang={other}", className="om-lang",
                   id="lang-switch")])])
    filters = html.Div(className="om-wd-filters", children=[
        dcc.Dropdown(id="d-category", multi=True, placeholder="事件类别" if zh else "Category",
                     options=[{"label": c.zh if zh else c.en, "value": c.code}
                              for c in CATEGORIES]),
        dcc.Dropdown(id="d-source", multi=True, placeholder="来源渠道" if zh else "Channel",
                     options=[{"label": v[0] if zh else v[1], "value": k}
                              for k, v in SOURCES.items()]),
        dcc.Dropdown(id="d-severity", multi=True, placeholder="风险等级" if zh else "Severity",
                     options=[{"label": _pick(v, lang), "value": k}
                              for k, v in SEVERITY.items()])])
    listing = html.Div(className="om-panel om-wd-list", children=[
        dcc.RadioItems(id="d-queue", value="to_accept", className="om-tabs",
                       options=[{"label": _pick(v, lang), "value": k}
                                for k, v in QUEUE_LABELS.items()]),
        filters,
        html.Div(className="om-wd-bulk", children=[
            html.Button("批量签收" if zh else "Accept selected", id="d-bulk-accept",
                        className="om-button", n_clicks=0),
            html.Button("批量派单" if zh else "Dispatch selected", id="d-bulk-dispatch",
                        className="om-button", n_clicks=0),
            html.Span(id="d-bulk-msg", className="om-action-message"),
            html.Span("快捷键：J/K 上下 · A 签收 · D 派单 · R 办结 · ? 全部" if zh else
                      "Keys: J/K move · A accept · D dispatch · R resolve · ? all",
                      className="om-keys-hint", id="d-keys")]),
        html.Div(id="d-list")])
    return [
        header,
        html.Div(className="om-workdesk", children=[
            listing, html.Div(id="d-detail", className="om-panel om-wd-detail")]),
        dcc.Store(id="lang", data=lang), dcc.Store(id="d-selected"), dcc.Store(id="d-done"),
        dcc.Interval(id="d-tick", interval=REFRESH_MS),
    ]
