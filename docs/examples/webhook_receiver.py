"""A Sesame webhook receiver, verifying each delivery with the Standard Webhooks library.

usage: SESAME_WEBHOOK_SECRET=whsec_... python webhook_receiver.py PORT [LOG]

    pip install standardwebhooks

Answers 204 to a delivery whose signature checks out (and handles it), 400 to anything else.
Sesame delivers at least once: an event may come again after a retry, with the same
`webhook-id`, so a real receiver remembers the ids it has handled and skips repeats. LOG, when
given, is a file that gets one JSON line per request (for the tests that run this example).
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["SESAME_WEBHOOK_SECRET"])
port = int(sys.argv[1])
log = sys.argv[2] if len(sys.argv) > 2 else None
seen = set()  # webhook-ids handled (keep them in your database, for a day or more)


def handle(event):
    # Your code: event["type"] is e.g. "user.created", event["data"]["user_id"] the user.
    print(event["type"], json.dumps(event["data"]), flush=True)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            # The raw bytes, exactly as received: the signature covers them.
            event = webhook.verify(body, dict(self.headers))
        except WebhookVerificationError as e:
            record({"verified": False, "error": str(e)})
            self.send_response(400)
            self.end_headers()
            return
        if self.headers["webhook-id"] not in seen:
            seen.add(self.headers["webhook-id"])
            handle(event)
        record({"verified": True, "id": self.headers["webhook-id"], "event": event})
        # 2xx only once the event is handled: anything else and Sesame sends it again.
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def record(line):
    if log:
        with open(log, "a") as f:
            f.write(json.dumps(line) + "\n")


HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
