// Canvas graph <-> SPEC §6 rule JSON, with no DOM and no X6, so it runs under `node --test`.
//
// A graph here is {nodes: [{id, data, x, y}], edges: [{source, target}]}. Node data keeps the
// rule's own objects (the leaf, the group minus its children, the action, the rule's top-level
// keys), so loading a rule and saving it unchanged gives the same JSON, unknown keys included.
// Children are ordered by vertical position (then horizontal), so what the author sees top to
// bottom is the order in the JSON; auto-layout lays a loaded rule out in its stored order.

//
// The actions a rule may take, with their params, come from the server (GET rules/catalog's
// `actions`, one entry per module of rules/actions/): nothing here names an action.

import { bpsToPercentText, exponentOf, formatMoney, isMoneyField, minorToMajorText, parseMoney } from "./units.js";

export const GROUP_OPERATORS = ["AND", "OR", "NOT"];
export const NO_VALUE_OPERATORS = ["exists", "not_exists"];
export const LIST_OPERATORS = ["in", "not_in"];

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

/** JSON with sorted keys: compares definitions whatever order a database kept the keys in. */
export function canonical(value, indent) {
  const sort = (v) => {
    if (Array.isArray(v)) return v.map(sort);
    if (isObject(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])]));
    return v;
  };
  return JSON.stringify(sort(value), null, indent);
}

export function isGroup(value) {
  return isObject(value) && Array.isArray(value.conditions);
}

// Operators that fit a catalog field type. The server's validation has the last word; an
// operator a loaded rule already uses is always offered too (see operatorsFor's callers).
const OPERATORS_BY_TYPE = {
  string: ["equals", "not_equals", "in", "not_in", "contains", "not_contains", "starts_with",
    "ends_with", "exists", "not_exists"],
  number: ["equals", "not_equals", "greater_than", "greater_than_or_equal", "less_than",
    "less_than_or_equal", "between", "in", "not_in", "exists", "not_exists"],
  boolean: ["equals", "not_equals", "exists", "not_exists"],
  datetime: ["greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal",
    "between", "within_last_days", "exists", "not_exists"],
  list: ["contains", "not_contains", "exists", "not_exists"],
};
OPERATORS_BY_TYPE.integer = OPERATORS_BY_TYPE.number;
export const ALL_OPERATORS = [
  "equals", "not_equals", "greater_than", "greater_than_or_equal", "less_than",
  "less_than_or_equal", "in", "not_in", "contains", "not_contains", "starts_with", "ends_with",
  "between", "exists", "not_exists", "within_last_days",
];

export function operatorsFor(type) {
  return OPERATORS_BY_TYPE[type] || ALL_OPERATORS;
}

// ---------------------------------------------------------------- rule JSON -> graph (a tree)

export function ruleToGraph(definition) {
  let seq = 0;
  const nodes = [];
  const edges = [];
  const add = (data) => {
    const node = { id: `n${++seq}`, data, children: [] };
    nodes.push(node);
    return node;
  };
  const link = (parent, child) => {
    parent.children.push(child.id);
    edges.push({ source: parent.id, target: child.id });
  };

  const def = isObject(definition) ? definition : {};
  // The rule's own keys, in their order; conditions and actions become nodes and are put back
  // in their places when saving (keys: the original order).
  const rule = {};
  const keys = Object.keys(def);
  let rawActions;
  for (const key of keys) {
    if (key === "conditions") continue;
    if (key === "actions") {
      if (!Array.isArray(def.actions)) rawActions = clone(def.actions);
      continue;
    }
    rule[key] = clone(def[key]);
  }
  const triggerData = { kind: "trigger", rule, keys };
  if (rawActions !== undefined) triggerData.rawActions = rawActions;
  const trigger = add(triggerData);

  const addCondition = (value) => {
    if (isGroup(value)) {
      const group = {};
      for (const [k, v] of Object.entries(value)) if (k !== "conditions") group[k] = clone(v);
      const node = add({ kind: "group", group });
      for (const child of value.conditions) link(node, addCondition(child));
      return node;
    }
    return add({ kind: "leaf", cond: clone(value) });
  };
  if ("conditions" in def) link(trigger, addCondition(def.conditions));
  if (Array.isArray(def.actions)) {
    for (const action of def.actions) link(trigger, add({ kind: "action", action: clone(action) }));
  }
  return { nodes, edges, rootId: trigger.id };
}

