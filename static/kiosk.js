// Shared kiosk: a voter who walks away is cleared after two idle minutes. (The back button needs
// no trick: every voter page is no-store and needs the session, which each reset forgets, so
// going back re-fetches a page that shows nothing of the previous voter.)
(function () {
  var reset = document.getElementById("kiosk-reset");
  if (!reset) return;  // the start page and the privacy screen hold nobody's data
  // the receipt of a voter with nothing left to vote: cleared after a short, stated delay
  var auto = document.getElementById("kiosk-auto");
  var idle = auto ? parseInt(auto.getAttribute("data-seconds"), 10) * 1000 : 120000;
  var timer;
  function arm() { clearTimeout(timer); timer = setTimeout(function () { reset.submit(); }, idle); }
  ["click", "keydown", "touchstart", "input"].forEach(function (e) { document.addEventListener(e, arm, true); });
  arm();
})();
