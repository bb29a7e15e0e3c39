"""Drives the web console in Debian's Chromium (headless, Playwright) the way an operator does,
and prints one JSON object with what it saw. Every page visited is checked with axe-core (no
serious or critical violation), at 390 px width (nothing wider than the screen) and from the
keyboard (Tab reaches the main navigation); a screenshot of each goes to OUT_DIR.

Modes:
- `tour`: sign in as the tenant admin; add a camera and see it recording; see its live tile play
  (currentTime advancing, pixels not black); scrub the timeline to recorded video; draw a zone
  and get the person event; acknowledge its ticket; export a range and download it; then, as a
  viewer, be refused the administration page.
- `drain`: sign in as the platform admin, drain NODE from the cluster page, and see every camera
  it recorded move to another node there.

Usage: console_e2e.py BASE OUT_DIR '<json args>'
  tour args:  {"mode": "tour", "admin": [email, password], "viewer": [email, password], "rtsp": url}
  drain args: {"mode": "drain", "admin": [email, password], "node": id}
"""

import json
import pathlib
import sys
import time

from playwright.sync_api import sync_playwright

AXE_JS = pathlib.Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"

# currentTime and mean luma of a <video>, drawn into a small canvas.
PROBE = """
(sel) => {
  const v = document.querySelector(sel);
  if (!v) return {t: 0, w: 0, luma: 0};
  let luma = 0;
  if (v.videoWidth > 0) {
    const c = document.createElement('canvas');
    c.width = 64; c.height = 36;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 64, 36);
    const d = g.getImageData(0, 0, 64, 36).data;
    for (let i = 0; i < d.length; i += 4) luma += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    luma /= d.length / 4;
  }
  return {t: v.currentTime, w: v.videoWidth, luma, mode: v.dataset.mode || null};
}
"""

# The innermost elements whose right edge is past the screen's.
WIDE = """
() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
  .slice(0, 4)
  .map(e => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`)
"""

AXE_RUN = """
async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}
"""


class Tour:
    def __init__(self, page, base, out):
        self.page = page
        self.base = base
        self.out = pathlib.Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.checks = {}
        self.retries = []
        self.axe_loaded = False

    def go(self, hash_):
        self.page.goto(f"{self.base}/{hash_}")

    def wait_text(self, text, timeout=30):
        self.page.get_by_text(text, exact=False).first.wait_for(timeout=timeout * 1000)

    def check_page(self, name):
        """axe-core, 390 px width, keyboard, and a screenshot of the page as it is."""
        page = self.page
        page.wait_for_timeout(300)
        page.screenshot(path=str(self.out / f"{name}.jpg"), type="jpeg", quality=70, full_page=False)
        # Evaluated through the DevTools protocol, which the page's CSP does not govern.
        page.evaluate(AXE_JS.read_text() + "\n;0")
        violations = page.evaluate(AXE_RUN)
        size = page.viewport_size
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        # What sticks out, to say where to look when a page is too wide.
        wide = page.evaluate(WIDE) if overflow > 390 else []
        phone_violations = page.evaluate(AXE_RUN)
        page.set_viewport_size(size)
        # Keyboard: from the top of the page, Tab reaches a link of the main navigation.
        page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
        reached = False
        for _ in range(12):
            page.keyboard.press("Tab")
            if page.evaluate("() => !!document.activeElement && !!document.activeElement.closest('nav, form')"):
                reached = True
                break
        self.checks[name] = {
            "axe": violations + phone_violations,
            "width_390": overflow,
            "too_wide": wide,
            "keyboard": reached,
        }

    def video_plays(self, selector, seconds=15):
        """Whether `selector`'s currentTime advances and its picture is not black."""
        deadline = time.time() + seconds
        first = None
        best = {"played": False, "luma": 0}
        while time.time() < deadline:
            s = self.page.evaluate(PROBE, selector)
            if s["w"] > 0:
                first = first or s
                best["luma"] = max(best["luma"], s["luma"])
                best["mode"] = s.get("mode")
                if s["t"] > first["t"] + 1.0 and best["luma"] > 16:
                    best["played"] = True
                    return best
            time.sleep(0.25)
        return best


