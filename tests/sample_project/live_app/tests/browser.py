"""
Debian's headless Chromium, driven through its own chromedriver and kept off
the network: only 127.0.0.1, where the live server listens, is reachable.
"""

import os
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
# Given explicitly, so that Selenium does not look for (or download) one.
CHROMEDRIVER = "/usr/bin/chromedriver"

OFFLINE_ARGUMENTS = (
    "--headless=new",
    # Tests run as root in CI, where Chromium refuses its sandbox.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    # Every name resolves to nothing, and anything that is not loopback goes
    # to a proxy that refuses connections (the discard port).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
)


class Browser:
    """
    A Chromium session whose profile and temporary files are in one
    directory of its own, removed by quit().

    On POSIX the directory is in /tmp, not under TMPDIR: Chromium makes a
    Unix socket in its temporary directory, and fails to start where that
    path is longer than a socket path may be, as under pytest's temporary
    directories. Windows' Chromium makes none: the platform's temporary
    directory serves.
    """

    def __init__(self):
        self.directory = tempfile.TemporaryDirectory(
            prefix="chromium-", dir="/tmp" if os.name == "posix" else None
        )
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in OFFLINE_ARGUMENTS:
            options.add_argument(argument)
        options.add_argument(f"--user-data-dir={os.path.join(self.directory.name, 'profile')}")
        service = Service(CHROMEDRIVER, env={**os.environ, "TMPDIR": self.directory.name})
        try:
            self.driver = webdriver.Chrome(options=options, service=service)
        except BaseException:
            self.directory.cleanup()
            raise

    def quit(self):
        try:
            self.driver.quit()
        finally:
            self.directory.cleanup()
