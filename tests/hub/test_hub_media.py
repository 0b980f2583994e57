"""Media uploads: images checked by content, size limit, auth, content-addressed storage and a stable URL."""

import hashlib

import pytest
from hubtesting import API_KEY, auth, image_bytes


@pytest.mark.parametrize("fmt,ext,ctype", [("JPEG", "jpg", "image/jpeg"), ("PNG", "png", "image/png"),
                                           ("WEBP", "webp", "image/webp")])
async def test_upload_and_serve(http, settings, fmt, ext, ctype):
    data = image_bytes(fmt)
    r = await http.post("/media", data={"api_key": API_KEY}, files={"file": ("whatever.bin", data, "text/plain")})
    assert r.status_code == 201, r.text
    digest = hashlib.sha256(data).hexdigest()
    assert r.json() == {"media_url": f"http://hub.test/media/{digest}.{ext}", "sha256": digest,
                        "content_type": ctype, "size": len(data)}
    assert (settings.media_dir / f"{digest}.{ext}").read_bytes() == data
    served = await http.get(f"/media/{digest}.{ext}")
    assert served.status_code == 200 and served.content == data and served.headers["content-type"] == ctype
    again = await http.post("/media", files={"file": ("x.jpg", data)}, headers=auth("street_op"))  # staff token
    assert again.json()["media_url"] == r.json()["media_url"]


@pytest.mark.parametrize("payload,description", [
    (b"just some text, named like a photo", "file is not a JPEG, PNG or WebP image"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "file is not a readable image: UnidentifiedImageError"),
    (b"", "file is empty"),
])
async def test_non_images_rejected(http, payload, description):
    r = await http.post("/media", data={"api_key": API_KEY}, files={"file": ("photo.jpg", payload, "image/jpeg")})
    assert r.status_code == 400 and r.json() == [{"code": 400, "description": description}]


async def test_oversize_is_413(tmp_path, clock):
    import httpx
    from hubtesting import make_settings

    from hub.app import create_app

    app = create_app(make_settings(tmp_path, media_max_bytes=2000), clock=clock)
    big = image_bytes("PNG", size=(400, 400))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as http:
        r = await http.post("/media", data={"api_key": API_KEY}, files={"file": ("a.png", big + b"\x00" * 5000)})
        assert r.status_code == 413 and r.json() == [{"code": 413, "description": "file is larger than 2000 bytes"}]
        r = await http.post("/media", data={"api_key": API_KEY}, files={"file": ("a.png", image_bytes("PNG"))})
        assert r.status_code == 201
    app.state.hub.db.dispose()


async def test_media_auth_and_bad_requests(http):
    data = image_bytes()
    r = await http.post("/media", files={"file": ("a.jpg", data)})
    assert r.status_code == 403 and r.json() == [{"code": 403, "description": "api_key or staff token required"}]
    r = await http.post("/media", data={"api_key": "nope"}, files={"file": ("a.jpg", data)})
    assert r.status_code == 403 and r.json() == [{"code": 403, "description": "api_key is not valid"}]
    r = await http.post("/media", data={"api_key": API_KEY})
    assert r.status_code == 400
    assert r.json() == [{"code": 400, "description": "multipart field 'file' with the image is required"}]
    for name in ("nope.jpg", "../../etc/passwd", "a" * 64 + ".gif"):
        r = await http.get(f"/media/{name}")
        assert r.status_code == 404
