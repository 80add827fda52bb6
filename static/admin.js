// Slip-sheet progress: the PDF downloads from the form post; meanwhile poll the job's page count.
(function () {
  function hex(n) {
    var a = new Uint8Array(n), s = "";
    window.crypto.getRandomValues(a);
    for (var i = 0; i < n; i++) s += ("0" + a[i].toString(16)).slice(-2);
    return s;
  }
  document.querySelectorAll("form.slips-form").forEach(function (form) {
    form.addEventListener("submit", function () {
      var token = hex(16), out = form.querySelector(".progress"), tries = 0;
      form.querySelector("input[name=token]").value = token;
      out.textContent = "正在生成…";
      var timer = setInterval(function () {
        fetch("/admin/slip-jobs/" + token, { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { status: "unknown" }; })  // not (yet) visible
          .then(function (job) {
            if (job.status === "running") out.textContent = "已生成 " + job.pages_done + " / " + job.pages_total + " 页";
            else if (job.status === "done") { out.textContent = "已完成 " + job.pages_total + " 页，请查看下载"; clearInterval(timer); }
            else if (job.status === "failed") {
              out.textContent = job.stalled ? "生成中断（服务器进程已退出）：请在会议页面作废该批次后重新生成" : "生成失败（本批票码已作废），请重新生成";
              clearInterval(timer);
            }
            else if (++tries > 60) clearInterval(timer);
          })
          .catch(function () { if (++tries > 60) clearInterval(timer); });
      }, 1000);
    });
  });
})();

// Item form: show only the selected kind's fields (without JavaScript all show; the server reads
// only the selected kind's).
(function () {
  var kind = document.getElementById("kind");
  if (!kind) return;
  function show() {
    document.querySelectorAll("fieldset.kind-fields").forEach(function (f) {
      f.hidden = f.getAttribute("data-kind").split(" ").indexOf(kind.value) < 0;
    });
  }
  kind.addEventListener("change", show);
  show();
})();
