"""An operator in a real browser: the overview, "did user 1042 get the push yesterday?", a
delivery's story, a test push to a user the daily cap holds back.

Everything is real: ``pushworker web`` (gunicorn) on a free port, PostgreSQL or SQLite, Redis, a
``celery worker`` with a daily cap of 3 and the emulator; the deliveries are made by the pipeline,
not written by hand, except one dead delivery (a worker dying three times is the fault suite's
business) and one moved to yesterday (the clock is not the test's to turn back).
Each step leaves a screenshot in SCREENSHOTS for a person to look at.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import SCREENSHOTS, WIDTH
from tests.integration.test_web import start
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow
OWNER, OTHER, GONE, CAPPED = "1042", "10420", "2077", "3033"
PASSWORD = "browser-ops-9f3c2a71"
TOKEN = "browser-api-token-51d0e8"
POLICY = {"PUSHWORKER_POLICY": "DAILY_CAP=3"}  # CAPPED's fourth visit of the day is held back
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the app's zone: its days are the admin's


def send(owner: str, visitor: str, goods: str) -> None:
    from pushworker.tasks import send_goods_visit

    send_goods_visit.delay(
        owner_id=owner,
        visitor_id=visitor,
        goods_id=goods,
        goods_name=f"二手自行车 {goods}",
        visitor_name=f"小明{visitor}",
    )


def yesterday_evening() -> datetime:
    today = datetime.now(SHANGHAI).date()
    return datetime.combine(today - timedelta(days=1), time(21, 0), SHANGHAI)


@pytest.fixture(scope="module")
def site(stack):
    """A worker, the web service, an operator, deliveries of three owners (one phone is gone)."""
    from django.contrib.auth import get_user_model

    from pushworker.store.models import Delivery, DeliveryStatus, PushDevice

    stack.reset()
    operator = get_user_model().objects.create_superuser("operator", password=PASSWORD)
    for owner in (OWNER, OTHER, GONE, CAPPED):
        PushDevice.objects.create(user_id=owner, app_name="qqc", os_type="android")
    # 2077's phone is gone.
    stack.emulator.set_known_targets([f"QQC_{OWNER}", f"QQC_{OTHER}", f"QQC_{CAPPED}"])
    stack.worker(env=POLICY)
    for n in range(3):
        send(OWNER, f"7{n}", f"100{n}")
    send(OTHER, OWNER, "2001")  # 1042 as the visitor: not a delivery *to* 1042
    send(GONE, "71", "3001")
    for n in range(4):
        send(CAPPED, f"8{n}", f"400{n}")
    wait_for(
        lambda: Delivery.objects.filter(status__in=["sent", "failed", "suppressed"]).count() == 9,
        90,
        message="nine deliveries finished by the worker",
    )
    assert Delivery.objects.filter(recipient_id=CAPPED, error_category="daily_cap").count() == 1
    first, second = Delivery.objects.filter(recipient_id=OWNER).order_by("created_at")[:2]
    Delivery.objects.filter(pk=first.pk).update(
        status=DeliveryStatus.DEAD,
        crashes=3,
        error_category="poison",
        error_reason="a worker died 3 times while delivering this event",
    )
    Delivery.objects.filter(pk=second.pk).update(created_at=yesterday_evening())
    server = start({**stack.env, **POLICY, "PUSHWORKER_API_TOKEN": TOKEN}, stack.tmp, "browser")
    yield server
    server.stop()
    operator.delete()
    stack.reset()


@pytest.fixture(scope="module")
def page(site, browser, stack):
    """Open a path, check it is styled and shows no secret, and keep a screenshot of it."""
    secrets = (*stack.secrets(), PASSWORD, TOKEN)
    state = {"n": 0}

    def visit(path: str | None, shot: str, detail: str | None = None):
        if path is not None:
            browser.get(site.url + path)
        source = browser.page_source
        # base.css applied: the header has the admin's colour, not a transparent default.
        assert css(browser, "#header", "backgroundColor") not in ("rgba(0, 0, 0, 0)", "transparent")
        for secret in secrets:
            assert secret not in source, f"a secret on {browser.current_url}"
        state["n"] += 1
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(WIDTH, min(max(height, 600), 2400))
        browser.save_screenshot(str(SCREENSHOTS / f"{state['n']:02d}-{shot}.png"))
        if detail:  # the part worth showing in the README, without the page around it
            element = browser.find_element(By.CSS_SELECTOR, detail)
            element.screenshot(str(SCREENSHOTS / f"{state['n']:02d}-{shot}-detail.png"))
        browser.set_window_size(WIDTH, 900)
        return browser

    browser.get(f"{site.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("operator")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    visit(None, "login")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for(lambda: "/admin/login" not in browser.current_url, 30, message="the login")
    return visit


def css(browser, selector: str, prop: str) -> str:
    return browser.execute_script(
        "return getComputedStyle(document.querySelector(arguments[0]))[arguments[1]]",
        selector,
        prop,
    )


def test_the_overview_is_the_styled_admin_index(page) -> None:
    browser = page("/admin/", "overview", ".pw-overview")
    assert css(browser, "body", "fontFamily") != '"Times New Roman"'
    assert browser.find_elements(By.CSS_SELECTOR, "svg.pw-chart rect")
    overview = browser.find_element(By.CSS_SELECTOR, ".pw-overview").text
    assert "20301" in overview and "no valid targets" in overview
    assert not browser.find_elements(By.LINK_TEXT, "View site")


def test_did_user_1042_get_the_push_answered_by_the_owner_filter(page) -> None:
    from pushworker.store.models import Delivery

    browser = page("/admin/pushworker/delivery/", "deliveries")
    box = browser.find_element(By.ID, "pw-filter-owner_id")
    box.send_keys(OWNER)
    box.submit()
    wait_for(lambda: "owner_id=1042" in browser.current_url, 30, message="the owner filter")
    cells = browser.find_elements(By.CSS_SELECTOR, "#result_list td.field-recipient_id")
    owners = [td.text for td in cells]
    assert owners == [OWNER] * Delivery.objects.filter(recipient_id=OWNER).count() == [OWNER] * 3
    # The list fits the operator's screen: no side scroller around the table.
    results = browser.find_element(By.CSS_SELECTOR, "#changelist .results")
    assert browser.execute_script(
        "return arguments[0].scrollWidth <= arguments[0].clientWidth", results
    )
    page(None, "owner-1042", "#content-main")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Not delivered").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1 and "crash budget spent" in rows[0].text
    page(None, "owner-1042-not-delivered")


def short_ids(browser) -> list[str]:
    return [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody th a")]


def test_yesterdays_deliveries_of_user_1042_through_the_filters(page) -> None:
    from pushworker.store.models import Delivery

    yesterdays = Delivery.objects.get(recipient_id=OWNER, created_at=yesterday_evening())
    browser = page("/admin/pushworker/delivery/", "deliveries")
    box = browser.find_element(By.ID, "pw-filter-owner_id")
    box.send_keys(OWNER)
    box.submit()
    wait_for(lambda: "owner_id=1042" in browser.current_url, 30, message="the owner filter")
    browser.find_element(By.LINK_TEXT, "Yesterday").click()
    wait_for(lambda: "created=yesterday" in browser.current_url, 30, message="yesterday")
    assert "owner_id=1042" in browser.current_url
    assert short_ids(browser) == [str(yesterdays.event_id)[:8]]
    assert "21:00:00 CST" in browser.find_element(By.CSS_SELECTOR, "#result_list").text
    page(None, "owner-1042-yesterday", "#content-main")
    # The same day as a range of dates, typed into the date boxes.
    browser.find_element(By.LINK_TEXT, "Any date").click()
    day = yesterday_evening().date().isoformat()
    for box_id in ("pw-created-from", "pw-created-to"):
        box = browser.find_element(By.ID, box_id)
        browser.execute_script("arguments[0].value = arguments[1]", box, day)
    browser.find_element(By.ID, "pw-created-range").click()
    wait_for(lambda: f"created_to={day}" in browser.current_url, 30, message="the date range")
    assert "owner_id=1042" in browser.current_url
    assert short_ids(browser) == [str(yesterdays.event_id)[:8]]
    page(None, "owner-1042-date-range")


def test_a_delivery_tells_its_story_and_links_the_device_it_deactivated(page) -> None:
    from pushworker.store.models import Delivery, PushDevice

    failed = Delivery.objects.get(recipient_id=GONE)
    browser = page(f"/admin/pushworker/delivery/{failed.pk}/change/", "delivery-story", "fieldset")
    story = browser.find_element(By.CSS_SELECTOR, "ol.pw-story").text
    assert "20301 no valid targets" in story and "Deactivated" in story
    assert not browser.find_elements(By.CSS_SELECTOR, "input[name=_save]")
    device = PushDevice.objects.get(user_id=GONE)
    browser.find_element(
        By.CSS_SELECTOR, f"ol.pw-story a[href$='/pushdevice/{device.pk}/change/']"
    ).click()
    page(None, "device-deactivated")
    assert (
        str(failed.event_id)[:8]
        in browser.find_element(By.CSS_SELECTOR, ".field-deactivated_by").text
    )
    browser.find_element(By.ID, "pw-reactivate").click()
    wait_for(lambda: "Reactivated" in browser.page_source, 30, message="the reactivation")
    device.refresh_from_db()
    assert device.is_active and device.deactivated_reason == ""
    page(None, "device-reactivated")


def test_a_dead_delivery_is_requeued_from_its_page_and_then_sent(page) -> None:
    from pushworker.store.models import Delivery

    dead = Delivery.objects.get(status="dead")
    browser = page(f"/admin/pushworker/delivery/{dead.pk}/change/", "dead-delivery")
    browser.find_element(By.ID, "pw-requeue").click()
    wait_for(lambda: "Requeued" in browser.page_source, 30, message="the requeue message")
    wait_for(
        lambda: Delivery.objects.get(pk=dead.pk).status == "sent",
        90,
        message="the requeued delivery sent by the worker",
    )
    page(f"/admin/pushworker/delivery/{dead.pk}/change/", "requeued-and-sent")


def test_a_test_push_from_a_device_page_reaches_the_emulator(page, stack) -> None:
    from pushworker.store.models import Delivery, PushDevice
    from pushworker.web.admin.testpush import TEST_VISITOR_ID

    device = PushDevice.objects.get(user_id=OWNER)
    browser = page(f"/admin/pushworker/pushdevice/{device.pk}/change/", "device")
    browser.find_element(By.ID, "pw-test-push").click()
    wait_for(lambda: "test push(es) enqueued" in browser.page_source, 30, message="the message")
    wait_for(
        lambda: Delivery.objects.filter(
            payload__visitor_id=TEST_VISITOR_ID, status="sent"
        ).exists(),
        90,
        message="the test push sent by the worker",
    )
    assert any(f"QQC_{OWNER}" in message["targets"] for message in stack.emulator.messages())
    page(f"/admin/pushworker/delivery/?owner_id={OWNER}", "test-push-delivered")


def test_a_test_push_to_a_user_the_daily_cap_holds_back_arrives(page, stack) -> None:
    from pushworker.store.models import Delivery, PushDevice
    from pushworker.web.admin.testpush import TEST_GOODS_ID

    held = Delivery.objects.get(recipient_id=CAPPED, error_category="daily_cap")
    browser = page(f"/admin/pushworker/delivery/{held.pk}/change/", "capped-story", "fieldset")
    assert "The daily cap resets at" in browser.find_element(By.CSS_SELECTOR, "ol.pw-story").text
    device = PushDevice.objects.get(user_id=CAPPED)
    browser = page(f"/admin/pushworker/pushdevice/{device.pk}/change/", "capped-device")
    browser.find_element(By.ID, "pw-test-push").click()
    wait_for(lambda: "test push(es) enqueued" in browser.page_source, 30, message="the message")
    test = wait_for(
        lambda: Delivery.objects.filter(recipient_id=CAPPED, test_push=True, status="sent").first(),
        90,
        message="the test push sent by the worker, past the daily cap",
    )
    arrived = [
        m
        for m in stack.emulator.messages()
        if f"QQC_{CAPPED}" in m["targets"] and m["fields"].get("extra.goods_id") == TEST_GOODS_ID
    ]
    assert len(arrived) == 1
    browser = page(f"/admin/pushworker/delivery/?owner_id={CAPPED}", "capped-test-push-sent")
    [marked] = browser.find_elements(By.CSS_SELECTOR, "#result_list .pw-test")
    row = marked.find_element(By.XPATH, "./ancestor::tr")
    assert str(test.event_id)[:8] in row.text and "sent" in row.text
