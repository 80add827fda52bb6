// Paper entry: count the sheets typed so far and flag a line with the wrong number of keys,
// so a slip of the finger is seen before submitting. The server checks every line again.
(function () {
  var area = document.getElementById("lines");
  var out = document.getElementById("entry-count");
  if (!area || !out) return;
  var boxes = parseInt(area.getAttribute("data-boxes"), 10);
  var score = document.querySelector(".hint") && /分数之间用空格/.test(document.querySelector(".hint").textContent);
  function check() {
    var lines = area.value.split("\n").filter(function (l) { return l.trim() !== ""; });
    var bad = [];
    lines.forEach(function (line, i) {
      var t = line.trim();
      if (t.charAt(0) === "*") return;
      var n = score ? t.split(/[\s,，]+/).length : t.split("+")[0].replace(/\s/g, "").length;
      if (n !== boxes) bad.push(i + 1);
    });
    out.textContent = "已录入 " + lines.length + " 张" + (bad.length ? "；键数不对：第 " + bad.join("、") + " 张" : "");
  }
  area.addEventListener("input", check);
  check();
  // On a tablet: big keys that type into the box without opening the on-screen keyboard.
  var pad = document.getElementById("keypad");
  if (pad) {
    pad.hidden = false;
    pad.addEventListener("click", function (e) {
      var btn = e.target.closest("button[data-key]");
      if (!btn) return;
      var key = btn.getAttribute("data-key");
      if (key === "back") area.value = area.value.slice(0, -1);
      else if (key === "enter") area.value += "\n";
      else area.value += key;
      check();
    });
  }
})();