// ---------------------------------------------------------------- graph -> rule JSON

function childMap(graph) {
  const byId = new Map(graph.nodes.map((n, i) => [n.id, { ...n, index: i }]));
  const children = new Map();
  const parents = new Map();
  for (const edge of graph.edges) {
    if (!byId.has(edge.source) || !byId.has(edge.target)) continue;
    if (!children.has(edge.source)) children.set(edge.source, []);
    children.get(edge.source).push(byId.get(edge.target));
    parents.set(edge.target, (parents.get(edge.target) || 0) + 1);
  }
  const order = (a, b) => (a.y ?? 0) - (b.y ?? 0) || (a.x ?? 0) - (b.x ?? 0) || a.index - b.index;
  for (const list of children.values()) list.sort(order);
  return { byId, children, parents };
}

/** Children of every node in display order: {id: [child ids]} (for auto-layout). */
export function childrenOf(graph) {
  const { children } = childMap(graph);
  const out = {};
  for (const [id, list] of children) out[id] = list.map((n) => n.id);
  return out;
}

/**
 * Returns {definition, problems: [{id, message}], paths: {"$.conditions...": nodeId}}.
 * The definition is built even when there are problems, so the JSON panel always shows
 * something; problems block saving.
 */
export function graphToRule(graph) {
  const problems = [];
  const paths = {};
  const { byId, children, parents } = childMap(graph);
  const kind = (node) => node.data && node.data.kind;
  const triggers = graph.nodes.filter((n) => kind(n) === "trigger");
  if (triggers.length === 0) {
    problems.push({ id: null, message: "The rule needs a trigger: drag one onto the canvas." });
    return { definition: {}, problems, paths };
  }
  for (const extra of triggers.slice(1)) {
    problems.push({ id: extra.id, message: "A rule has exactly one trigger; remove this one." });
  }
  const trigger = triggers[0];
  const reached = new Set([trigger.id]);
  paths.$ = trigger.id;

  const condition = (node, path) => {
    reached.add(node.id);
    paths[path] = node.id;
    if ((parents.get(node.id) || 0) > 1) {
      problems.push({ id: node.id, message: "Connected to more than one parent." });
    }
    const kids = (children.get(node.id) || []).filter((k) => !reached.has(k.id));
    if (kind(node) === "group") {
      const group = clone(node.data.group) || {};
      if (kids.length === 0) {
        problems.push({ id: node.id, message: "This group has no conditions; connect some." });
      }
      if (group.operator === "NOT" && kids.length > 1) {
        problems.push({ id: node.id, message: "NOT takes exactly one condition." });
      }
      group.conditions = kids.map((kid, i) => condition(kid, `${path}.conditions[${i}]`));
      return group;
    }
    if (kind(node) === "leaf") {
      const cond = clone(node.data.cond);
      if (isObject(cond)) {
        if (!cond.field) problems.push({ id: node.id, message: "Choose a field." });
        if (!cond.operator) problems.push({ id: node.id, message: "Choose an operator." });
      }
      return cond;
    }
    problems.push({ id: node.id, message: "Only groups and conditions can go here." });
    return null;
  };

  const kids = children.get(trigger.id) || [];
  const roots = kids.filter((k) => kind(k) === "group" || kind(k) === "leaf");
  const actionNodes = kids.filter((k) => kind(k) === "action");
  for (const extra of roots.slice(1)) {
    problems.push({
      id: extra.id,
      message: "The trigger takes one condition; put several in an AND or OR group.",
    });
  }
  for (const other of kids.filter((k) => kind(k) === "trigger")) {
    problems.push({ id: other.id, message: "A trigger cannot follow a trigger." });
  }
  const conditions = roots.length ? condition(roots[0], "$.conditions") : undefined;
  if (!roots.length) {
    problems.push({ id: trigger.id, message: "Connect a condition group (AND, OR or NOT)." });
  }
  if (!actionNodes.length && trigger.data.rawActions === undefined) {
    problems.push({ id: trigger.id, message: "Connect at least one action." });
  }
  const actions = actionNodes.map((node, i) => {
    reached.add(node.id);
    paths[`$.actions[${i}]`] = node.id;
    if ((parents.get(node.id) || 0) > 1) {
      problems.push({ id: node.id, message: "Connected to more than one parent." });
    }
    return clone(node.data.action);
  });
  const extraRoots = new Set(roots.slice(1).map((n) => n.id));
  for (const node of graph.nodes) {
    if (reached.has(node.id) || extraRoots.has(node.id)) continue;
    if (kind(node) === "trigger") continue;
    problems.push({ id: node.id, message: "Not connected to the trigger." });
  }

  const data = trigger.data;
  const rule = clone(data.rule) || {};
  const definition = {};
  const keys = [...(data.keys || Object.keys(rule))];
  for (const key of [...Object.keys(rule), "conditions", "actions"]) {
    if (!keys.includes(key)) keys.push(key);
  }
  for (const key of keys) {
    if (key === "conditions") {
      if (conditions !== undefined) definition.conditions = conditions;
    } else if (key === "actions") {
      if (actions.length || data.rawActions === undefined) definition.actions = actions;
      else definition.actions = clone(data.rawActions);
    } else if (key in rule) {
      definition[key] = rule[key];
    }
  }
  return { definition, problems, paths };
}

