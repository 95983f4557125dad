// Canvas tools over the stage: find a field or value (every match outlined, the current one
// centred; Enter / Shift+Enter step through them), and collapse or expand every group. Built
// with DOM APIs only; node text is matched as plain text.
import { collapseAll, markNode, nodeText, revealNode } from "./graph.js";

/** The text a search looks through for a node: what it shows, and its raw field and value. */
export function searchText(data, currency = "") {
  const parts = nodeText(data, currency);
  if (data?.kind === "leaf" && data.cond && typeof data.cond === "object") {
    parts.push(String(data.cond.field ?? ""), JSON.stringify(data.cond.value ?? ""));
  }
  if (data?.kind === "action" && data.action) parts.push(JSON.stringify(data.action));
  if (data?.kind === "trigger" && data.rule) parts.push(String(data.rule.name ?? ""), String(data.rule.description ?? ""));
  return parts.join("\n").toLowerCase();
}

/** Nodes (in canvas order: top to bottom, left to right) whose text contains the query. */
export function findNodes(graph, query, currency = "") {
  const q = String(query || "").trim().toLowerCase();
  if (!q) return [];
  const pos = (n) => n.getPosition();
  return graph
    .getNodes()
    .filter((n) => searchText(n.getData(), currency).includes(q))
    .sort((a, b) => pos(a).y - pos(b).y || pos(a).x - pos(b).x);
}

function button(text, title, onclick, name) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "small";
  b.textContent = text;
  b.title = title;
  b.name = name;
  b.setAttribute("aria-label", title);
  b.addEventListener("click", onclick);
  return b;
}

/** Adds the tools bar to `stage` (the canvas's container's parent). */
export function installCanvasTools(graph, stage) {
  const bar = document.createElement("div");
  bar.className = "canvas-tools";
  bar.setAttribute("role", "search");
  const box = document.createElement("input");
  box.type = "search";
  box.name = "canvas-search";
  box.placeholder = "Find a field or value";
  box.setAttribute("aria-label", "Find a field or value on the canvas");
  const count = document.createElement("span");
  count.className = "search-count";
  count.setAttribute("aria-live", "polite");

  const state = { query: "", matches: [], index: -1 };
  const currency = () => {
    try {
      return JSON.parse(document.getElementById("builder-config")?.textContent || "{}").currency || "";
    } catch {
      return "";
    }
  };
  const unmark = () => {
    for (const node of state.matches) if (graph.hasCell(node)) markNode(node, null);
  };
  const show = () => {
    state.matches.forEach((node, i) => markNode(node, i === state.index ? "current" : "match"));
    const current = state.matches[state.index];
    if (current) {
      revealNode(graph, current);
      graph.centerCell(current);
    }
    count.textContent = state.query ? (state.matches.length ? `${state.index + 1} of ${state.matches.length}` : "no match") : "";
    count.dataset.count = String(state.matches.length);
  };
  const run = () => {
    unmark();
    state.query = box.value;
    state.matches = findNodes(graph, state.query, currency());
    state.index = state.matches.length ? 0 : -1;
    show();
  };
  const step = (by) => {
    if (!state.matches.length) return;
    state.index = (state.index + by + state.matches.length) % state.matches.length;
    show();
  };
  box.addEventListener("input", run);
  box.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      if (box.value !== state.query) run();
      else step(e.shiftKey ? -1 : 1);
    } else if (e.key === "Escape") {
      box.value = "";
      run();
    }
  });
  // The canvas changed (a rule loaded, a node edited or removed): search again, quietly.
  let timer = null;
  const rerun = () => {
    if (!state.query) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      unmark();
      const current = state.matches[state.index];
      state.matches = findNodes(graph, state.query, currency());
      const keep = state.matches.indexOf(current);
      state.index = keep >= 0 ? keep : state.matches.length ? 0 : -1;
      state.matches.forEach((node, i) => markNode(node, i === state.index ? "current" : "match"));
      count.textContent = state.matches.length ? `${state.index + 1} of ${state.matches.length}` : "no match";
      count.dataset.count = String(state.matches.length);
    }, 50);
  };
  graph.on("cell:added", rerun);
  graph.on("cell:removed", rerun);
  graph.on("node:change:data", rerun);

  bar.append(
    box,
    count,
    button("↑", "Previous match (Shift+Enter)", () => step(-1), "search-prev"),
    button("↓", "Next match (Enter)", () => step(1), "search-next"),
    button("Collapse groups", "Collapse every condition group below the top one", () => collapseAll(graph, true), "collapse-all"),
    button("Expand all", "Expand every condition group", () => collapseAll(graph, false), "expand-all"),
  );
  stage.prepend(bar);
  return { run, step, box };
}
