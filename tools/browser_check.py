"""Does a real browser play these videos? Headless Chromium loads each into a <video> element.

    python tools/browser_check.py annotated.mp4 [more.webm ...]

Needs Debian's `chromium` (apt-get install chromium). The files are served on 127.0.0.1; the page waits for
each video's `canplaythrough` (or an error, or 15 s), plays it for half a second, draws the frame into a
canvas and posts what it saw back. A file passes when it reached readyState 4 (HAVE_ENOUGH_DATA), a frame
could be drawn (its mean pixel is printed: a pose image on black is dark, a photo is not) and its duration
matches frames / fps as OpenCV reads them (within a frame). With --through each video is played to its
end (at 4x, muted) instead, and the duration compared is the one Chromium knows once it has played it: a
file a killed run left has no final index, so its length is only known by playing (its first estimate is
printed too). Prints one line per file; exits 1 if any fails. Real time is used, not
--virtual-time-budget, which runs out while media is still decoding.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import cv2

PAGE = """<!doctype html><meta charset="utf-8"><body><script>
const params = new URLSearchParams(location.search), files = params.getAll("f"), through = params.has("through");
function check(name) {
  return new Promise(resolve => {
    const v = document.createElement("video");
    v.muted = true; v.preload = "auto";
    let done = false;
    const finish = why => {
      if (done) return; done = true;
      const c = document.createElement("canvas"); c.width = 32; c.height = 18;
      let mean = null;
      try {
        const g = c.getContext("2d"); g.drawImage(v, 0, 0, 32, 18);
        const d = g.getImageData(0, 0, 32, 18).data; let s = 0;
        for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2];
        mean = s / (d.length / 4 * 3);
      } catch (e) {}
      resolve({file: name, why, readyState: v.readyState, duration: v.duration, width: v.videoWidth,
               height: v.videoHeight, error: v.error && v.error.message, meanPixel: mean, firstDuration,
               reached});
    };
    let firstDuration = null, reached = 0;
    v.addEventListener("loadedmetadata", () => { firstDuration = v.duration; });
    v.addEventListener("timeupdate", () => { reached = Math.max(reached, v.currentTime); });
    v.addEventListener("error", () => finish("error"));
    v.addEventListener("ended", () => finish("played to the end"));
    v.addEventListener("canplaythrough", () => {
      if (through) v.playbackRate = 4;
      v.play().then(() => through || setTimeout(() => finish("played"), 500), e => finish("play failed: " + e));
    }, {once: true});
    setTimeout(() => finish("timeout"), through ? 60000 : 15000);
    document.body.appendChild(v);
    v.src = name;
  });
}
(async () => {
  const results = [];
  for (const f of files) results.push(await check(f));
  await fetch("/result", {method: "POST", body: JSON.stringify({userAgent: navigator.userAgent, results})});
})();
</script>"""
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


def expected_duration(path: Path) -> float:
    """frames / fps as OpenCV reads the file (independent of the browser)."""
    capture = cv2.VideoCapture(str(path))
    try:
        return capture.get(cv2.CAP_PROP_FRAME_COUNT) / capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, got: dict[str, Any], done: threading.Event, **kwargs: Any) -> None:
        self.got, self.done = got, done
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.got.update(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
        self.send_response(204)
        self.end_headers()
        self.done.set()


def play_in_chromium(videos: list[Path], chromium: str, through: bool = False) -> dict[str, Any]:
    """What headless Chromium saw of each video (the page's JSON); `through`: played to the end."""
    root = Path(tempfile.mkdtemp(prefix="posenet-browser-"))
    got: dict[str, Any] = {}
    done = threading.Event()
    names = []
    for i, video in enumerate(videos):
        names.append(f"{i}{video.suffix}")
        os.symlink(video.resolve(), root / names[-1])
    (root / "check.html").write_text(PAGE, encoding="utf-8")
    handler = functools.partial(_Handler, got=got, done=done, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    query = [("f", n) for n in names] + ([("through", "1")] if through else [])
    url = f"http://127.0.0.1:{server.server_address[1]}/check.html?" + urllib.parse.urlencode(query)
    profile = tempfile.mkdtemp(prefix="posenet-chromium-")
    browser = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        if not done.wait(30 + (65 if through else 20) * len(videos)):
            raise SystemExit("no answer from Chromium")
    finally:
        os.killpg(browser.pid, signal.SIGTERM)  # its own process group: start_new_session
        browser.wait(20)
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    return got


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--through", action="store_true", help="play each video to its end (at 4x)")
    args = parser.parse_args(argv)
    seen = play_in_chromium(args.videos, args.chromium, args.through)
    print(seen.get("userAgent", ""))
    failed = 0
    for video, r in zip(args.videos, seen["results"]):
        want = expected_duration(video)
        ok = (r["readyState"] >= (2 if args.through else 4) and r["meanPixel"] is not None
              and r["duration"] is not None and abs(r["duration"] - want) < 0.05 + 1 / 30
              and (not args.through or r["why"] == "played to the end"))
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {video}: readyState {r['readyState']}, duration {r['duration']} s "
              f"(frames/fps {want:.3f} s; first estimate {r['firstDuration']} s, played to {r['reached']:.3f} s), "
              f"{r['width']}x{r['height']}, mean pixel {r['meanPixel']}, {r['why']}"
              f"{', error ' + r['error'] if r['error'] else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
