"""Helpers shared by the hub tests (a plain module: tests/hub is not a package, so that it cannot shadow `hub`)."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

from citybot.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")
API_KEY = "test-key"
CHANNEL_TOKEN = "tok-channel"
STAFF = {  # name -> token:role:level:department
    "admin": "tok-admin:admin:市:",
    "district": "tok-district:supervisor:区:",
    "street_op": "tok-street:operator:街道:区环境卫生管理所",
    "center_op": "tok-center:operator:街道:",  # a command centre (指挥中心) operator: every department
    "other_dept": "tok-other:supervisor:区:园林绿化局",
}


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {STAFF[who].split(':')[0]}"}


class Clock:
    """A settable clock for the hub (aware datetimes)."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += dt.timedelta(**kw)


def make_settings(tmp_path, db_url: str | None = None, **kw) -> Settings:
    fields = dict(var_dir=tmp_path, media_dir=tmp_path / "media",
                  hub_database_url=db_url or f"sqlite:///{tmp_path / 'hub.db'}", hub_api_keys=API_KEY,
                  hub_staff_tokens=",".join(STAFF.values()), hub_channel_tokens=f"{CHANNEL_TOKEN}:tg",
                  hub_sweep_interval_s=0, hub_public_url="http://hub.test")
    return Settings(_env_file=None, **{**fields, **kw})


def image_bytes(fmt: str = "JPEG", size=(8, 8)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


def filing_form(**kw) -> dict[str, str]:
    """A valid POST requests form; keyword values override, "<omit>" drops a field."""
    form = {"api_key": API_KEY, "service_code": "SRHJ-01", "lat": "22.54310", "long": "114.05790",
            "description": "小区门口垃圾成堆"}
    form.update({k: str(v) for k, v in kw.items() if v is not None})
    return {k: v for k, v in form.items() if v != "<omit>"}
