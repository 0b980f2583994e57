"""Staff members registered at the hub: seeded from STAFF_USERS at start-up (missing ones only: the table wins),
read by their channel, managed by admins within their reach. (The channel acting for them: tests/security.)"""

import httpx
import pytest
from hubtesting import CHANNEL_TOKEN, auth, make_settings

from hub.app import create_app


async def _members(app, headers) -> list[dict]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as http:
        r = await http.get("/staff/v1/members", headers=headers)
        assert r.status_code == 200, r.text
        return r.json()


async def test_staff_users_are_seeded_once_and_the_table_wins(tmp_path, clock):
    app = create_app(make_settings(tmp_path, staff_users="42:supervisor:区:区环境卫生管理所:李四,43"), clock=clock)
    rows = await _members(app, auth("admin"))
    assert [(m["member_id"], m["role"], m["level"], m["name"]) for m in rows] == [
        ("tg:42", "supervisor", "区", "李四"), ("tg:43", "operator", "街道", "")]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as http:
        r = await http.patch("/staff/v1/members/tg:42", json={"role": "operator"}, headers=auth("admin"))
        assert r.status_code == 200 and r.json()["role"] == "operator"
        assert (await http.delete("/staff/v1/members/tg:43", headers=auth("admin"))).status_code == 200
        # a channel reads its own members one by one; a 区 supervisor manages nobody
        assert (await http.get("/staff/v1/members/tg:42", headers={"Authorization": f"Bearer {CHANNEL_TOKEN}"})
                ).json()["name"] == "李四"
        assert (await http.get("/staff/v1/members", headers=auth("district"))).status_code == 403
    app.state.hub.db.dispose()
    again = create_app(make_settings(tmp_path, staff_users="42:supervisor:区::李四,43"), clock=clock)
    rows = await _members(again, auth("admin"))
    # 42 stays as the API left it; 43, removed, is missing from the table and so added again
    assert [(m["member_id"], m["role"]) for m in rows] == [("tg:42", "operator"), ("tg:43", "operator")]
    again.state.hub.db.dispose()


@pytest.mark.parametrize("seed", ["x:operator", "1:boss", "1:operator:省", "፩:operator"])
def test_a_bad_seed_stops_the_start(tmp_path, seed):
    with pytest.raises(ValueError):
        create_app(make_settings(tmp_path, staff_users=seed))
