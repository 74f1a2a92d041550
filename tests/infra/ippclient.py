"""An office PC's IPP client, run inside the office network namespace by the tests.

python ippclient.py SERVER USER PASSWORD ACTION [ARGS...]; prints a JSON result.
Actions: print QUEUE FILE [OPTION=VALUE...] | wait JOB | pause QUEUE | resume QUEUE
| document QUEUE JOB | cancel JOB | jobs.  An IPP error prints {"error": status, "message": text}.
"""

import json
import sys
import time

import cups

TERMINAL = {7: "cancelled", 8: "aborted", 9: "completed"}


def main() -> None:
    server, user, password, action, *args = sys.argv[1:]
    cups.setServer(server)
    cups.setPort(631)
    cups.setEncryption(cups.HTTP_ENCRYPT_REQUIRED)
    cups.setUser(user)
    asked = []

    def answer(_prompt: str) -> str:
        # Answer once; an empty answer stops libcups from asking forever.
        asked.append(1)
        return password if len(asked) == 1 else ""

    cups.setPasswordCB(answer)
    try:
        conn = cups.Connection()
        if action == "print":
            queue, path, *options = args
            job = conn.printFile(queue, path, "printbridge-test", dict(o.split("=", 1) for o in options))
            result = {"job": job}
        elif action == "wait":
            deadline = time.monotonic() + 120
            while True:
                state = conn.getJobAttributes(int(args[0]))["job-state"]
                if state in TERMINAL or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            result = {"state": TERMINAL.get(state, str(state))}
        elif action == "pause":
            conn.disablePrinter(args[0])
            result = {"ok": True}
        elif action == "resume":
            conn.enablePrinter(args[0])
            result = {"ok": True}
        elif action == "document":
            uri = f"ipp://{server}:631/printers/{args[0]}"
            result = {"document": conn.getDocument(uri, int(args[1]), 1)["document-format"]}
        elif action == "cancel":
            conn.cancelJob(int(args[0]))
            result = {"ok": True}
        elif action == "jobs":
            attrs = ["job-state", "job-originating-user-name", "job-name"]
            jobs = conn.getJobs(which_jobs="not-completed", requested_attributes=attrs)
            result = {"jobs": {str(k): v for k, v in jobs.items()}}
        else:
            raise SystemExit(f"unknown action {action}")
    except cups.IPPError as error:
        status, message = error.args
        result = {"error": status, "message": message}
    except RuntimeError as error:
        result = {"error": -1, "message": str(error)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
