"""The image pipeline: an image uploaded to bucket `uploads` gets a thumbnail (at most 256 px on its
longer side, PNG) in bucket `thumbnails` and a document with the metadata of both in collection
`images`. Clients subscribed to `images` over realtime see each one arrive.

Idempotent by construction: the thumbnail's path and the document's id are derived from the upload
(and the document records the event id), so a re-run after a crash overwrites the same two things.
"""

from io import BytesIO

from PIL import Image

from baas_runtime import db, logger, on_object_created, storage

SIZE = 256


def _names(path):
    stem = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
    doc_id = "".join(c if c.isalnum() or c in "_-." else "_" for c in path)[:120].lstrip(".") or "image"
    return f"{stem}.png", doc_id


@on_object_created("uploads")
def make_thumbnail(event, ctx):
    upload = event["object"]
    path = upload["path"]
    if not (upload.get("content_type") or "").startswith("image/"):
        logger.info("not an image, skipped: %s (%s)", path, upload.get("content_type"))
        return {"skipped": path}

    with Image.open(BytesIO(storage.read("uploads", path))) as image:
        width, height, source_format = image.width, image.height, image.format
        image.thumbnail((SIZE, SIZE))
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA")
        out = BytesIO()
        image.save(out, "PNG", optimize=True)
        thumb_width, thumb_height = image.size

    thumb_path, doc_id = _names(path)
    storage.write("thumbnails", thumb_path, out.getvalue(), content_type="image/png")
    doc = db.collection("images").set(
        doc_id,
        {
            "source": {
                "bucket": "uploads",
                "path": path,
                "size": upload["size"],
                "content_type": upload["content_type"],
                "format": source_format,
                "width": width,
                "height": height,
            },
            "thumbnail": {
                "bucket": "thumbnails",
                "path": thumb_path,
                "size": len(out.getvalue()),
                "width": thumb_width,
                "height": thumb_height,
            },
            "event_id": ctx.event_id,
        },
    )
    logger.info("thumbnail %s (%dx%d) for %s (%dx%d)", thumb_path, thumb_width, thumb_height, path, width, height)
    return {"document": doc["id"], "thumbnail": thumb_path}
