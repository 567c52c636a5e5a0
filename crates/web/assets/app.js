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
