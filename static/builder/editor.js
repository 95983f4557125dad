// The rule editor page: wires the canvas, the panels and the rules API (SPEC §6) together.
// Every piece of rule data reaches the page through textContent or form values only.
import { createApi, items } from "./api.js";
import { canonical, graphToRule, lineDiff, nodeForPath, traceResults } from "./convert.js";
import { createGraph, layoutCanvas, newNodeData, nodeAttrs, nodeConfig, showRule, snapshot } from "./graph.js";
import { el, fieldsFor, renderPanel } from "./panel.js";
import { createPublish } from "./publish.js";
import { createResults } from "./results.js";
import { createScenarios, money } from "./scenarios.js";
import { setCatalog } from "./units.js";

const cfg = JSON.parse(document.getElementById("builder-config").textContent);
const api = createApi(cfg);
const $ = (id) => document.getElementById(id);

const state = {
  catalog: { triggers: {}, actions: [] },
  rule: null, // the API's rule object, once saved
  savedCanonical: null,
  snap: { nodes: [], edges: [] },
  current: { definition: {}, problems: [], paths: {} },
  serverErrors: [],
  trace: null,
  loading: false,
  otherFields: new Set(),
  valueTypes: new Map(),
  validateSeq: 0,
  panelKey: "",
  drawn: new Map(),
  versions: [],
};

const { graph, dnd, selection, keyboard, history } = createGraph({ container: $("canvas"), minimap: $("minimap") });

// The authoring panels (scenarios, publishing with a review of the changes, results) share the
// page's state through this context; they are created in start(), after the functions below.
const ctx = {
  api,
  cfg,
  graph,
  say: (...args) => say(...args),
  sayError: (error) => sayError(error),
  rule: () => state.rule,
  versions: () => state.versions,
  catalog: () => state.catalog,
  definition: () => state.current.definition,
  dirty: () => dirty(),
  refresh: () => refresh(),
  afterSave: (rule, message) => afterSave(rule, message),
};
let scenarios = null;
let publisher = null;
let results = null;

// ------------------------------------------------------------------ messages

/** Shows a message. `cause`: a function true while what the message is about still holds;
 * the banner clears itself (on the next canvas refresh) once it is false. */
function say(text, kind = "info", cause = null) {
  const box = $("message");
  box.textContent = text;
  box.dataset.kind = kind;
  state.messageCause = cause;
}

function clearStaleMessage() {
  if (state.messageCause && !state.messageCause()) say("");
}

function sayError(error) {
  if (error.errors?.length) {
    state.serverErrors = error.errors.map((e) => ({ path: e.path || e.field || "$", message: e.message }));
    decorate();
  }
  say(error.message || String(error), "error", error.errors?.length ? () => state.serverErrors.length > 0 : null);
}

// ------------------------------------------------------------------ canvas -> rule

const dirty = () => !state.rule || canonical(state.current.definition) !== state.savedCanonical;

function problemsByNode() {
  const byNode = new Map();
  const general = [];
  const add = (id, message) => {
    if (!id) return general.push(message);
    if (!byNode.has(id)) byNode.set(id, []);
    byNode.get(id).push(message);
  };
  for (const p of state.current.problems) add(p.id, p.message);
  for (const e of state.serverErrors) add(nodeForPath(state.current.paths, e.path), `${e.message} (${e.path})`);
  return { byNode, general };
}

/** Redraws nodes whose look changed (data, problem, trace result or selection). */
function decorate() {
  const { byNode, general } = problemsByNode();
  const selected = new Set(selection.getSelectedCells().map((c) => c.id));
  for (const node of graph.getNodes()) {
    const options = {
      currency: cfg.currency,
      problem: byNode.get(node.id)?.[0] || "",
      trace: state.trace?.[node.id] || null,
      selected: selected.has(node.id),
    };
    const key = JSON.stringify([node.getData(), options]);
    if (state.drawn.get(node.id) === key) continue;
    state.drawn.set(node.id, key);
    node.attr(nodeAttrs(node.getData(), { ...options, actions: state.catalog.actions }));
  }
  const list = $("problems");
  list.replaceChildren();
  for (const message of general) list.append(el("li", { text: message }));
  for (const [id, messages] of byNode) {
    for (const message of messages) {
      list.append(
        el("li", { "data-node": id }, el("a", { href: "#", text: message, onclick: (e) => { e.preventDefault(); selectNode(id); } })),
      );
    }
  }
  renderSide(byNode);
}

