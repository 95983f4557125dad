// The rule list's search box and status filter (issue 15 item 8): rows hide as you type. The
// form also works without scripts (the page filters on ?q= and ?status=).
const query = document.getElementById("rule-query");
const status = document.getElementById("rule-status-filter");
const count = document.getElementById("rule-count");

function apply() {
  const words = (query?.value || "").toLowerCase().split(/\s+/).filter(Boolean);
  const wanted = status?.value || "";
  let shown = 0;
  let total = 0;
  for (const section of document.querySelectorAll("section.program")) {
    let visible = 0;
    const rows = section.querySelectorAll("tr[data-rule]");
    for (const row of rows) {
      const text = row.dataset.search || "";
      const ok = words.every((w) => text.includes(w)) && (!wanted || row.dataset.status === wanted);
      row.hidden = !ok;
      if (ok) visible++;
    }
    total += rows.length;
    shown += visible;
    const none = section.querySelector(".no-match");
    if (none) none.hidden = visible > 0 || rows.length === 0;
  }
  if (count) count.textContent = words.length || wanted ? `${shown} of ${total} rules shown` : "";
}

if (query && status) {
  query.addEventListener("input", apply);
  status.addEventListener("change", apply);
  document.getElementById("rule-search").addEventListener("submit", (e) => {
    e.preventDefault();
    apply();
  });
  apply();
}
