// Parley portal: small progressive enhancements; every page works without this file.
document.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-confirm]");
  if (b && !window.confirm(b.dataset.confirm)) e.preventDefault();
});
document.addEventListener("change", (e) => {
  if (!e.target.matches("input[data-select-all]")) return;
  for (const c of e.target.form.querySelectorAll("input[name=sel]")) c.checked = e.target.checked;
});

// Upload progress: send the form with XMLHttpRequest to show how far it got, then follow the redirect.
document.addEventListener("submit", (e) => {
  const form = e.target;
  if (!form.matches("form[data-upload]") || !window.FormData) return;
  e.preventDefault();
  const bar = form.querySelector("progress");
  const xhr = new XMLHttpRequest();
  xhr.open("POST", form.action);
  xhr.upload.addEventListener("progress", (p) => {
    if (bar && p.lengthComputable) { bar.hidden = false; bar.value = (100 * p.loaded) / p.total; }
  });
  xhr.addEventListener("load", () => {
    // The response is the page the form redirected to (with its one-time message): show it as is.
    if (xhr.status < 400 && xhr.responseURL) history.replaceState(null, "", xhr.responseURL);
    document.open(); document.write(xhr.responseText); document.close();
  });
  xhr.addEventListener("error", () => { form.submit(); });
  if (bar) { bar.hidden = false; bar.value = 0; }
  xhr.send(new FormData(form));
});
// Unsaved changes: warn before leaving a form marked data-dirty-warn that was changed and not saved.
let dirty = null;
document.addEventListener("input", (e) => {
  const f = e.target.form;
  if (f && f.matches("form[data-dirty-warn]")) dirty = f;
});
document.addEventListener("change", (e) => {
  const f = e.target.form;
  if (f && f.matches("form[data-dirty-warn]")) dirty = f;
});
document.addEventListener("submit", (e) => { if (e.target === dirty) dirty = null; });
window.addEventListener("beforeunload", (e) => {
  if (dirty) { e.preventDefault(); e.returnValue = ""; }
});
