// What changes if the canvas goes live: a node-level diff between two rule definitions (the
// active version's and the canvas's), with no DOM and no X6, so it runs under `node --test`.
//
// Conditions are compared as trees: inside a group, children with the same content are paired
// first (in order, a longest common subsequence), so inserting a condition marks only that one
// as added; what is left between two paired children is paired by position and marked changed
// (a group whose operator changed is "changed" and its children are compared in turn). Actions
// are compared the same way, by index. Top-level settings (name, priority, schedule, limits...)
// are compared key by key and shown on the trigger node ("$").
//
// statusByPath holds the canvas's (after) JSON paths ("$.conditions.conditions[0]",
// "$.actions[1]", "$" for the trigger) of added and changed nodes. A removed node is not on the
// canvas: the node it hung from (its group, or the trigger) is marked "changed" instead, and the
// removal is listed in words with its path in the active version (`path`) and that parent's
// canvas path (`parent`).
import { canonical, describeAction, isGroup, NO_VALUE_OPERATORS } from "./convert.js";
import { formatMoney } from "./units.js";

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

const OPERATOR_WORDS = {
  equals: "is",
  not_equals: "is not",
  greater_than: "is over",
  greater_than_or_equal: "is at least",
  less_than: "is under",
  less_than_or_equal: "is at most",
  in: "is one of",
  not_in: "is none of",
  contains: "contains",
  not_contains: "does not contain",
  starts_with: "starts with",
  ends_with: "ends with",
  between: "is between",
  exists: "is set",
  not_exists: "is not set",
  within_last_days: "is within the last",
};

const GROUP_WORDS = { AND: "all of", OR: "any of", NOT: "not" };

const SETTING_WORDS = {
  name: "Name",
  trigger: "Trigger",
  priority: "Priority",
  stop_processing: "Stop other rules after this one",
  description: "Description",
  active_from: "Active from",
  active_until: "Active until",
  limits: "Limits",
  enabled: "Enabled",
};

/** A value as a person reads it; money fields (catalog `money` paths) in major units. */
function valueWords(value, { money, currency }) {
  const one = (v) => {
    if (money && Number.isInteger(v)) return formatMoney(v, currency);
    if (typeof v === "string") return `"${v}"`;
    if (v === true) return "yes";
    if (v === false) return "no";
    return JSON.stringify(v);
  };
  if (Array.isArray(value)) return value.map(one).join(", ");
  return one(value);
}

/** "referrer.is_paid_user is yes", "event.amount is over 5,000.00 INR"-like words. */
export function describeCondition(cond, { currency = "", moneyPaths = [] } = {}) {
  if (!isObject(cond)) return JSON.stringify(cond);
  if (isGroup(cond)) {
    const inner = cond.conditions.map((c) => describeCondition(c, { currency, moneyPaths }));
    const words = GROUP_WORDS[cond.operator] || GROUP_WORDS.AND;
    return `${words} (${inner.join("; ")})`;
  }
  const op = OPERATOR_WORDS[cond.operator] || String(cond.operator ?? "?");
  const field = String(cond.field ?? "?");
  if (NO_VALUE_OPERATORS.includes(cond.operator)) return `${field} ${op}`;
  const ctx = { money: moneyPaths.includes(field), currency };
  if (cond.operator === "between" && Array.isArray(cond.value) && cond.value.length === 2) {
    return `${field} ${op} ${valueWords(cond.value[0], ctx)} and ${valueWords(cond.value[1], ctx)}`;
  }
  if (cond.operator === "within_last_days") return `${field} ${op} ${cond.value} days`;
  return `${field} ${op} ${valueWords(cond.value, ctx)}`;
}

function actionWords(action, currency, actionTypes) {
  const { title, lines } = describeAction(action, currency, actionTypes);
  return [title, ...lines.filter(Boolean)].join(", ");
}