function renderSide(byNode = problemsByNode().byNode) {
  const cells = selection.getSelectedCells().filter((c) => c.isNode());
  const node = cells.length === 1 ? cells[0] : null;
  const problems = node ? byNode.get(node.id) || [] : [];
  const key = JSON.stringify([node?.id, node?.getData(), problems, state.current.definition.trigger, state.otherFields.size]);
  if (key === state.panelKey) return;
  state.panelKey = key;
  renderPanel($("panel"), node, {
    catalog: state.catalog,
    currency: cfg.currency,
    trigger: state.current.definition.trigger,
    problems,
    otherFields: state.otherFields,
    valueTypes: state.valueTypes,
    // Redraw at once, so the next edit always starts from the node's new data.
    onChange: (data) => {
      node.setData(data, { overwrite: true });
      refresh();
    },
  });
}

function selectNode(id) {
  const cell = graph.getCellById(id);
  if (!cell) return;
  selection.reset(cell);
  graph.centerCell(cell);
}

let refreshTimer = null;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 20);
}

function refresh() {
  clearTimeout(refreshTimer);
  state.snap = snapshot(graph);
  const before = canonical(state.current.definition);
  state.current = graphToRule(state.snap);
  if (canonical(state.current.definition) !== before) {
    state.trace = null;
    state.serverErrors = [];
    scheduleValidate();
  }
  const json = $("json");
  if (document.activeElement !== json) json.value = JSON.stringify(state.current.definition, null, 2);
  decorate();
  updateToolbar();
  publisher?.update();
  clearStaleMessage();
}

let validateTimer = null;
function scheduleValidate() {
  clearTimeout(validateTimer);
  validateTimer = setTimeout(validateOnServer, 400);
}

/** The server's schema and semantic checks, mapped onto the nodes by their JSON paths. */
async function validateOnServer() {
  if (state.current.problems.length) return;
  const seq = ++state.validateSeq;
  try {
    await api.post("rules/validate", { definition: state.current.definition });
    if (seq === state.validateSeq) state.serverErrors = [];
  } catch (error) {
    if (seq !== state.validateSeq) return;
    if (error.code === "rule_invalid" || error.status === 400) {
      state.serverErrors = error.errors.map((e) => ({ path: e.path || e.field || "$", message: e.message }));
    } else say(error.message, "error");
  }
  if (seq === state.validateSeq) decorate();
}

function updateToolbar() {
  const rule = state.rule;
  const name = state.current.definition.name;
  $("rule-title").textContent = name || rule?.name || "New rule";
  const parts = [];
  if (rule) {
    parts.push(rule.status, `v${rule.version}`);
    if (rule.active_version) parts.push(`active v${rule.active_version}`);
  } else parts.push("not saved yet");
  if (rule && dirty()) parts.push("unsaved changes");
  const status = $("rule-status");
  status.textContent = parts.join(" · ");
  status.dataset.status = rule?.status || "new";
  $("publish").disabled = !rule || !cfg.canPublish;
  $("archive").disabled = !rule || rule.status === "archived";
  $("undo").disabled = !history.canUndo();
  $("redo").disabled = !history.canRedo();
}

// ------------------------------------------------------------------ loading rules

function show(definition, { undoable }) {
  state.loading = true;
  try {
    selection.clean();
    showRule(graph, definition, { currency: cfg.currency, actions: state.catalog.actions, undoable });
  } finally {
    state.loading = false;
  }
  state.drawn.clear();
  refresh();
}

async function loadRule(id) {
  const rule = await api.get(`rules/${id}`);
  state.rule = rule;
  state.savedCanonical = canonical(rule.definition);
  show(rule.definition, { undoable: false });
  await Promise.all([loadExplanation(), loadVersions()]);
  await loadPanels();
  await publisher?.reviewIfWaitingForMe();
}

/** The panels that depend on the saved rule: scenarios, publish requests, results. */
async function loadPanels() {
  await Promise.all([scenarios?.load(), publisher?.loadRequests(), results?.load()]);
}

async function loadExplanation() {
  const box = $("explanation");
  if (!state.rule) {
    box.textContent = "Save the rule to see it explained in plain English.";
    return;
  }
  try {
    const data = await api.get(`rules/${state.rule.id}/explain?version=${state.rule.version}`);
    box.replaceChildren(el("strong", { text: `In words (v${data.version ?? state.rule.version}): ` }), data.text);
  } catch (error) {
    box.textContent = `No explanation: ${error.message}`;
  }
}

