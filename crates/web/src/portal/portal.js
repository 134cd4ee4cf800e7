// Parley portal: small progressive enhancements; every page works without this file.
document.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-confirm]");
  if (b && !window.confirm(b.dataset.confirm)) e.preventDefault();
});
document.addEventListener("change", (e) => {
  if (!e.target.matches("input[data-select-all]")) return;
  for (const c of e.target.form.querySelectorAll("input[name=sel]")) c.checked = e.target.checked;
});
