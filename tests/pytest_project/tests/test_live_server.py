"""
pytest-django's live_server beside the db fixture, requested over plain HTTP
(and, with PYTEST_SAMPLE_BROWSER=1, from headless Chromium).

With the plugin each of these tests keeps its transaction, shared with the
server's threads: the server sees rows the test has not committed, and the
test sees the server's. Without it pytest-django makes them transactional_db
tests, and the two tests that look inside the test's transaction fail. The
module's fixture records, after its tests, what rows any of them left.
"""

import json
import os
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import ProxyHandler, build_opener

import pytest
from django.db import connection, transaction

from rows.models import Row

# Not through any proxy the environment names.
http = build_opener(ProxyHandler({}))
TIMEOUT = 60


def server_rows(live_server, post=None):
    """The rows the server sees, after it adds a row for `post` if given."""
    data = urlencode({"worker": post}).encode() if post else None
    with http.open(f"{live_server.url}/rows/", data=data, timeout=TIMEOUT) as response:
        return json.loads(response.read())["rows"]


def rows_seen_by_the_test():
    return list(Row.objects.order_by("id").values_list("worker", flat=True))


@pytest.fixture(scope="module", autouse=True)
def rows_left(django_db_setup, django_db_blocker, worker_id):
    yield
    with django_db_blocker.unblock():
        left = list(Row.objects.values_list("worker", flat=True))
    records = Path(os.environ["PYTEST_SAMPLE_RECORDS"])
    with open(records / f"rows-left-{worker_id}", "a") as file:
        file.write(f"{json.dumps(left)}\n")


def test_the_server_sees_the_tests_rows_in_its_transaction(live_server, db):
    Row.objects.create(worker="from the test")

    assert connection.in_atomic_block
    assert server_rows(live_server) == ["from the test"]


def test_the_server_sees_rows_inside_the_tests_atomic_block(live_server, db):
    with transaction.atomic():
        Row.objects.create(worker="in atomic")

        assert server_rows(live_server) == ["in atomic"]


def test_the_test_sees_the_servers_rows(live_server, db):
    assert server_rows(live_server, post="from the server") == ["from the server"]

    assert rows_seen_by_the_test() == ["from the server"]


def test_a_live_server_test_without_db_gets_a_transaction_too(live_server):
    assert server_rows(live_server, post="no db fixture") == ["no db fixture"]


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_still_commits(live_server):
    Row.objects.create(worker="committed")

    assert not connection.in_atomic_block
    assert server_rows(live_server) == ["committed"]


@pytest.mark.skipif(os.environ.get("PYTEST_SAMPLE_BROWSER") != "1", reason="not asked for")
def test_a_browser_sees_and_writes_the_tests_rows(live_server, db):
    from selenium.webdriver.common.by import By

    from live_app.tests.browser import Browser

    Row.objects.create(worker="from the test")
    browser = Browser()
    try:
        browser.driver.get(f"{live_server.url}/rows/")
        shown = json.loads(browser.driver.find_element(By.TAG_NAME, "body").text)["rows"]
        status = browser.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {method: 'POST', body: new URLSearchParams({worker: arguments[1]})})"
            ".then(response => done(response.status));",
            f"{live_server.url}/rows/",
            "from chromium",
        )
    finally:
        browser.quit()

    assert shown == ["from the test"]
    assert status == 200
    assert rows_seen_by_the_test() == ["from the test", "from chromium"]
