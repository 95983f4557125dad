// Copy buttons: <button data-copy="ID"> copies the value (or text) of element ID to the
// clipboard and says so in the page's polite live region (.copied). No inline handlers: the
// Content-Security-Policy allows no inline script.
const status = document.querySelector(".copied");

async function copy(button) {
  const source = document.getElementById(button.dataset.copy);
  const text = "value" in source && source.value !== undefined ? source.value : source.textContent;
  try {
    await navigator.clipboard.writeText(text.trim());
    if (status) status.textContent = `Copied: ${text.trim()}`;
  } catch {
    // No clipboard access (an insecure origin, a refused permission): select it instead.
    if (source.select) source.select();
    if (status) status.textContent = "Press Ctrl+C (or long-press) to copy.";
  }
}

for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", () => copy(button));
}
