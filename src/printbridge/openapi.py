"""The OpenAPI 3.1 description of /api/v1 (the tests check it against the routes)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
JSON_BODY = "application/json"

ERROR: Schema = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string", "description": "in plain words"}},
}
CAPABILITIES: Schema = {
    "type": "object",
    "properties": {
        "media": {"type": "array", "items": {"type": "string"}},
        "media_default": {"type": "string"},
        "sides": {"type": "array", "items": {"type": "string"}},
        "sides_default": {"type": "string"},
        "color_modes": {"type": "array", "items": {"type": "string"}},
        "color_mode_default": {"type": "string"},
        "max_copies": {"type": "integer"},
    },
}
PRINTER: Schema = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "info": {"type": "string"},
        "location": {"type": "string"},
        "state": {"enum": ["idle", "printing", "stopped"]},
        "accepting": {"type": "boolean"},
        "shared": {"type": "boolean", "description": "false: a local queue, offered to administrators only"},
        "state_reasons": {"type": "array", "items": {"type": "string"}},
        "message": {"type": "string"},
        "markers": {"type": "array", "items": {"type": "object"}},
        "capabilities": {"$ref": "#/components/schemas/Capabilities"},
    },
}
JOB: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "printer": {"type": "string"},
        "title": {"type": "string"},
        "owner": {"type": "string"},
        "state": {"enum": ["pending", "held", "processing", "stopped", "cancelled", "aborted", "completed"]},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "pages": {"type": "integer", "description": "Pages printed by the last run."},
        "pages_total": {"type": "integer", "description": "Pages printed by all runs (reprints included)."},
        "runs": {"type": "integer", "minimum": 1},
        "copies": {"type": "integer"},
        "created": {"type": ["integer", "null"]},
        "completed": {"type": ["integer", "null"]},
    },
}
UPLOAD: Schema = {
    "type": "object",
    "properties": {
        "token": {"type": "string"},
        "title": {"type": "string"},
        "pages": {"type": "integer"},
        "notices": {"type": "array", "items": {"type": "string"}},
    },
}
OPTIONS: Schema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "copies": {"type": "string", "pattern": "^[0-9]+$"},
        "page-ranges": {"type": "string", "examples": ["1-3,5"]},
        "sides": {"type": "string"},
        "print-color-mode": {"type": "string"},
        "media": {"type": "string"},
    },
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def answer(description: str, schema: Schema | None = None, status: str = "200") -> dict[str, Any]:
    responses: dict[str, Any] = {
        status: {"description": description}
        | ({"content": {"application/json": {"schema": schema}}} if schema else {}),
        "default": {
            "description": "an error in plain words",
            "content": {"application/json": {"schema": ref("Error")}},
        },
    }
    return responses


def operation(summary: str, responses: dict[str, Any], admin: bool = False, **extra: Any) -> dict[str, Any]:
    return {"summary": summary + (" (print administrators only)" if admin else ""), "responses": responses, **extra}


def path_param(name: str, schema: Schema) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


# CUPS job ids are IPP integers: larger numbers are no job (404).
JOB_ID = path_param("job_id", {"type": "integer", "minimum": 1, "maximum": 2147483647})
PRINTER_NAME = path_param("name", {"type": "string"})


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/openapi.json": {"get": operation("This document", {"200": {"description": "OpenAPI 3.1"}}, security=[])},
        "/me": {
            "get": operation(
                "The signed-in user and the CSRF token for unsafe requests",
                answer("who", {"type": "object", "properties": {"user": {}, "is_admin": {}, "csrf_token": {}}}),
            )
        },
        "/printers": {
            "get": operation("Printers, their state and capabilities", answer("printers", array(ref("Printer"))))
        },
        "/uploads": {
            "get": operation("This session's uploads waiting to be printed", answer("uploads", array(ref("Upload")))),
            "post": operation(
                "Upload PDF files (checked, sanitised, page counted)",
                answer("stored", {"type": "object", "properties": {"uploads": array(ref("Upload"))}}, "201"),
                requestBody={
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"files": array({"type": "string", "format": "binary"})},
                            }
                        }
                    },
                },
            ),
        },
        "/uploads/{token}": {
            "delete": operation(
                "Discard an upload",
                {"204": {"description": "discarded"}},
                parameters=[path_param("token", {"type": "string"})],
            )
        },
        "/jobs": {
            "get": operation(
                "Jobs of the signed-in user (all users' for administrators with all_users)",
                answer("jobs", array(ref("Job"))),
                parameters=[
                    {"name": "which", "in": "query", "schema": {"enum": ["not-completed", "completed", "all"]}},
                    {"name": "all_users", "in": "query", "schema": {"enum": ["0", "1", "true", "false"]}},
                ],
            ),
            "post": operation(
                "Print an upload",
                answer("queued", {"type": "object", "properties": {"job_id": {"type": "integer"}}}, "201"),
                requestBody={
                    "required": True,
                    "content": {
                        JSON_BODY: {
                            "schema": {
                                "type": "object",
                                "required": ["upload", "printer"],
                                "properties": {
                                    "upload": {"type": "string"},
                                    "printer": {"type": "string"},
                                    "options": ref("Options"),
                                    "notify": {"type": "boolean", "description": "e-mail when done (if offered)"},
                                    "hold": {
                                        "type": "boolean",
                                        "description": "hold the job until you release it (job-hold-until=indefinite)",
                                    },
                                },
                            }
                        }
                    },
                },
            ),
        },
        "/admin/jobs/{job_id}/purge": {
            "post": operation("Cancel and purge a job", answer("purged", job_ref()), admin=True, parameters=[JOB_ID])
        },
        "/admin/jobs/{job_id}/move": {
            "post": operation(
                "Move a job to another printer",
                answer("moved", job_ref()),
                admin=True,
                parameters=[JOB_ID],
                requestBody={
                    "required": True,
                    "content": {
                        JSON_BODY: {"schema": {"type": "object", "properties": {"printer": {"type": "string"}}}}
                    },
                },
            )
        },
        "/admin/watchdog": {
            "get": operation(
                "Recent actions of the queue watchdog (journal)",
                answer("log lines", array({"type": "object"})),
                admin=True,
            )
        },
    }
    for action in ("hold", "release", "cancel", "reprint"):
        paths[f"/jobs/{{job_id}}/{action}"] = {
            "post": operation(f"{action.capitalize()} one of your jobs", answer("done", job_ref()), parameters=[JOB_ID])
        }
    for action in ("pause", "resume", "accept", "reject"):
        paths[f"/admin/printers/{{name}}/{action}"] = {
            "post": operation(
                f"{action.capitalize()} a printer",
                answer("done", {"type": "object"}),
                admin=True,
                parameters=[PRINTER_NAME],
            )
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "PrintBridge", "version": "1.0.0"},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "schemas": {
                "Error": ERROR,
                "Printer": PRINTER,
                "Capabilities": CAPABILITIES,
                "Job": JOB,
                "Upload": UPLOAD,
                "Options": OPTIONS,
            },
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "printbridge_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
            },
        },
        "security": [{"session": [], "csrf": []}],
        "paths": paths,
    }


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def job_ref() -> Schema:
    return {"type": "object", "properties": {"job_id": {"type": "integer"}}}
