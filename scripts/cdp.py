"""A minimal headless-Chromium driver over the DevTools protocol, standard library only.

Used by the tests of the built book and by ``make pdf``. One browser process
serves every page of a test session: Chromium is started
with ``--remote-debugging-pipe`` and spoken to through two pipes (it reads
commands on its fd 3 and writes replies and events on its fd 4, one JSON
message per NUL-terminated chunk), so no websocket library and no free port
are needed. It works as root with ``--no-sandbox``.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time


def find_chromium():
    """The Chromium (or Chrome) executable on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


# Flags shared by every headless use (screenshots, DOM checks, printing to PDF):
# no first-run UI, no background traffic of the browser itself.
HEADLESS_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
]


# The printed page (inches): A4, with the margins of every PDF the book prints.
PAGE = dict(
    paperWidth=8.27,
    paperHeight=11.69,
    marginTop=0.5,
    marginBottom=0.6,
    marginLeft=0.5,
    marginRight=0.5,
)

PAGE_NUMBER_FOOTER = (
    '<div style="font-size:8px;width:100%;text-align:center">'
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)


class CDPError(RuntimeError):
    """The browser answered a command with an error, or did not answer in time."""


class Browser:
    """A headless Chromium with one tab; use as a context manager.

    Parameters
    ----------
    exe : str
        Path of the Chromium executable.
    width, height : int
        Viewport in CSS pixels.
    timeout : float
        Seconds to wait for any single reply or awaited event.
    """

    def __init__(self, exe, width=1280, height=1400, timeout=60.0):
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory()
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def _child_fds():  # in the child before exec: the pipes become fd 3 and fd 4
            r, w = (
                fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
                for fd in (to_browser_r, from_browser_w)
            )
            os.dup2(r, 3)  # dup2 makes 3 and 4 inheritable; r, w and the rest
            os.dup2(w, 4)  # are close-on-exec (PEP 446)

        self.proc = subprocess.Popen(
            [exe, *HEADLESS_FLAGS, "--remote-debugging-pipe"]
            + [f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_child_fds,
            close_fds=False,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._next_id = 0
        self._events = []
        try:
            self._open_tab(width, height)
        except BaseException:
            self.close()
            raise

    def _open_tab(self, width, height):
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call(
            "Target.attachToTarget", targetId=target, flatten=True
        )["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.viewport(width, height)

    def viewport(self, width, height):
        """Emulate a window of ``width`` × ``height`` CSS pixels (scale 1)."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    # -- protocol -------------------------------------------------------------
    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise CDPError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise CDPError("Chromium closed the DevTools pipe (did it crash?)")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, session=False, **params):
        """Send one command and return its result (events meanwhile are queued)."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_event(self, method):
        """Block until the event `method` arrives; return its parameters."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, ev in enumerate(self._events):
                if ev["method"] == method:
                    return self._events.pop(i)["params"]
            self._events.append(self._read_message(deadline))

    # -- conveniences ---------------------------------------------------------
    def goto(self, url):
        """Load `url` and wait for its load event."""
        self._events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired")

    def requests(self):
        """URLs of every network request since the last `goto` (file:// included)."""
        return [
            ev["params"]["request"]["url"]
            for ev in self._events
            if ev["method"] == "Network.requestWillBeSent"
        ]

    def evaluate(self, expression):
        """Evaluate JavaScript in the page (awaiting a promise) and return its value."""
        res = self.call(
            "Runtime.evaluate",
            session=True,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in res:
            raise CDPError(f"JavaScript failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def screenshot(self, path, clip=None):
        """Save a PNG of the viewport, or of `clip` = dict(x, y, width, height)."""
        params = {"format": "png"}
        if clip is not None:
            params.update(clip={**clip, "scale": 1}, captureBeyondViewport=True)
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def print_pdf(self, path, footer=True):
        """Print the page to `path` (`PAGE`, backgrounds on, page numbers in footers).

        Untagged: Chromium's accessibility tags double the book's PDF (11 MB) and
        its printing time (about 9 s of 23 s); the HTML book is the accessible one.
        Chromium's outline (``generateDocumentOutline``) needs the tags: the book's
        is written by scripts/book_pdf.py.
        """
        params = dict(generateTaggedPDF=False, printBackground=True, **PAGE)
        if footer:
            params.update(
                displayHeaderFooter=True,
                headerTemplate="<span></span>",
                footerTemplate=PAGE_NUMBER_FOOTER,
            )
        data = self.call("Page.printToPDF", session=True, **params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close")
        except (CDPError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._profile.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
