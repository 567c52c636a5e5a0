// PartnerForge UI: small progressive enhancements (every page works without this file).
// "/" or Ctrl+K focuses the jump bar from any page.
document.addEventListener("keydown", function (e) {
  var t = e.target;
  var typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
  if ((e.key === "/" && !typing) || (e.key === "k" && (e.ctrlKey || e.metaKey))) {
    var jump = document.getElementById("jump");
    if (jump) {
      e.preventDefault();
      jump.focus();
      jump.select();
    }
  }
});

// A running job's page follows its progress through server-sent events (/jobs/{id}/events):
// each event carries the page's live part as HTML rendered by the server. Without this file
// the page reloads itself every 2 seconds instead (a <noscript> refresh).
var jobEvents = null;
function followJob() {
  var live = document.getElementById("job-live");
  var url = live && live.getAttribute("data-events");
  if (jobEvents && (!url || jobEvents.url.indexOf(url) < 0)) {
    jobEvents.close();
    jobEvents = null;
  }
  if (!url || jobEvents || !window.EventSource) {
    return;
  }
  var es = new EventSource(url);
  jobEvents = es;
  function show(e) {
    var el = document.getElementById("job-live");
    if (!el || jobEvents !== es) {
      return;
    }
    el.innerHTML = e.data;
    el.setAttribute("data-updates", String(Number(el.getAttribute("data-updates") || "0") + 1));
    if (window.htmx) {
      window.htmx.process(el);
    }
  }
  es.addEventListener("progress", show);
  es.addEventListener("done", function (e) {
    show(e);
    es.close();
    var el = document.getElementById("job-live");
    if (el) {
      el.removeAttribute("data-events");
    }
    jobEvents = null;
  });
  es.addEventListener("gone", function () {
    es.close();
    jobEvents = null;
  });
}
document.addEventListener("DOMContentLoaded", followJob);
// hx-boost swaps pages in place: follow (or stop following) after every swap.
document.addEventListener("htmx:afterSettle", followJob);
document.addEventListener("htmx:historyRestore", followJob);