// ------------------------------------------------------------------ lifecycle

function afterSave(rule, message) {
  state.rule = rule;
  state.savedCanonical = canonical(rule.definition);
  window.history.replaceState(null, "", `${cfg.editorBase}${rule.id}`);
  say(message, "ok");
  updateToolbar();
  return Promise.all([loadExplanation(), loadVersions().then(loadPanels)]);
}

async function save() {
  refresh();
  if (state.current.problems.length) {
    say("Fix the problems marked on the canvas before saving.", "error", () => state.current.problems.length > 0);
    return;
  }
  const definition = state.current.definition;
  say("");
  try {
    const rule = state.rule
      ? await api.put(`rules/${state.rule.id}`, definition)
      : await api.post("rules", definition);
    // A save runs the rule's scenarios against the new version (their results come back).
    const outcome = scenarios?.showResults(rule.scenarios) || "";
    await afterSave(rule, `Saved as draft version ${rule.version}.${outcome}`);
    if (rule.scenarios?.failed) say(`Saved as draft version ${rule.version}.${outcome} Publishing waits until they pass.`, "error");
  } catch (error) {
    sayError(error);
  }
}

/** Publishing an older version (a rollback) from the versions list. With two-person
 * publishing on, this makes a request as the toolbar's button does. */
async function publish(version) {
  if (!state.rule) return;
  try {
    const data = await api.post(`rules/${state.rule.id}/publish`, { version });
    if (data?.publish_request) {
      say(`Asked for approval: v${data.publish_request.version} goes live once a second person approves it.`, "ok");
      await publisher?.loadRequests();
      return;
    }
    await afterSave(data, `Version ${data.active_version} is now live.`);
  } catch (error) {
    sayError(error);
  }
}

async function archive() {
  if (!state.rule) return;
  try {
    const rule = await api.post(`rules/${state.rule.id}/archive`);
    await afterSave(rule, "Archived: the rule no longer runs.");
  } catch (error) {
    sayError(error);
  }
}

async function loadVersions() {
  const box = $("versions");
  box.replaceChildren();
  $("diff").replaceChildren();
  if (!state.rule) {
    box.append(el("p", { class: "hint", text: "Versions appear once the rule is saved." }));
    return;
  }
  try {
    state.versions = items(await api.get(`rules/${state.rule.id}/versions`));
  } catch (error) {
    box.append(el("p", { class: "hint", text: `Versions unavailable: ${error.message}` }));
    return;
  }
  const table = el("table", { class: "versions" }, el("tr", {}, ["A", "B", "Version", "Saved", ""].map((h) => el("th", { text: h }))));
  state.versions.forEach((v, i) => {
    table.append(
      el(
        "tr",
        { "data-version": String(v.version) },
        el("td", {}, el("input", { type: "radio", name: "diff-a", value: String(v.version), checked: i === 1, "aria-label": `Compare from v${v.version}` })),
        el("td", {}, el("input", { type: "radio", name: "diff-b", value: String(v.version), checked: i === 0, "aria-label": `Compare to v${v.version}` })),
        el("td", { text: `v${v.version}${v.active ? " (active)" : ""}` }),
        el("td", { text: `${String(v.created_at ?? "").slice(0, 16).replace("T", " ")} ${v.created_by ?? ""}` }),
        el(
          "td",
          {},
          el("button", { type: "button", class: "small", text: "Load", onclick: () => { show(v.definition, { undoable: true }); say(`Loaded v${v.version} onto the canvas; saving makes it a new version.`); } }),
          cfg.canPublish && !v.active
            ? el("button", { type: "button", class: "small", text: cfg.requiresApproval ? "Request publish" : "Publish", onclick: () => publish(v.version) })
            : null,
        ),
      ),
    );
  });
  box.append(table);
}

function compareVersions() {
  const pick = (name) => Number(document.querySelector(`input[name="${name}"]:checked`)?.value);
  const a = state.versions.find((v) => v.version === pick("diff-a"));
  const b = state.versions.find((v) => v.version === pick("diff-b"));
  const pre = $("diff");
  pre.replaceChildren();
  if (!a || !b) {
    pre.textContent = "Pick two versions (A and B).";
    return;
  }
  pre.append(el("div", { class: "diff-head", text: `v${a.version} → v${b.version}` }));
  for (const { op, line } of lineDiff(canonical(a.definition, 2), canonical(b.definition, 2))) {
    pre.append(el("div", { class: op === "+" ? "diff-add" : op === "-" ? "diff-del" : "diff-same", text: `${op} ${line}` }));
  }
}

