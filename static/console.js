// Chair's console: refresh the turnout figures every two seconds (the page works without it).
(function () {
  var root = document.querySelector(".console");
  if (!root) return;
  setInterval(function () {
    fetch(root.getAttribute("data-turnout"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        root.querySelectorAll(".live-cast").forEach(function (el) {
          var row = data[el.getAttribute("data-item")];
          if (row) el.textContent = row.cast;
        });
      })
      .catch(function () {});
  }, 2000);
})();
