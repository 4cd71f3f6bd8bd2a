"""The desk's callbacks (module-level functions; the guard lets only ``desk.view`` call
them): refresh the queues every 5 s, open a case, act on it, act on many, add a photo."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard.callbacks import Callbacks, act_on, local_tz, runtime
from dashboard.desk import QUEUE_LABELS, _pick
from dashboard.i18n import EVENT_LABELS, pick
from geo.catalog import CATEGORY_BY_CODE
from geo.workflow import ACTION_LABELS, STATE_LABELS
from intake import citizen, photos
from intake import desk as desk_service
from intake.schema import ReportError
from store import desk as db_desk
from store import incidents as db_incidents
from store import photos as db_photos

CALLBACKS = Callbacks("desk.view")


def _filters(cat, src, sev) -> dict[str, Any]:
    return {"category": cat or [], "source": src or [], "severity": sev or []}


def countdown(due: datetime | None, now: datetime, lang: str) -> str:
    """剩余 5 小时 / 超期 2 天 — how long until (or since) the due time."""
    if due is None:
        return "–"
    seconds = (due - now).total_seconds()
    span = abs(seconds)
    if span >= 86400:
        amount, unit = span / 86400, ("天", " d")
    elif span >= 3600:
        amount, unit = span / 3600, ("小时", " h")
    else:
        amount, unit = max(span / 60, 1), ("分钟", " min")
    text = f"{amount:.0f}{unit[0] if lang == 'zh' else unit[1]}"
    if lang == "zh":
        return ("剩余 " if seconds >= 0 else "超期 ") + text
    return (text + " left") if seconds >= 0 else (text + " overdue")


def _row(r: dict[str, Any], now: datetime, lang: str) -> html.Div:
    cat = CATEGORY_BY_CODE.get(r["category"])
    overdue = r["due_at"] is not None and r["due_at"] < now and r["closed_at"] is None
    return html.Div(className="om-wd-row" + (" om-overdue-row" if overdue else ""), children=[
        html.Button(f"#{r['id']}", id={"type": "d-open", "index": r["id"]},
                    className="om-button om-wd-open", n_clicks=0),
        html.Span((cat.zh if lang == "zh" else cat.en) if cat else r["category"]),
        html.Span(r["grid_name"] or r["village_name"] or "–", className="om-item-place"),
        html.Span(pick(STATE_LABELS.get(r["status"]), lang, r["status"])),
        html.Span(countdown(r["due_at"], now, lang)
                  + (" · 催" * min(r.get("urged_count") or 0, 1) if lang == "zh" else
                     " · urged" * min(r.get("urged_count") or 0, 1)),
                  className="om-item-time"),
        html.Span(r["description"] or "", className="om-wd-desc"),
    ])


@CALLBACKS.callback(Output("d-queue", "options"), Output("d-list", "children"),
                    Input("d-tick", "n_intervals"), Input("d-queue", "value"),
                    Input("d-category", "value"), Input("d-source", "value"),
                    Input("d-severity", "value"), Input("d-done", "data"),
                    State("lang", "data"))
def _refresh(_tick, queue, cat, src, sev, _done, lang):
    rt = runtime()
    filters = _filters(cat, src, sev)
    counts = desk_service.counts(rt, filters)
    options = [{"label": f"{_pick(label, lang)} ({counts[name]:,})", "value": name}
               for name, label in QUEUE_LABELS.items()]
    rows = desk_service.queue(rt, queue or "to_accept", filters)
    now = datetime.now(UTC)
    if not rows:
        return options, html.Div("暂无事件" if lang == "zh" else "Nothing waits here",
                                 className="om-empty", id="d-empty")
    pick_box = dcc.Checklist(id="d-pick", className="om-wd-pick", value=[],
                             options=[{"label": "", "value": r["id"]} for r in rows])
    return options, html.Div(className="om-wd-rows", children=[
        pick_box, html.Div([_row(r, now, lang) for r in rows], id="d-rows")])


@CALLBACKS.callback(Output("d-selected", "data"),
                    Output("d-done", "data", allow_duplicate=True),
                    Input({"type": "d-open", "index": ALL}, "n_clicks"),
                    prevent_initial_call=True)
def _select(clicks):
    """Open the clicked case; clicking the open case again reloads it (d-done)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(clicks or ()):
        raise PreventUpdate
    return int(trigger["index"]), {"id": None, "message": None, "at": time.time()}


def _departments_line(row: dict[str, Any], zh: bool) -> str:
    """主办 (lead) and 协办 (supporting) departments of a dispatched case."""
    support = row.get("support_department_names") or []
    if zh:
        return f"主办：{row['department_name']}" + (f"；协办：{'、'.join(support)}"
                                                    if support else "")
    return f"Lead: {row['department_name']}" + (f"; supporting: {', '.join(support)}"
                                                 if support else "")


