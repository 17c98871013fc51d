"""A Stripe-style signed webhook, received into collection `payments`.

The sender signs each delivery: `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>" under the endpoint's secret>` (several `v1=` while a secret is rotated). This
handler answers 400 to a delivery whose signature does not match or whose timestamp is more than
five minutes away (an old delivery replayed), and writes nothing then. A good one becomes the
document `payments/<event id>`: a redelivery of the same event overwrites the same document, so
the sender's retries (it retries on any non-2xx answer) never write twice.

The secret is the function's, never in the code: `baas functions secrets set payments-webhook
STRIPE_WEBHOOK_SECRET=whsec_…`. The sender posts to
`https://<your server>/v1/functions/payments-webhook/http/stripe` (`invoke: public` in baas.json:
the sender has no platform credentials; the signature is what proves who sent it).
"""

import os
import re

from baas_runtime import HttpResponse, db, logger, on_http
from baas_runtime.webhooks import signature_fields, timestamp_is_fresh, verify_hmac_signature

TOLERANCE_SECONDS = 300
EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def refuse(reason):
    logger.warning("webhook refused: %s", reason)
    return HttpResponse({"error": reason}, status=400)


@on_http
def receive(event, ctx):
    if event.get("method") != "POST":  # also reached by /invoke, which has no method: refused too
        return HttpResponse({"error": "POST only"}, status=405, headers={"allow": "POST"})
    fields = signature_fields(event["headers"].get("stripe-signature", ""))
    timestamp = (fields.get("t") or [""])[0]
    if not timestamp_is_fresh(timestamp, tolerance=TOLERANCE_SECONDS):
        return refuse("missing or stale timestamp")
    # What was signed is the raw body as sent: never the parsed payload serialised again.
    signed = timestamp.encode() + b"." + event["body"]
    if not verify_hmac_signature(os.environ["STRIPE_WEBHOOK_SECRET"], signed, fields.get("v1", [])):
        return refuse("bad signature")
    payment = event["payload"]
    if not isinstance(payment, dict) or not EVENT_ID.fullmatch(str(payment.get("id", ""))):
        return refuse("the body is not an event with an id")
    db.collection("payments").set(
        payment["id"],
        {"type": payment.get("type"), "data": payment.get("data"), "created": payment.get("created")},
    )
    logger.info("received %s (%s)", payment["id"], payment.get("type"))
    return {"received": payment["id"]}
