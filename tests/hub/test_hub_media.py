"""Media uploads: images checked by content, stored without metadata, size and pixel limits, auth before the
body, content-addressed storage and a stable URL. (Over a real hub process: tests/security/test_probe.py.)"""

import hashlib
import io

import pytest
from hubtesting import API_KEY, auth, image_bytes
from PIL import Image


def _with_exif(fmt: str = "JPEG", orientation: int = 1, size=(40, 20)) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    img.putpixel((0, 0), (0, 0, 255))  # a marker corner, to see the orientation applied
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker 13812345678"  # Make
    exif[0x8825] = {1: "N", 2: (22.0, 32.0, 35.0), 3: "E", 4: (114.0, 3.0, 28.0)}  # GPS
    buf = io.BytesIO()
    img.save(buf, format=fmt, exif=exif, **({"comment": b"shot at home"} if fmt == "JPEG" else {}))
    return buf.getvalue()


@pytest.mark.parametrize("fmt,ext,ctype", [("JPEG", "jpg", "image/jpeg"), ("PNG", "png", "image/png"),
                                           ("WEBP", "webp", "image/webp")])
async def test_upload_strips_metadata_and_serves(http, settings, fmt, ext, ctype):
    data = _with_exif(fmt)
    r = await http.post("/media", params={"api_key": API_KEY}, files={"file": ("whatever.bin", data, "text/plain")})
    assert r.status_code == 201, r.text
    body = r.json()
    stored = (settings.media_dir / f"{body['sha256']}.{ext}").read_bytes()
    assert body == {"media_url": f"http://hub.test/media/{body['sha256']}.{ext}", "sha256": hashlib.sha256(stored).hexdigest(),
                    "content_type": ctype, "size": len(stored)}
    with Image.open(io.BytesIO(stored)) as img:
        assert img.format == fmt and img.size == (40, 20)
        assert not img.getexif() and "comment" not in img.info and "exif" not in img.info
    assert b"PhoneMaker" not in stored and b"13812345678" not in stored and b"shot at home" not in stored
    served = await http.get(body["media_url"].replace("http://hub.test", ""))
    assert served.status_code == 200 and served.content == stored and served.headers["content-type"] == ctype
    assert served.headers["x-content-type-options"] == "nosniff"
    again = await http.post("/media", files={"file": ("x.bin", data)}, headers=auth("street_op"))  # staff token
    assert again.json()["media_url"] == body["media_url"]  # same content, same name


async def test_the_exif_orientation_is_applied_before_it_is_dropped(http, settings):
    r = await http.post("/media", params={"api_key": API_KEY}, files={"file": ("a.jpg", _with_exif(orientation=6))})
    assert r.status_code == 201, r.text
    with Image.open(settings.media_dir / f"{r.json()['sha256']}.jpg") as img:
        assert img.size == (20, 40) and not img.getexif()  # turned upright: a viewer needs no EXIF to show it


@pytest.mark.parametrize("payload,description", [
    (b"just some text, named like a photo", "file is not a JPEG, PNG or WebP image"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "file is not a readable image: UnidentifiedImageError"),
    (b"", "file is empty"),
])
async def test_non_images_rejected(http, payload, description):
    r = await http.post("/media", params={"api_key": API_KEY}, files={"file": ("photo.jpg", payload, "image/jpeg")})
    assert r.status_code == 400 and r.json() == [{"code": 400, "description": description}]


async def test_oversize_and_too_many_pixels_are_413(tmp_path, clock):
    import httpx
    from hubtesting import make_settings

    from hub.app import create_app

    app = create_app(make_settings(tmp_path, media_max_bytes=2000, media_max_pixels=100 * 100), clock=clock)
    big = image_bytes("PNG", size=(40, 40))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as http:
        r = await http.post("/media", params={"api_key": API_KEY}, files={"file": ("a.png", big + b"\x00" * 5000)})
        assert r.status_code == 413 and r.json() == [{"code": 413, "description": "file is larger than 2000 bytes"}]
        wide = image_bytes("PNG", size=(200, 100))  # small file, 20000 pixels
        r = await http.post("/media", params={"api_key": API_KEY}, files={"file": ("a.png", wide)})
        assert r.status_code == 413 and "200x100 pixels" in r.json()[0]["description"]
        r = await http.post("/media", params={"api_key": API_KEY}, files={"file": ("a.png", image_bytes("PNG"))})
        assert r.status_code == 201
    app.state.hub.db.dispose()


async def test_media_auth_and_bad_requests(http):
    data = image_bytes()
    r = await http.post("/media", files={"file": ("a.jpg", data)})
    assert r.status_code == 403
    assert r.json() == [{"code": 403, "description": "api_key (in the query string) or a staff token is required"}]
    # the key is never taken from the body: the body is not read before the caller is known
    r = await http.post("/media", data={"api_key": API_KEY}, files={"file": ("a.jpg", data)})
    assert r.status_code == 403
    r = await http.post("/media", params={"api_key": "nope"}, files={"file": ("a.jpg", data)})
    assert r.status_code == 403 and r.json() == [{"code": 403, "description": "api_key is not valid"}]
    r = await http.post("/media", headers={"Authorization": "Bearer nope"}, files={"file": ("a.jpg", data)})
    assert r.status_code == 403
    r = await http.post("/media", params={"api_key": API_KEY}, data={"x": "1"}, files={"other": ("a.jpg", data)})
    assert r.status_code == 400
    assert r.json() == [{"code": 400, "description": "multipart field 'file' with the image is required"}]
    r = await http.post("/media", params={"api_key": API_KEY}, content=b"raw", headers={"content-type": "image/jpeg"})
    assert r.status_code == 400
    for name in ("nope.jpg", "../../etc/passwd", "a" * 64 + ".gif", "a" * 64 + ".jpg%0A"):
        r = await http.get(f"/media/{name}")
        assert r.status_code == 404