/** The node a server error path ("$.conditions.conditions[0].value") belongs to. */
export function nodeForPath(paths, path) {
  let best = null;
  let bestLength = -1;
  for (const [prefix, id] of Object.entries(paths)) {
    const next = path.charAt(prefix.length);
    const fits = path === prefix || (path.startsWith(prefix) && (next === "." || next === "["));
    if (fits && prefix.length > bestLength) {
      best = id;
      bestLength = prefix.length;
    }
  }
  return best;
}

// ---------------------------------------------------------------- auto-layout

export const NODE_SIZE = {
  trigger: { width: 230, height: 96 },
  group: { width: 160, height: 96 },
  leaf: { width: 240, height: 96 },
  action: { width: 240, height: 96 },
};

/** Columns for a group's run of `n` childless children: one column up to 8, then a grid about as
 * wide as it is tall (a 150-leaf group: 9 columns of 17). */
export function gridColumns(n) {
  return n <= 8 ? 1 : Math.ceil(Math.sqrt(n / 2.3));
}

/**
 * A tidy tree layout, left to right: depth gives the column and every subtree owns a band of
 * rows, so no two nodes overlap; a parent sits at the middle of its children. More than 8
 * children that show none of their own (conditions, collapsed groups) make a grid, read row by
 * row, so a big rule stays about as wide as it is tall. A collapsed group (data.collapsed) takes one row and
 * its hidden nodes are stacked on it in their order. Nodes outside the tree go in a row below.
 * Children keep their order (top to bottom, then left to right): the order in the JSON.
 * Returns {id: {x, y}} (top-left corners).
 */