def _panel(row: dict[str, Any], shots: list[dict[str, Any]], actions: tuple[str, ...],
           departments: list[dict[str, Any]], lang: str, message: str | None,
           link: str | None = None) -> list[Any]:
    tz = ZoneInfo(local_tz())
    zh = lang == "zh"
    cat = CATEGORY_BY_CODE.get(row["category"])
    history = [html.Li([html.Span(e["at"].astimezone(tz).strftime("%m-%d %H:%M"),
                                  className="om-item-time"), " ",
                        html.Span(pick(ACTION_LABELS.get(e["action"])
                                       or EVENT_LABELS.get(e["action"]), lang, e["action"])),
                        " ", html.Span(e["actor"] or "", className="om-item-place"), " ",
                        html.Span(e.get("note") or "")])
               for e in row.get("events", [])]
    contact = row.get("reporter") or {}
    urges = [e for e in row.get("events", []) if e["action"] in ("urge", "supervise")]
    banner = [html.Div(className="om-error", id="d-urged", children=[
        html.B(("催办" if urges[-1]["action"] == "urge" else "督办") if zh else
               urges[-1]["action"].capitalize()), "：", urges[-1].get("note") or ""])
              ] if urges else []
    return [
        *banner,
        html.H2(f"#{row['id']} " + ((cat.zh if zh else cat.en) if cat else row["category"])),
        html.P(row.get("description") or "", className="om-detail-desc"),
        html.P(" / ".join(x for x in (row.get("town_name"), row.get("village_name"),
                                      row.get("grid_name")) if x) or "–"),
        *([html.P(_departments_line(row, zh), id="d-departments")]
          if row.get("department_name") else []),
        html.P(("上报人：" if zh else "Reporter: ")
               + (" ".join(str(v) for v in contact.values() if v) or "–"), id="d-reporter"),
        *([html.P([("群众评价链接（可短信发送）：" if zh else "Citizen link (send by SMS): "),
                   html.A(link, href=link, target="_blank", id="d-citizen-link")])]
          if link else []),
        *([html.Div(className="om-photos", id="d-photos", children=[
            html.A(html.Img(src=p["thumb"]), href=p["url"], target="_blank") for p in shots])]
          if shots else []),
        html.H3("办理过程" if zh else "History"),
        html.Ul(history, className="om-list om-timeline", id="d-history"),
        html.H3("操作" if zh else "Actions"),
        html.Div(className="om-actions", children=[
            html.Button(pick(ACTION_LABELS.get(a), lang, a), className="om-button om-act",
                        id={"type": "d-act", "action": a}, n_clicks=0) for a in actions]),
        dcc.Textarea(id="d-note", className="om-note",
                     placeholder="办理意见 / 办结情况 / 退回理由" if zh else "Note"),
        dcc.Dropdown(id="d-dept", placeholder="主办部门（默认按类别）" if zh
                     else "Lead department (default: by category)",
                     options=[{"label": d["name"], "value": d["code"]} for d in departments]),
        dcc.Dropdown(id="d-support", multi=True, placeholder="协办部门（可多选）" if zh
                     else "Supporting departments",
                     options=[{"label": d["name"], "value": d["code"]} for d in departments]),
        dcc.Upload(id="d-upload", className="om-upload", accept="image/*", multiple=False,
                   children=html.Div("上传现场照片" if zh else "Add a photo")),
        html.Div(message or "", id="d-message", className="om-action-message"),
    ]


@CALLBACKS.callback(Output("d-detail", "children"), Input("d-selected", "data"),
                    Input("d-done", "data"), State("lang", "data"))
def _detail(selected, done, lang):
    if selected is None:
        return html.Div("选择左侧事件查看详情" if lang == "zh" else "Pick a case on the left",
                        className="om-empty")
    rt = runtime()
    with rt.engine.connect() as conn:
        row = db_incidents.get_incident(conn, int(selected))
    if row is None:
        return html.Div("事件不存在或不在您的范围内" if lang == "zh" else "No such case here",
                        className="om-empty")
    shots = photos.photo_urls(row["id"], db_photos.photos_of(rt.engine, row["id"]), "/media")
    message = done.get("message") if done and done.get("id") == selected else None
    return _panel(row, shots, desk_service.actions_for(rt, row),
                  db_desk.departments(rt.engine), lang, message, citizen.link_for(rt, row))


@CALLBACKS.callback(Output("d-done", "data", allow_duplicate=True),
                    Input({"type": "d-act", "action": ALL}, "n_clicks"),
                    State("d-selected", "data"), State("d-note", "value"),
                    State("d-dept", "value"), State("d-support", "value"),
                    State("lang", "data"), prevent_initial_call=True)
def _act(clicks, selected, note, dept, support, lang):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or selected is None or not any(clicks or ()):
        raise PreventUpdate
    action = trigger["action"]
    dispatch = action == "dispatch"
    return act_on(selected, action, lang, note=note or None,
                  department=dept if dispatch else None,
                  support=list(support or ()) if dispatch and support else None)


@CALLBACKS.callback(Output("d-done", "data", allow_duplicate=True),
                    Output("d-bulk-msg", "children"),
                    Input("d-bulk-accept", "n_clicks"), Input("d-bulk-dispatch", "n_clicks"),
                    State("d-pick", "value"), State("lang", "data"),
                    prevent_initial_call=True)
def _bulk(_a, _d, picked, lang):
    if not picked:
        raise PreventUpdate
    action = "accept" if ctx.triggered_id == "d-bulk-accept" else "dispatch"
    results = desk_service.act_many(runtime(), [int(i) for i in picked], action)
    ok = sum(1 for v in results.values() if v == "ok")
    text = (f"{ok}/{len(results)} 件已{'签收' if action == 'accept' else '派单'}" if lang == "zh"
            else f"{ok} of {len(results)} {action}ed")
    return {"id": None, "message": text, "at": time.time()}, text


@CALLBACKS.callback(Output("d-done", "data", allow_duplicate=True),
                    Input("d-upload", "contents"), State("d-selected", "data"),
                    State("lang", "data"), prevent_initial_call=True)
def _upload(contents, selected, lang):
    if not contents or selected is None:
        raise PreventUpdate
    try:
        data = base64.b64decode(contents.split(",", 1)[1])
        photos.add_photo(runtime(), int(selected), data)
        message = "照片已上传" if lang == "zh" else "Photo added"
    except (ReportError, IndexError, ValueError) as err:
        message = str(err).splitlines()[0]
    return {"id": selected, "message": message, "at": time.time()}


def register(app: Dash) -> None:
    CALLBACKS.attach(app)
