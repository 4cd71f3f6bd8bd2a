"""Revealing one record's personal data on the wall: the detail panel's form (a reason, then
the button), its callback and the ``POST /unmask`` route — both through
:func:`accounts.privacy.reveal`, which checks ``person.unmask`` and audits."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate
from flask import Flask, Response, jsonify, request

from accounts.privacy import RevealRefused, reveal
from accounts.service import NotAllowed
from dashboard.callbacks import Callbacks, runtime
from dashboard.i18n import t

CALLBACKS = Callbacks("person.unmask")


def unmask_form(lang: str) -> list[Any]:
    """Reason box, button and the place the revealed contact shows."""
    return [html.H3(t("unmask", lang)),
            html.Div(className="om-action-inputs", children=[
                dcc.Input(id="unmask-reason", placeholder=t("unmask_reason", lang),
                           className="om-note", maxLength=200),
                html.Button(t("unmask_go", lang), id="unmask-go", className="om-button",
                            n_clicks=0)]),
            html.Div(id="unmask-result", className="om-action-message")]


def _show(fields: dict[str, Any], lang: str) -> list[Any]:
    rep = fields.get("reporter") or {}
    worker = fields.get("grid_worker") or {}
    lines = [f"{t('reporter', lang)}: " + (" ".join(str(v) for v in rep.values() if v) or "–"),
             f"{t('worker', lang)}: " + (" ".join(str(v) for v in worker.values() if v) or "–")]
    return [html.Div(x) for x in lines]


@CALLBACKS.callback(Output("unmask-result", "children"), Input("unmask-go", "n_clicks"),
                    State("unmask-reason", "value"), State("selected", "data"),
                    State("lang", "data"), prevent_initial_call=True)
def _reveal(clicks, reason, selected, lang):
    if not clicks or selected is None:
        raise PreventUpdate
    try:
        return _show(reveal(runtime(), "incident", int(selected), reason or ""), lang)
    except (RevealRefused, NotAllowed) as err:
        return str(err)


def register(app: Dash) -> None:
    CALLBACKS.attach(app)


def register_routes(server: Flask) -> None:
    @server.post("/unmask")
    def _unmask() -> Response:
        body = request.get_json(silent=True) or {}
        try:
            fields = reveal(runtime(), str(body.get("kind", "incident")),
                            int(body.get("id", -1)), str(body.get("reason", "")))
        except RevealRefused as err:
            return jsonify(error=str(err)), err.status
        except NotAllowed as err:
            return jsonify(error=str(err)), 403
        except (TypeError, ValueError):
            return jsonify(error="send {kind, id, reason} as JSON"), 400
        resp = jsonify(fields)
        resp.headers["Cache-Control"] = "no-store"
        return resp
