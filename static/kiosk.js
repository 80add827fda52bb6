// Shared kiosk: a voter who walks away is cleared after two idle minutes. (The back button needs
// no trick: every voter page is no-store and needs the session, which each reset forgets, so
// going back re-fetches a page that shows nothing of the previous voter.)
(function () {
  var reset = document.getElementById("kiosk-reset");
  if (!reset) return;  // the start page and the privacy screen hold nobody's data
  var timer;
  function arm() { clearTimeout(timer); timer = setTimeout(function () { reset.submit(); }, 120000); }
  ["click", "keydown", "touchstart", "input"].forEach(function (e) { document.addEventListener(e, arm, true); });
  arm();
})();