// ------------------------------------------------------------------ try it

const SAMPLE = { string: "sample", number: 100, integer: 1, boolean: true, list: [] };

/** A sample event for the trigger: catalog fields with sample values, then the values the
 * canvas's "equals"/"in" conditions ask for, so the first run has a chance to match. */
function sampleEvent() {
  const trigger = state.current.definition.trigger || "";
  const event = { type: trigger, user: "sample-user", occurred_at: new Date().toISOString(), attributes: {}, data: {} };
  const put = (path, value) => {
    const [root, ...rest] = path.split(".");
    const key = rest.join(".");
    if (root === "event" && !["type", "occurred_at"].includes(key)) event.data[key] = value;
    if (root === "referred" && !["id", "joined_at", "referrals_count"].includes(key)) event.attributes[key] = value;
  };
  for (const [path, type] of Object.entries(fieldsFor(state.catalog, trigger))) {
    if (path.startsWith("event.")) put(path, type === "datetime" ? event.occurred_at : SAMPLE[type] ?? "sample");
  }
  for (const node of state.snap.nodes) {
    const cond = node.data?.cond;
    if (!cond || typeof cond.field !== "string") continue;
    if (cond.operator === "equals") put(cond.field, cond.value);
    if (cond.operator === "in" && Array.isArray(cond.value) && cond.value.length) put(cond.field, cond.value[0]);
  }
  return event;
}

let recentLoaded = false;
async function loadRecentEvents() {
  if (recentLoaded) return;
  recentLoaded = true;
  const trigger = state.current.definition.trigger;
  const select = $("recent-events");
  try {
    const query = trigger ? `&type=${encodeURIComponent(trigger)}` : "";
    for (const event of items(await api.get(`events?limit=20${query}`))) {
      const option = el("option", { value: String(event.id), text: `${event.type} · ${event.user} · ${String(event.occurred_at).slice(0, 16)} · ${event.id}` });
      option.eventBody = { id: event.id, type: event.type, user: event.user, occurred_at: event.occurred_at, attributes: event.attributes || {}, data: event.data || {} };
      select.append(option);
    }
  } catch (error) {
    select.append(el("option", { disabled: true, text: `(recent events unavailable: ${error.message})` }));
  }
}

/** Tests what the canvas shows, saved or not (POST rules/test with the definition). */
async function runTest() {
  const box = $("test-result");
  box.replaceChildren();
  refresh();
  if (state.current.problems.length) return say("Fix the problems marked on the canvas first.", "error", () => state.current.problems.length > 0);
  say("");
  let event;
  try {
    event = JSON.parse($("sample-event").value);
  } catch (error) {
    return say(`The sample event is not valid JSON: ${error.message}`, "error");
  }
  let response;
  try {
    response = await api.post("rules/test", { definition: state.current.definition, event });
  } catch (error) {
    return sayError(error);
  }
  refresh();
  state.trace = traceResults(state.snap, state.current.paths, response);
  decorate();
  say(response.matched ? "The rule matched this event." : "The rule did not match this event.", response.matched ? "ok" : "info");
  box.append(el("p", { class: response.matched ? "ok" : "no", id: "test-verdict", text: response.matched ? "Matched: this event would pay." : "Not matched: this event would not pay." }));
  for (const warning of response.warnings || []) box.append(el("p", { class: "warning", text: warning }));
  const trace = el("table", { class: "trace" }, el("tr", {}, ["Field", "Operator", "Expected", "Actual", "Result"].map((h) => el("th", { text: h }))));
  for (const step of response.trace || []) {
    trace.append(
      el(
        "tr",
        { class: step.result === true ? "ok" : step.result === false ? "no" : "none" },
        [step.field, step.operator, JSON.stringify(step.expected), step.actual == null ? "missing" : JSON.stringify(step.actual), step.result === true ? "true" : step.result === false ? "false" : "not evaluated"].map(
          (t) => el("td", { text: String(t) }),
        ),
      ),
    );
  }
  box.append(trace);
  const actions = response.actions || [];
  if (actions.length) {
    box.append(el("h4", { text: "Would do" }));
    const list = el("ul");
    for (const a of actions) {
      const who = `${a.beneficiary}${a.beneficiary_id ? ` (${a.beneficiary_id})` : ""}`;
      const what = a.operation ? `${a.operation}${a.amount ? ` × ${a.amount}` : ""}` : `${money(a.amount, a.currency || cfg.currency)} ${a.reward_type || ""}`;
      list.append(el("li", { text: a.skipped ? `${a.type} → ${who}: skipped (${a.skipped})` : `${a.type} → ${who}: ${what}` }));
    }
    box.append(list);
  }
  scenarios?.tested(event, response);
}

