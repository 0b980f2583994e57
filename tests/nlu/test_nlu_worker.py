"""The NLU worker's batched path, through nlu.client: a batch answers exactly what the texts do one by one."""

from __future__ import annotations

import asyncio

import pytest

TEXTS = [
    "秀英区滨海大道23号中学对面有辆车长期占用消防通道",
    "市民来电反映: 美兰区海府路12号路灯坏了好几盏，晚上黑乎乎的，要求尽快处理。",
    "我想问一下社保怎么补缴",
    "井盖没了",
    "你好",
    "謝謝",  # traditional characters, normalised
    "",  # nothing to parse: the empty answer, not a model run
    "/report_problem",  # a leading slash is not a Rasa command here
    "龙华区金盘路88号菜市场旁边有人摆摊占道经营，路都堵了",
    "我的案件CG20240601-0001处理得怎么样了",
]


def test_parse_many_equals_parse(nlu):
    one_by_one = [nlu.parse(t) for t in TEXTS]
    batched = nlu.parse_many(TEXTS)
    assert batched == one_by_one
    # and again in another order and batch composition: answers do not depend on the neighbours
    assert nlu.parse_many(TEXTS[::-1]) == one_by_one[::-1]


def test_parse_many_splits_long_lists_and_keeps_order(nlu):
    from nlu.client import NLUClient

    texts = [f"{road}{i}号路灯不亮" for i, road in enumerate(["金盘路", "海府路", "国兴大道"] * 40)]
    assert len(texts) > 2 * NLUClient.batch_size
    answers = nlu.parse_many(texts)
    assert [a["text"] for a in answers] == texts
    assert all(a["category"]["subcategory"] for a in answers)


def test_a_bad_item_in_a_batch_gets_an_error_and_the_others_their_answers(nlu):
    answers = nlu.parse_many(["路灯不亮", 42, "井盖没了"])
    assert answers[1] == {"error": '"text" must be a string'}
    assert answers[0] == nlu.parse("路灯不亮") and answers[2] == nlu.parse("井盖没了")


def test_parse_many_of_nothing(nlu):
    assert nlu.parse_many([]) == []


def test_pool_of_two_workers_answers_like_one(trained_model, nlu):
    from nlu.client import NLUPool, start_nlu

    async def go():
        pool = await start_nlu(workers=2, model=trained_model)
        try:
            assert isinstance(pool, NLUPool) and len(set(pool.info["pids"])) == 2
            texts = TEXTS * 12
            sending = asyncio.ensure_future(pool.parse_many(texts))
            await asyncio.sleep(0)  # its batches are written: both workers have some in flight
            busy = [c.in_flight for c in pool.clients]
            many, one = await asyncio.gather(sending, pool.parse(TEXTS[0]))
            return many, one, busy
        finally:
            await pool.close()

    loop = asyncio.new_event_loop()
    try:
        many, one, busy = loop.run_until_complete(go())
    finally:
        loop.close()
    assert all(busy), busy
    expected = nlu.parse_many(TEXTS)
    assert many == expected * 12
    assert one == expected[0]


def test_worker_rejects_a_batch_that_is_not_a_list(nlu):
    from nlu.client import NLUError

    client = nlu.client

    async def go():
        return await client._collect([await client._request({"texts": "井盖没了"})], 30)

    with pytest.raises(NLUError, match="must be a list"):
        nlu.loop.run_until_complete(go())
