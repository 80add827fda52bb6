// Only adds a counter ("已选 2/3") to ballots with a limit; the server checks every ballot anyway.
(function () {
  function watch(scope) {
    var limit = parseInt(scope.getAttribute("data-limit"), 10);
    var counter = scope.querySelector(".counter");
    if (!counter || !limit) return;
    counter.hidden = false;
    function update() {
      var n = scope.querySelectorAll("input[type=checkbox]:checked").length;
      scope.querySelectorAll("input[type=text]").forEach(function (t) { if (t.value.trim()) n += 1; });
      counter.querySelector(".count").textContent = n;
      counter.classList.toggle("over", n > limit);
    }
    scope.addEventListener("change", update);
    scope.addEventListener("input", update);
    update();
  }
  document.querySelectorAll("[data-limit]").forEach(watch);
})();