function localInput(date) {
  return date.toISOString().slice(0, 16);
}

async function simulate() {
  refresh();
  const box = $("simulate-result");
  box.replaceChildren();
  if (state.current.problems.length) return say("Fix the problems marked on the canvas first.", "error", () => state.current.problems.length > 0);
  const toIso = (v) => (v.length === 16 ? `${v}:00Z` : `${v}Z`);
  try {
    const r = await api.post("rules/simulate", {
      definition: state.current.definition,
      from: toIso($("sim-from").value),
      to: toIso($("sim-to").value),
    });
    const amount = money(r.rewards?.amount ?? 0, cfg.currency);
    box.append(
      el("p", { text: `Scanned ${r.events_scanned} events; ${r.matched} matched.` }),
      el("p", { class: "ok", text: `Would have paid ${r.rewards?.count ?? 0} rewards totalling ${amount}.` }),
    );
  } catch (error) {
    sayError(error);
  }
}

// ------------------------------------------------------------------ words, import, export

async function draftFromText() {
  const text = $("words").value.trim();
  const box = $("draft-result");
  box.replaceChildren();
  if (!text) return say("Describe the rule first.", "error");
  try {
    const draft = await api.post("rules/draft-from-text", { text });
    show(draft.definition, { undoable: true });
    box.append(el("p", { text: `Drafted by the ${draft.source === "llm" ? "language model" : "offline parser"}. Review it, then save; it is never published automatically.` }));
    const warnings = draft.warnings || [];
    if (warnings.length) box.append(el("ul", { class: "warnings" }, warnings.map((w) => el("li", { class: "warning", text: String(w) }))));
    say("Draft laid out on the canvas for review (Undo brings back the previous canvas).", "ok");
  } catch (error) {
    sayError(error);
  }
}

function readDefinition(text) {
  const value = JSON.parse(text);
  if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && "definition" in value) {
    return value.definition;
  }
  return value;
}

function applyJson() {
  try {
    show(readDefinition($("json").value), { undoable: true });
    say("JSON applied to the canvas.", "ok");
  } catch (error) {
    say(`That is not valid JSON: ${error.message}`, "error", () => {
      try {
        JSON.parse($("json").value);
        return false;
      } catch {
        return true;
      }
    });
  }
}

async function importFile(event) {
  const file = event.target.files?.[0];
  event.target.value = "";
  if (!file) return;
  try {
    show(readDefinition(await file.text()), { undoable: true });
    say(`Imported ${file.name}. Review it, then save.`, "ok");
  } catch (error) {
    say(`Could not import ${file.name}: ${error.message}`, "error");
  }
}

