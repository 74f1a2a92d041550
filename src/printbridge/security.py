"""Response headers for a strict browser policy, and errors shown as pages or JSON."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from printbridge.context import cfg
from printbridge.gateway_client import GatewayError
from printbridge.uploads import UploadError

# No inline scripts or styles anywhere, so everything can be 'self'.
CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"


def guard_form_names() -> Any:
    """Refuse a form whose fields have no usable name before anything reads it.

    werkzeug gives a multipart part without a name, or with a name it cannot decode,
    the key None; Flask-WTF's CSRF check then fails on key.endswith() with a 500.
    Registered before CSRFProtect, so it runs first."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not request.mimetype:
        return None
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return None
    for key in (*request.form.keys(), *request.files.keys()):
        if not isinstance(key, str) or not key:
            return failure(400, "bad_request", "A form field has no name, or a name that cannot be read.")
    return None


UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def check_referrer() -> None:
    """The referrer check Flask-WTF does with WTF_CSRF_SSL_STRICT, for HTML form posts only.

    The CSRF token is the real protection everywhere. For form posts (which a browser
    always sends with a same-origin Referer, see Referrer-Policy) a missing or foreign
    Referer is refused as well, as defence in depth. The JSON API is used by scripts and
    tools that send no Referer: there the X-CSRFToken header (which Flask-WTF has checked
    already, and which a cross-site form cannot set) with the SameSite=Strict session
    cookie suffices, as the API documentation says; a foreign Referer is still refused."""
    if request.method not in UNSAFE_METHODS or not request.is_secure:
        return
    referrer = request.referrer
    api_with_header = request.path.startswith("/api/") and bool(request.headers.get("X-CSRFToken"))
    if not referrer:
        if api_with_header:
            return
        raise CSRFError("The referrer header is missing.")
    origin = urlsplit(referrer)
    if origin.scheme != "https" or origin.netloc != request.host:
        raise CSRFError("The referrer does not match the host.")


def init_app(app: Flask) -> None:
    # After CSRFProtect's before_request: the token is checked first.
    app.before_request(check_referrer)
    app.after_request(headers)
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(GatewayError, gateway_error)
    app.register_error_handler(UploadError, upload_error)
    app.register_error_handler(HTTPException, http_error)
    app.context_processor(lambda: {"site_name": cfg()["site_name"]})


def headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if request.path.startswith(("/api/", "/healthz")) or response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def failure(status: int, code: str, message: str) -> Any:
    if request.path.startswith("/api/"):
        return jsonify(error=code, message=message), status
    return render_template("error.html", status=status, message=message), status


def csrf_error(error: CSRFError) -> Any:
    return failure(
        400,
        "csrf",
        f"The form had expired or was not sent from this site ({error.description}). Reload the page and try again.",
    )


def gateway_error(error: GatewayError) -> Any:
    return failure(error.status, error.code, error.message)


def upload_error(error: UploadError) -> Any:
    return failure(error.status, "upload", error.message)


def http_error(error: HTTPException) -> Any:
    messages = {
        403: "You are not allowed to see this page.",
        404: "There is nothing at this address.",
        413: "The upload is too large.",
    }
    return failure(error.code or 500, "http", messages.get(error.code or 500, error.description or "Error"))
