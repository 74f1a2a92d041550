"""The web app's factory: gunicorn runs printbridge.app:create_app()."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from printbridge import admin, api, auth, health, jobs, printing, security, uploads
from printbridge import config as settings
from printbridge.gateway_client import Gateway
from printbridge.runs import Runs
from printbridge.throttle import Throttle

__version__ = "0.1.0"
# Several files in one upload request, each at most max_upload_mb.
MAX_FILES_PER_REQUEST = 10


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The app; without config it reads the TOML file named by PRINTBRIDGE_CONFIG (or /etc/printbridge/web.toml)."""
    values = settings.merge(config) if config is not None else settings.load()
    app = Flask(__name__)
    app.config.update(
        PRINTBRIDGE=values,
        SECRET_KEY=Path(values["secret_key_file"]).read_bytes().strip(),
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="printbridge_session",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=values["session_idle_minutes"]),
        # The CSRF token lives as long as the session (which idles out on its own).
        WTF_CSRF_TIME_LIMIT=None,
        # Flask-WTF's own referrer check (on HTTPS) refuses every request without a Referer,
        # API clients included; security.check_referrer applies it to form posts only.
        WTF_CSRF_SSL_STRICT=False,
        MAX_CONTENT_LENGTH=(values["max_upload_mb"] * MAX_FILES_PER_REQUEST + 1) * 1024 * 1024,
    )
    # nginx sets X-Forwarded-For; nothing else from the proxy is trusted.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=0, x_host=0, x_port=0, x_prefix=0)  # type: ignore[method-assign]
    # Before CSRFProtect's own before_request, which cannot cope with nameless form fields.
    app.before_request(security.guard_form_names)
    CSRFProtect(app)

    spool = Path(values["spool_dir"])
    spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    uploads.expire(spool, values["upload_ttl_minutes"])
    app.extensions["printbridge.gateway"] = Gateway(values["gateway_socket"])
    app.extensions["printbridge.throttle"] = Throttle(
        Path(values["state_dir"]) / "logins.sqlite3", values["login_max_attempts"], values["login_lockout_minutes"]
    )
    app.extensions["printbridge.runs"] = Runs(Path(values["state_dir"]) / "jobs.sqlite3")

    security.init_app(app)
    auth.init_app(app)
    for blueprint in (auth.bp, printing.bp, jobs.bp, admin.bp, api.bp, health.bp):
        app.register_blueprint(blueprint)
    return app