export function layoutTree(graph, { columnGap = 70, rowGap = 24, gridGap = 30 } = {}) {
  const kids = childrenOf(graph);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const size = (id) => NODE_SIZE[byId.get(id)?.data?.kind] || NODE_SIZE.leaf;
  const collapsed = (id) => {
    const data = byId.get(id)?.data;
    return data?.kind === "group" && Number.isInteger(data.collapsed);
  };
  const hasParent = new Set(graph.edges.map((e) => e.target));
  const roots = graph.nodes.filter((n) => n.data?.kind === "trigger" && !hasParent.has(n.id));
  const columnX = [];
  const positions = {};
  const seen = new Set();
  let nextY = 0;

  // A run of more than 8 children that show no children of their own (conditions, collapsed
  // groups) is laid out as a grid.
  const isGrid = (children) => children.length > 8 && children.every((c) => collapsed(c) || !(kids[c] || []).length);
  const depthWidths = (id, depth) => {
    if (seen.has(id)) return;
    seen.add(id);
    columnX[depth] = Math.max(columnX[depth] || 0, size(id).width);
    if (collapsed(id)) return;
    const children = kids[id] || [];
    if (isGrid(children)) {
      const cols = gridColumns(children.length);
      const width = Math.max(...children.map((c) => size(c).width));
      columnX[depth + 1] = Math.max(columnX[depth + 1] || 0, cols * width + (cols - 1) * gridGap);
      for (const child of children) seen.add(child);
      return;
    }
    for (const child of children) depthWidths(child, depth + 1);
  };
  for (const root of roots) depthWidths(root.id, 0);
  const xs = [0];
  for (let d = 1; d < columnX.length + 1; d++) xs[d] = xs[d - 1] + (columnX[d - 1] || 0) + columnGap;

  const placed = new Set();
  // Hidden nodes under a collapsed group: stacked on it 1px apart, in order.
  const stack = (id, at) => {
    for (const child of kids[id] || []) {
      if (placed.has(child)) continue;
      placed.add(child);
      at.y += 1;
      positions[child] = { x: at.x, y: at.y };
      stack(child, at);
    }
  };
  const place = (id, depth) => {
    placed.add(id);
    const { width, height } = size(id);
    const children = collapsed(id) ? [] : (kids[id] || []).filter((c) => !placed.has(c));
    let centre;
    if (children.length === 0) {
      centre = nextY + height / 2;
      nextY += height + rowGap;
    } else if (isGrid(children)) {
      const cols = gridColumns(children.length);
      const cell = Math.max(...children.map((c) => size(c).width)) + gridGap;
      const rowHeight = Math.max(...children.map((c) => size(c).height)) + rowGap;
      const top = nextY;
      children.forEach((child, i) => {
        placed.add(child);
        positions[child] = { x: Math.round(xs[depth + 1] + (i % cols) * cell), y: Math.round(top + Math.floor(i / cols) * rowHeight) };
        if (collapsed(child)) stack(child, { ...positions[child] });
      });
      const rows = Math.ceil(children.length / cols);
      nextY = top + rows * rowHeight;
      centre = top + (rows * rowHeight - rowGap) / 2;
      nextY = Math.max(nextY, centre + height / 2 + rowGap);
    } else {
      const centres = children.map((c) => place(c, depth + 1));
      centre = (centres[0] + centres[centres.length - 1]) / 2;
      nextY = Math.max(nextY, centre + height / 2 + rowGap);
    }
    const x = xs[depth] + (columnX[depth] - width) / 2;
    positions[id] = { x: Math.round(x), y: Math.round(centre - height / 2) };
    if (collapsed(id)) stack(id, { ...positions[id] });
    return centre;
  };
  for (const root of roots) place(root.id, 0);
  let x = 0;
  nextY += rowGap;
  for (const node of graph.nodes) {
    if (placed.has(node.id)) continue;
    positions[node.id] = { x, y: nextY };
    x += size(node.id).width + columnGap / 2;
  }
  return positions;
}

// ---------------------------------------------------------------- text shown on the canvas