def sign_in(tour, email, password):
    """Signs in; a sign-in that shows no page within 15 s is tried once more, and what the form
    said each time is kept in the result (`sign_in_retries`), so a failure says why."""
    page = tour.page
    for attempt in range(2):
        page.wait_for_selector("input[name=email]:enabled", timeout=15000)
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        try:
            page.wait_for_selector("nav[aria-label=Main]", timeout=15000)
            return
        except Exception:
            alert = page.locator("[role=alert]")
            said = alert.first.inner_text() if alert.count() else "(the form said nothing)"
            tour.retries.append(f"{email} at {page.url}: {said}")
            if attempt == 1:
                raise


def run_tour(tour, args):
    page = tour.page
    result = {}
    # Sign in; the first page is interactive once its form takes input.
    started = time.time()
    page.goto(f"{tour.base}/")
    page.wait_for_selector("input[name=email]:enabled", timeout=15000)
    result["interactive_ms"] = round((time.time() - started) * 1000)
    result["sign_in_hash"] = page.evaluate("() => location.hash")
    tour.check_page("sign-in")
    sign_in(tour, *args["admin"])
    page.wait_for_selector("h1:has-text('Dashboard')")
    tour.check_page("dashboard")

    # Add a camera and see it recording.
    tour.go("#/cameras")
    page.click("text=Add camera")
    page.fill("form[aria-label='Add camera'] input[name=name]", "front door")
    page.fill("form[aria-label='Add camera'] input[name=url]", args["rtsp"])
    page.click("form[aria-label='Add camera'] button[type=submit]")
    page.wait_for_selector("tr:has-text('front door') .badge.s-streaming", timeout=60000)
    camera = page.get_attribute("tr:has-text('front door')", "data-camera")
    result["camera"] = camera
    tour.check_page("cameras")

    # The live wall plays it.
    tour.go("#/live")
    page.wait_for_selector(f".tile[data-camera='{camera}'] video")
    result["live"] = tour.video_plays(f".tile[data-camera='{camera}'] video", 20)
    tour.check_page("live")

    # Wait until some seconds are recorded, then scrub the timeline to them.
    page.wait_for_timeout(12000)
    tour.go(f"#/cameras/{camera}")
    page.click("button:has-text('15 min')")
    page.wait_for_selector(".tl-bar .span", timeout=30000)
    bar = page.locator(".tl-bar").bounding_box()
    # 25 s before the window's end (15 min wide).
    x = bar["x"] + bar["width"] * (1 - 25 / 900)
    page.mouse.click(x, bar["y"] + bar["height"] / 2)
    page.wait_for_selector("video#recorded")
    result["recorded"] = tour.video_plays("video#recorded", 20)
    tour.check_page("camera")

    # Draw a zone over the whole picture and get the person's event.
    tour.go(f"#/cameras/{camera}/rules")
    page.click("text=New rule")
    page.fill("form.rule-form input[name=name]", "door zone")
    canvas = page.locator("[data-zone-canvas]").bounding_box()
    for fx, fy in [(0.02, 0.02), (0.98, 0.02), (0.98, 0.98), (0.02, 0.98)]:
        page.mouse.click(canvas["x"] + canvas["width"] * fx, canvas["y"] + canvas["height"] * fy)
    result["zone"] = page.input_value("form.rule-form input[name=points]")
    tour.check_page("rules")
    page.click("form.rule-form button[type=submit]")
    page.wait_for_selector("td:has-text('door zone')")
    tour.go("#/events")
    deadline = time.time() + 90
    while time.time() < deadline and page.locator(".event-list a:has-text('intrusion')").count() == 0:
        page.wait_for_timeout(2000)
        page.click("form[aria-label=Filters] button[type=submit]")
    result["events"] = page.locator(".event-list a:has-text('intrusion')").count()
    tour.check_page("events")
    if result["events"]:
        page.click(".event-list a:has-text('intrusion') >> nth=0")
        page.wait_for_selector("figure.snapshot img", timeout=15000)
        tour.check_page("event")

    # Acknowledge its ticket.
    tour.go("#/tickets")
    page.wait_for_selector("button[data-action=acknowledge]", timeout=30000)
    tour.check_page("tickets")
    page.click("button[data-action=acknowledge] >> nth=0")
    page.click("button[aria-pressed]:has-text('acknowledged')")
    page.wait_for_selector("tr[data-ticket]", timeout=15000)
    result["acknowledged"] = page.locator("tr[data-ticket]").count()

    # Export the last minute and download the file and its manifest.
    tour.go(f"#/cameras/{camera}")
    page.wait_for_selector("#ex-title")
    page.click("form:has(input[name=reason]) button[type=submit]")
    page.wait_for_selector("button[data-download=media]", timeout=120000)
    with page.expect_download() as media:
        page.click("button[data-download=media]")
    path = media.value.path()
    head = open(path, "rb").read(12)
    result["export"] = {"bytes": pathlib.Path(path).stat().st_size, "ftyp": head[4:8] == b"ftyp"}
    with page.expect_download() as manifest:
        page.click("button[data-download=manifest]")
    result["export"]["manifest"] = "signature" in json.loads(open(manifest.value.path()).read())
    tour.check_page("export")

    for name, hash_ in [("notifications", "#/notifications"), ("admin", "#/admin")]:
        tour.go(hash_)
        page.wait_for_selector(f"h1:has-text('{'Notifications' if name == 'notifications' else 'Administration'}')")
        page.wait_for_timeout(800)
        tour.check_page(name)

    # As a viewer: no administration in the menu, and the page says which permission is missing.
    page.click("text=Sign out")
    page.wait_for_selector("input[name=email]")
    sign_in(tour, *args["viewer"])
    result["viewer_nav_admin"] = page.locator("nav >> text=Administration").count()
    tour.go("#/admin")
    page.wait_for_selector("[role=alert]", timeout=15000)
    result["viewer_refused"] = page.inner_text("[role=alert]")
    tour.check_page("viewer-refused")

    # A reload keeps the session (the HttpOnly cookie), and no script can read the cookie.
    page.reload()
    page.wait_for_selector("nav[aria-label=Main]", timeout=15000)
    result["cookie_visible_to_script"] = "vms_refresh" in page.evaluate("() => document.cookie")
    return result