function settingWords(value) {
  if (value === undefined) return "(not set)";
  if (value === true) return "yes";
  if (value === false) return "no";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** "$.conditions.conditions[2]" -> "$.conditions"; "$.conditions" -> "$". */
function parentOf(path) {
  const m = /^(.*)\.conditions\[\d+\]$/.exec(path);
  return m ? m[1] : "$";
}

/** Pairs two lists: [[i, j]] of equal items (longest common subsequence, by canonical JSON). */
function commonPairs(a, b) {
  const ka = a.map((x) => canonical(x));
  const kb = b.map((x) => canonical(x));
  const n = a.length;
  const m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = ka[i] === kb[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const pairs = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (ka[i] === kb[j]) {
      pairs.push([i, j]);
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) i++;
    else j++;
  }
  return pairs;
}

/**
 * Aligns two lists: [{before, after, i, j}] where equal items are paired, items between two
 * pairs are paired by position (before and after both set: changed), and the rest stand alone
 * (only after: added; only before: removed).
 */
export function align(a, b) {
  const out = [];
  let i = 0;
  let j = 0;
  const gap = (iEnd, jEnd) => {
    while (i < iEnd && j < jEnd) out.push({ i, j, before: a[i++], after: b[j++], same: false });
    while (i < iEnd) out.push({ i, j: null, before: a[i++], after: undefined, same: false });
    while (j < jEnd) out.push({ i: null, j, before: undefined, after: b[j++], same: false });
  };
  for (const [pi, pj] of commonPairs(a, b)) {
    gap(pi, pj);
    out.push({ i, j, before: a[i++], after: b[j++], same: true });
  }
  gap(a.length, b.length);
  return out;
}

/**
 * The difference between `before` (the active version's definition, or null when nothing is
 * live) and `after` (the canvas): {statusByPath: {path: "added"|"removed"|"changed"},
 * changes: [{status, path, kind, text}], same: boolean}.
 */
export function definitionDiff(before, after, { currency = "", moneyPaths = [], actionTypes = [] } = {}) {
  const statusByPath = {};
  const changes = [];
  const cond = (c) => describeCondition(c, { currency, moneyPaths });
  const mark = (status, path, kind, text, parent) => {
    if (status === "removed") {
      if (!statusByPath[parent]) statusByPath[parent] = "changed";
      changes.push({ status, path, parent, kind, text });
      return;
    }
    statusByPath[path] = status;
    changes.push({ status, path, kind, text });
  };
  // A whole subtree added or removed: every node in it, the words once for its top.
  const markTree = (status, node, path, parent) => {
    const verb = status === "added" ? "Added" : "Removed";
    const text = isGroup(node) ? `${verb} group: ${cond(node)}` : `${verb} condition: ${cond(node)}`;
    mark(status, path, isGroup(node) ? "group" : "condition", text, parent);
    if (status !== "added") return;
    const below = (n, p) => {
      if (!isGroup(n)) return;
      n.conditions.forEach((kid, k) => {
        statusByPath[`${p}.conditions[${k}]`] = "added";
        below(kid, `${p}.conditions[${k}]`);
      });
    };
    below(node, path);
  };
  const compare = (a, b, pathA, pathB) => {
    if (canonical(a) === canonical(b)) return;
    if (isGroup(a) && isGroup(b)) {
      const { conditions: ka, ...restA } = a;
      const { conditions: kb, ...restB } = b;
      if (canonical(restA) !== canonical(restB)) {
        const words = (g) => `${g.operator || "AND"} (${GROUP_WORDS[g.operator] || GROUP_WORDS.AND})`;
        mark("changed", pathB, "group", `Changed group: ${words(a)} → ${words(b)}`);
      }
      for (const pair of align(ka, kb)) {
        if (pair.same) continue;
        const pa = pair.i === null ? null : `${pathA}.conditions[${pair.i}]`;
        const pb = pair.j === null ? null : `${pathB}.conditions[${pair.j}]`;
        if (pair.after === undefined) markTree("removed", pair.before, pa, pathB);
        else if (pair.before === undefined) markTree("added", pair.after, pb);
        else compare(pair.before, pair.after, pa, pb);
      }
      return;
    }
    if (isGroup(a) !== isGroup(b)) {
      markTree("removed", a, pathA, parentOf(pathB));
      markTree("added", b, pathB);
      return;
    }
    mark("changed", pathB, "condition", `Changed condition: ${cond(a)} → ${cond(b)}`);
  };

  const was = isObject(before) ? before : {};
  const now = isObject(after) ? after : {};
  if (!isObject(before)) {
    // Nothing is live: everything on the canvas is new.
    mark("added", "$", "rule", `New rule on the trigger ${now.trigger ?? "(none)"}`);
    if (now.conditions !== undefined) markTree("added", now.conditions, "$.conditions");
    (now.actions || []).forEach((a, k) => mark("added", `$.actions[${k}]`, "action", `Added action: ${actionWords(a, currency, actionTypes)}`));
    return { statusByPath, changes, same: false };
  }

  // Top-level settings, shown on the trigger node.
  const keys = [...new Set([...Object.keys(was), ...Object.keys(now)])].filter((k) => k !== "conditions" && k !== "actions");
  const settingChanges = [];
  for (const key of keys) {
    if (canonical(was[key]) === canonical(now[key])) continue;
    const label = SETTING_WORDS[key] || key;
    settingChanges.push({ status: "changed", path: "$", kind: "setting", text: `${label}: ${settingWords(was[key])} → ${settingWords(now[key])}` });
  }
  if (settingChanges.length) {
    statusByPath.$ = "changed";
    changes.push(...settingChanges);
  }

  if (was.conditions === undefined && now.conditions !== undefined) markTree("added", now.conditions, "$.conditions");
  else if (was.conditions !== undefined && now.conditions === undefined) markTree("removed", was.conditions, "$.conditions", "$");
  else if (was.conditions !== undefined) compare(was.conditions, now.conditions, "$.conditions", "$.conditions");

  for (const pair of align(Array.isArray(was.actions) ? was.actions : [], Array.isArray(now.actions) ? now.actions : [])) {
    if (pair.same) continue;
    if (pair.after === undefined) mark("removed", `$.actions[${pair.i}]`, "action", `Removed action: ${actionWords(pair.before, currency, actionTypes)}`, "$");
    else if (pair.before === undefined) mark("added", `$.actions[${pair.j}]`, "action", `Added action: ${actionWords(pair.after, currency, actionTypes)}`);
    else mark("changed", `$.actions[${pair.j}]`, "action", `Changed action: ${actionWords(pair.before, currency, actionTypes)} → ${actionWords(pair.after, currency, actionTypes)}`);
  }
  return { statusByPath, changes, same: changes.length === 0 };
}