export function formatValue(value) {
  if (value === undefined) return "";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(formatValue).join(", ")}]`;
  return JSON.stringify(value);
}

/**
 * A condition's value as the canvas shows it. With `currency` and a money field (units.js
 * isMoneyField), amounts read in major units with the currency: "₹ 5,000.00".
 */
export function describeValue(cond, { currency = "", trigger = "" } = {}) {
  if (!isObject(cond)) return formatValue(cond);
  if (NO_VALUE_OPERATORS.includes(cond.operator)) return "";
  const money = Boolean(currency) && cond.operator !== "within_last_days" && isMoneyField(cond.field, trigger || undefined);
  const show = (v) => (money && Number.isInteger(v) ? formatMoney(v, currency) : formatValue(v));
  if (cond.operator === "between" && Array.isArray(cond.value) && cond.value.length === 2) {
    return `${show(cond.value[0])} and ${show(cond.value[1])}`;
  }
  if (cond.operator === "within_last_days") return `${formatValue(cond.value)} days`;
  if (Array.isArray(cond.value)) return `[${cond.value.map(show).join(", ")}]`;
  return show(cond.value);
}

export function truncate(text, max = 30) {
  const s = String(text);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

// ---------------------------------------------------------------- money (minor units)

/** Digits after the point (the catalog's exponent, else ISO 4217): units.js. */
export function currencyExponent(currency) {
  return exponentOf(currency);
}

/** 50000, "INR" -> "500.00" (exact: integer arithmetic, no floats). */
export function minorToMajor(amount, currency) {
  if (amount === undefined || amount === null) return "";
  const text = minorToMajorText(amount, exponentOf(currency));
  return text === null ? String(amount) : text;
}

/** "500" or "500.5", "INR" -> 50050; null when the text is not an amount with that precision. */
export function majorToMinor(text, currency) {
  return parseMoney(text, currency);
}

/** A param's value as the canvas shows it, by its field's kind (null: unset, no text). */
function paramText(field, value, currency) {
  if (value === undefined || value === null) return field?.empty ?? null;
  if (field?.kind === "money") return Number.isInteger(value) ? formatMoney(value, currency) : formatValue(value);
  if (field?.kind === "basis_points") return Number.isInteger(value) ? `${bpsToPercentText(value)}%` : field.empty ?? formatValue(value);
  return String(value);
}

/**
 * The text an action node shows: its type, "to <beneficiary>", then the action's summary
 * lines (`actionTypes`: the catalog's `actions`), each "{param}" read as the param's field.
 * A line whose param is unset (and has no `empty` text) is left blank.
 */
export function describeAction(action, currency, actionTypes = []) {
  if (!isObject(action)) return { title: "action", lines: [formatValue(action)] };
  const p = isObject(action.params) ? action.params : {};
  const spec = actionTypes.find((a) => a.type === action.type);
  if (!spec) return { title: String(action.type ?? "action"), lines: [JSON.stringify(p)] };
  const fields = Object.fromEntries((spec.fields || []).map((f) => [f.name, f]));
  const cur = p.currency || currency;
  const lines = (spec.summary || []).map((template) => {
    let unset = false;
    const text = template.replace(/\{(\w+)\}/g, (_, name) => {
      const shown = paramText(fields[name], p[name], cur);
      if (shown === null) unset = true;
      return shown ?? "";
    });
    return unset ? "" : text;
  });
  return { title: spec.type.replaceAll("_", " "), lines: [`to ${p.beneficiary || "referrer"}`, ...lines] };
}

// ---------------------------------------------------------------- version diff

/** A line diff (longest common subsequence): [{op: " " | "+" | "-", line}]. */
export function lineDiff(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  const n = a.length;
  const m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ op: " ", line: a[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.push({ op: "-", line: a[i++] });
    } else {
      out.push({ op: "+", line: b[j++] });
    }
  }
  while (i < n) out.push({ op: "-", line: a[i++] });
  while (j < m) out.push({ op: "+", line: b[j++] });
  return out;
}

// ---------------------------------------------------------------- trace colouring

/**
 * Each node's result from a test run: "true" | "false" | "skipped" | "none" (not evaluated),
 * plus the actual value for leaves. Groups the trace leaves out get their result from their
 * children (AND/OR/NOT), so the whole tree is coloured.
 */
export function traceResults(graph, paths, response) {
  const out = {};
  const trace = Array.isArray(response?.trace) ? response.trace : [];
  for (const step of trace) {
    const id = typeof step.path === "string" ? paths[step.path] : undefined;
    if (!id) continue;
    // null: short-circuiting skipped the leaf, so it is "not evaluated", not false
    const result = step.result === true ? "true" : step.result === false ? "false" : "none";
    out[id] = { result, actual: step.actual, step };
  }
  const kids = childrenOf(graph);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const resolve = (id) => {
    if (out[id]) return out[id].result;
    const node = byId.get(id);
    if (node?.data?.kind !== "group") {
      out[id] = { result: "none" };
      return "none";
    }
    const results = (kids[id] || []).map(resolve);
    const op = node.data.group?.operator;
    let result = "none";
    if (op === "NOT" && results.length === 1 && results[0] !== "none") {
      result = results[0] === "true" ? "false" : "true";
    } else if (op === "AND") {
      if (results.includes("false")) result = "false";
      else if (results.length && results.every((r) => r === "true")) result = "true";
    } else if (op === "OR") {
      if (results.includes("true")) result = "true";
      else if (results.length && results.every((r) => r === "false")) result = "false";
    }
    out[id] = { result };
    return result;
  };
  for (const [path, id] of Object.entries(paths)) {
    if (path.startsWith("$.conditions")) resolve(id);
  }
  const matched = Boolean(response?.matched);
  if (paths.$) out[paths.$] = { result: matched ? "true" : "false" };
  const actions = Array.isArray(response?.actions) ? response.actions : [];
  for (const [path, id] of Object.entries(paths)) {
    const m = /^\$\.actions\[(\d+)\]$/.exec(path);
    if (!m) continue;
    const effect = actions.find((a) => a && a.index === Number(m[1])) ?? actions[Number(m[1])];
    if (!matched) out[id] = { result: "none" };
    else if (effect && effect.skipped) out[id] = { result: "skipped", actual: effect.skipped };
    else out[id] = { result: "true", effect };
  }
  return out;
}
