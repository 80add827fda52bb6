// Projector screen: replace the live part whenever the server sends a new state (SSE), fall back to
// polling when streaming is refused or unavailable, and tick the elapsed time locally.
(function () {
  var body = document.body, live = document.getElementById("live"), notice = document.getElementById("connection");
  var lastId = body.getAttribute("data-event-id"), received = Date.now(), polling = null;

  // Beyond what one screen holds (more than 30 people), show the rows a page at a time.
  var pager = null;
  function paginate() {
    if (pager) { clearInterval(pager); pager = null; }
    live.classList.remove("paged");
    var rows = Array.prototype.slice.call(live.querySelectorAll(".rows .row"));
    var foot = live.querySelector(".rule");
    if (!rows.length || !foot) return;
    function fits(row) {
      var r = row.getBoundingClientRect();
      return r.bottom <= foot.getBoundingClientRect().top + 1 && r.right <= window.innerWidth;
    }
    // pages in the list's order: each page is the rows that fit once the earlier pages are hidden
    var pages = [], rest = rows;
    live.classList.add("paged");
    while (rest.length) {
      rows.forEach(function (row) { row.classList.toggle("off-page", rest.indexOf(row) < 0); });
      var n = 0;
      while (n < rest.length && fits(rest[n])) n++;
      n = Math.max(n, 1);
      pages.push(rest.slice(0, n));
      rest = rest.slice(n);
    }
    if (pages.length < 2) {
      live.classList.remove("paged");
      rows.forEach(function (row) { row.classList.remove("off-page"); });
      return;
    }
    var current = 0;
    function turn() {
      pages.forEach(function (page, i) { page.forEach(function (row) { row.classList.toggle("off-page", i !== current); }); });
      current = (current + 1) % pages.length;
    }
    turn();
    pager = setInterval(turn, 8000);
  }
  function show(id, html) {
    if (id === lastId) return;
    lastId = id;
    live.innerHTML = html;
    received = Date.now();
    paginate();
  }
  function tick() {
    var el = live.querySelector(".elapsed");
    if (!el) return;
    var s = parseInt(el.getAttribute("data-elapsed"), 10) + Math.floor((Date.now() - received) / 1000);
    el.textContent = "已进行 " + Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
  }
  function poll() {
    if (polling) return;
    polling = setInterval(function () {
      fetch(body.getAttribute("data-snapshot"), { cache: "no-store" })
        .then(function (r) { return r.json(); })
        .then(function (s) { notice.hidden = true; show(s.id, s.html); })
        .catch(function () { notice.hidden = false; });
    }, 2000);
  }
  if (window.EventSource) {
    var source = new EventSource(body.getAttribute("data-events"));
    source.addEventListener("screen", function (e) {
      notice.hidden = true;
      show(e.lastEventId, JSON.parse(e.data).html);
    });
    source.onerror = function () {
      // a refused stream (503: every stream thread busy) closes for good: poll instead
      if (source.readyState === EventSource.CLOSED) poll(); else notice.hidden = false;
    };
  } else {
    poll();
  }
  setInterval(tick, 1000);
  paginate();
})();