function exportFile() {
  refresh();
  const name = String(state.current.definition.name || "rule").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  const blob = new Blob([`${JSON.stringify(state.current.definition, null, 2)}\n`], { type: "application/json" });
  const link = el("a", { href: URL.createObjectURL(blob), download: `${name || "rule"}.json` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// ------------------------------------------------------------------ wiring

function undo() {
  if (history.canUndo()) history.undo();
}
function redo() {
  if (history.canRedo()) history.redo();
}

/** A palette item creates its node on a drag (mouse) or on Enter/Space (keyboard). */
function bindPaletteItem(item) {
  item.setAttribute("tabindex", "0");
  item.setAttribute("role", "button");
  const create = () => {
    const data = newNodeData(item.dataset.kind, item.dataset.variant, { actions: state.catalog.actions });
    return graph.createNode(nodeConfig(data, {}, cfg.currency, state.catalog.actions));
  };
  item.addEventListener("mousedown", (e) => {
    if (e.button === 0) dnd.start(create(), e);
  });
  item.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" && e.key !== " ") return;
    e.preventDefault();
    const centre = graph.getGraphArea().center;
    const node = create();
    node.setPosition(centre.x - node.getSize().width / 2, centre.y - node.getSize().height / 2);
    graph.addNode(node);
  });
}

/** One palette item per action the server offers (the catalog's `actions`), after the rest. */
function addActionPalette() {
  const hint = document.querySelector(".palette > p.hint");
  for (const action of state.catalog.actions || []) {
    const item = el("div", { class: "palette-item kind-action", "data-kind": "action", "data-variant": action.type, text: action.label });
    hint.before(item);
    bindPaletteItem(item);
  }
}

function bind() {
  const IGNORED = new Set(["attrs", "tools", "zIndex", "markup", "ports", "size", "visible"]);
  graph.on("cell:added", scheduleRefresh);
  graph.on("cell:removed", scheduleRefresh);
  graph.on("cell:change:*", ({ key }) => {
    if (!IGNORED.has(key)) scheduleRefresh();
  });
  graph.on("node:added", ({ node }) => {
    if (!state.loading && !history.freezed) selection.reset(node);
  });
  graph.on("selection:changed", () => decorate());
  history.on("change", updateToolbar);

  keyboard.bindKey(["delete", "backspace"], () => {
    const cells = selection.getSelectedCells();
    if (cells.length) graph.batchUpdate("delete", () => graph.removeCells(cells));
    return false;
  });
  keyboard.bindKey(["ctrl+z", "meta+z"], () => {
    undo();
    return false;
  });
  keyboard.bindKey(["ctrl+shift+z", "meta+shift+z", "ctrl+y"], () => {
    redo();
    return false;
  });

  for (const item of document.querySelectorAll(".palette-item")) bindPaletteItem(item);

  $("save").addEventListener("click", save);
  $("publish").addEventListener("click", () => publisher?.review());
  $("archive").addEventListener("click", archive);
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("zoom-in").addEventListener("click", () => graph.zoom(0.1));
  $("zoom-out").addEventListener("click", () => graph.zoom(-0.1));
  $("fit").addEventListener("click", () => graph.zoomToFit({ padding: 40, maxScale: 1 }));
  $("layout").addEventListener("click", () => layoutCanvas(graph));
  $("import-file").addEventListener("change", importFile);
  $("export").addEventListener("click", exportFile);
  $("apply-json").addEventListener("click", applyJson);
  $("json").addEventListener("input", clearStaleMessage);
  $("run-test").addEventListener("click", runTest);
  $("clear-test").addEventListener("click", () => {
    state.trace = null;
    decorate();
  });
  $("simulate").addEventListener("click", simulate);
  $("draft").addEventListener("click", draftFromText);
  $("compare").addEventListener("click", compareVersions);
  $("test-section").addEventListener("toggle", (e) => {
    if (!e.target.open) return;
    if (!$("sample-event").value.trim()) $("sample-event").value = JSON.stringify(sampleEvent(), null, 2);
    loadRecentEvents();
  });
  $("recent-events").addEventListener("change", (e) => {
    const option = e.target.selectedOptions[0];
    $("sample-event").value = JSON.stringify(option?.eventBody || sampleEvent(), null, 2);
  });
  // The inputs hold whole minutes: end at the next one so events from just now are included.
  const next = new Date(Math.ceil(Date.now() / 60000) * 60000 + 60000);
  $("sim-to").value = localInput(next);
  $("sim-from").value = localInput(new Date(next.getTime() - 30 * 86400000));
}

async function start() {
  bind();
  // On a phone the JSON box would push everything else down: it starts closed there.
  if (window.matchMedia("(max-width: 760px)").matches) $("json-section").open = false;
  scenarios = createScenarios(ctx);
  publisher = createPublish(ctx);
  results = createResults(ctx);
  try {
    state.catalog = await api.get("rules/catalog");
    setCatalog(state.catalog);
    addActionPalette();
  } catch (error) {
    say(`The field catalog could not be loaded: ${error.message}`, "error");
  }
  try {
    if (cfg.ruleId) await loadRule(cfg.ruleId);
    else {
      refresh();
      await Promise.all([loadExplanation(), loadVersions(), loadPanels()]);
      say("Drag a trigger onto the canvas to begin, or describe the rule in words.");
    }
  } catch (error) {
    sayError(error);
  }
  document.body.dataset.ready = "true";
}

// For debugging in the browser console and for the browser tests.
window.ruleBuilder = { graph, selection, history, state, refresh, definition: () => state.current.definition, ctx };
start();