def run_drain(tour, args):
    page = tour.page
    page.goto(f"{tour.base}/")
    page.wait_for_selector("input[name=email]")
    sign_in(tour, *args["admin"])
    node = args["node"]
    tour.go("#/cluster")
    row = f"tr[data-node='{node}']:has(td)"
    page.wait_for_selector(f"{row} button[data-action=drain]", timeout=30000)
    before = page.locator(f"tr[data-placed][data-node='{node}']").count()
    tour.check_page("cluster")
    page.click(f"{row} button[data-action=drain]")
    started = time.time()
    deadline = started + 90
    while time.time() < deadline:
        left = page.locator(f"tr[data-placed][data-node='{node}']").count()
        if left == 0:
            break
        page.wait_for_timeout(500)
    moved_s = time.time() - started
    page.wait_for_timeout(2500)
    tour.check_page("cluster-drained")
    return {
        "before": before,
        "after": page.locator(f"tr[data-placed][data-node='{node}']").count(),
        "moved_s": round(moved_s, 1),
        "moves_listed": page.locator("ol.moves li:has-text('→')").count(),
        "drained_badge": page.locator(f"{row} .badge.s-drained").count(),
    }


def main():
    base, out, raw = sys.argv[1:4]
    args = json.loads(raw)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        page = context.new_page()
        page.on("dialog", lambda d: d.accept())
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        tour = Tour(page, base, out)
        try:
            result = run_tour(tour, args) if args["mode"] == "tour" else run_drain(tour, args)
        except Exception as e:  # report what was reached, with a picture of where it stopped
            page.screenshot(path=str(pathlib.Path(out) / "failure.jpg"), type="jpeg", quality=70)
            result = {"failed": f"{type(e).__name__}: {e}", "at": page.url, "console": errors[-10:]}
        result["checks"] = tour.checks
        result["sign_in_retries"] = tour.retries
        result["page_errors"] = [e for e in errors if "Content Security Policy" in e or "Uncaught" in e][:10]
        browser.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
