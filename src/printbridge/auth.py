"""Sign-in through the gateway (PAM), lockout after repeated failures, idle sessions expire."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, abort, flash, jsonify, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from printbridge.context import cfg, gateway, is_admin, throttle, user
from printbridge.gateway_client import GatewayError

bp = Blueprint("auth", __name__)


def init_app(app: Flask) -> None:
    app.before_request(expire_idle_session)


def expire_idle_session() -> None:
    """Sign out a session unused for session_idle_minutes; otherwise note this request as activity."""
    if "user" not in session:
        return
    now = time.time()
    if now - session.get("seen", 0) > cfg()["session_idle_minutes"] * 60:
        session.clear()
        session["expired"] = True
        return
    session["seen"] = now


def wants_json() -> bool:
    return request.path.startswith("/api/")


def return_path() -> str:
    """Where to come back to after signing in: the path, and the query string only if there is one.

    (request.full_path always ends in "?", which gave /login?next=/print?.)"""
    query = request.query_string.decode("latin-1")
    return f"{request.path}?{query}" if query else request.path


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if user() is None:
            if wants_json():
                return jsonify(error="unauthenticated", message="Sign in first."), 401
            return redirect(url_for("auth.login", next=return_path() if request.method == "GET" else None))
        return view(*args, **kwargs)

    return wrapped


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not is_admin():
            if wants_json():
                return jsonify(error="forbidden", message="Only print administrators may do this."), 403
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme) is a place to return to after signing in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("printing.form")


def log_refused(name: str, address: str | None, reason: str) -> None:
    """One line per refused sign-in on standard error (gunicorn's, so the journal), for fail2ban's
    printbridge-web filter. The address (nginx's, trusted through ProxyFix) comes first, so no user
    name can forge it; the name is JSON-quoted and cut short."""
    print(
        f"printbridge: failed sign-in from={address} user={json.dumps(name[:64])} reason={reason}",
        file=sys.stderr,
        flush=True,
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        if session.pop("expired", False):
            flash("You were signed out after a period of inactivity. Please sign in again.", "info")
        return render_template("login.html", next=request.args.get("next", ""))
    name = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    address = request.remote_addr
    if throttle().locked(name, address):
        log_refused(name, address, "locked")
        minutes = cfg()["login_lockout_minutes"]
        flash(f"Too many failed sign-in attempts. Wait {minutes} minutes and try again.", "error")
        return render_template("login.html", next=request.form.get("next", ""), username=name), 429
    try:
        account = gateway().call("authenticate", user=name, password=password)
    except GatewayError as error:
        if error.code != "invalid_credentials":
            flash(error.message, "error")
            return render_template("login.html", next=request.form.get("next", ""), username=name), error.status
        throttle().failed(name, address)
        log_refused(name, address, "invalid_credentials")
        flash(error.message, "error")
        return render_template("login.html", next=request.form.get("next", ""), username=name), 401
    throttle().succeeded(name, address)
    session.clear()
    session.permanent = True
    session.update(user=account["user"], is_admin=account["is_admin"], seen=time.time(), uploads={})
    return redirect(safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
