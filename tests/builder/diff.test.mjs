// The node-level diff between the active version and the canvas (static/builder/diff.js), run
// by test_diff_js.py with `node --test`.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

// The static files are browser ES modules importing each other, without a package.json "type"
// next to them: copy them into a temporary directory that says they are modules.
const dir = mkdtempSync(join(tmpdir(), "builder-diff-"));
cpSync(new URL("../../static/builder/", import.meta.url), dir, { recursive: true });
writeFileSync(join(dir, "package.json"), '{"type": "module"}');
const D = await import(pathToFileURL(join(dir, "diff.js")).href);

const leaf = (field, value, operator = "equals") => ({ field, operator, value });
const ACTIONS = JSON.parse(process.env.RULE_ACTIONS || "[]");

const LIVE = {
  name: "Premium referral",
  trigger: "subscription_started",
  priority: 10,
  conditions: {
    operator: "AND",
    conditions: [leaf("referrer.is_paid_user", true), leaf("referred.subscription_plan", "premium")],
  },
  actions: [
    { type: "credit_reward", params: { beneficiary: "referrer", amount: 50000, currency: "INR", reward_type: "voucher" } },
  ],
};
const copy = (v) => JSON.parse(JSON.stringify(v));

test("the same definition has no changes", () => {
  const diff = D.definitionDiff(LIVE, copy(LIVE));
  assert.deepEqual(diff.statusByPath, {});
  assert.deepEqual(diff.changes, []);
  assert.equal(diff.same, true);
});

test("key order does not count as a change", () => {
  const reordered = Object.fromEntries(Object.entries(copy(LIVE)).reverse());
  assert.equal(D.definitionDiff(LIVE, reordered).same, true);
});

test("an inserted condition is added, the ones after it are not changed", () => {
  const now = copy(LIVE);
  now.conditions.conditions.splice(1, 0, leaf("referred.country", "IN"));
  const diff = D.definitionDiff(LIVE, now);
  assert.deepEqual(diff.statusByPath, { "$.conditions.conditions[1]": "added" });
  assert.deepEqual(diff.changes.map((c) => c.text), ['Added condition: referred.country is "IN"']);
});

test("a changed value is a changed node, described before and after", () => {
  const now = copy(LIVE);
  now.conditions.conditions[1].value = "gold";
  const diff = D.definitionDiff(LIVE, now);
  assert.deepEqual(diff.statusByPath, { "$.conditions.conditions[1]": "changed" });
  assert.equal(diff.changes[0].text, 'Changed condition: referred.subscription_plan is "premium" → referred.subscription_plan is "gold"');
});

test("a removed condition marks its group changed and is listed with its old path", () => {
  const now = copy(LIVE);
  now.conditions.conditions.splice(0, 1);
  const diff = D.definitionDiff(LIVE, now);
  assert.deepEqual(diff.statusByPath, { "$.conditions": "changed" });
  assert.deepEqual(diff.changes, [
    { status: "removed", path: "$.conditions.conditions[0]", parent: "$.conditions", kind: "condition", text: "Removed condition: referrer.is_paid_user is yes" },
  ]);
});

test("a group's operator change is the group; its children compare on", () => {
  const now = copy(LIVE);
  now.conditions.operator = "OR";
  now.conditions.conditions.push({ operator: "NOT", conditions: [leaf("referred.country", "US")] });
  const diff = D.definitionDiff(LIVE, now);
  assert.deepEqual(diff.statusByPath, {
    "$.conditions": "changed",
    "$.conditions.conditions[2]": "added",
    "$.conditions.conditions[2].conditions[0]": "added",
  });
  assert.equal(diff.changes[0].text, "Changed group: AND (all of) → OR (any of)");
  assert.equal(diff.changes[1].text, 'Added group: not (referred.country is "US")');
});

test("settings show on the trigger, actions by index", () => {
  const now = copy(LIVE);
  now.priority = 20;
  now.active_from = "2026-01-01T00:00:00+00:00";
  now.actions[0].params.amount = 75000;
  now.actions.push({ type: "credit_reward", params: { beneficiary: "referred", amount: 10000, currency: "INR", reward_type: "cash" } });
  const diff = D.definitionDiff(LIVE, now, { currency: "INR", actionTypes: ACTIONS });
  assert.deepEqual(diff.statusByPath, { $: "changed", "$.actions[0]": "changed", "$.actions[1]": "added" });
  const texts = diff.changes.map((c) => c.text);
  assert.ok(texts.includes("Priority: 10 → 20"), texts);
  assert.ok(texts.includes("Active from: (not set) → 2026-01-01T00:00:00+00:00"), texts);
  const changed = texts.find((t) => t.startsWith("Changed action"));
  if (ACTIONS.length) assert.match(changed, /500\.00.*→.*750\.00/);
});

test("a removed action marks the trigger", () => {
  const now = copy(LIVE);
  now.actions = [];
  const diff = D.definitionDiff(LIVE, now);
  assert.deepEqual(diff.statusByPath, { $: "changed" });
  assert.equal(diff.changes[0].status, "removed");
  assert.equal(diff.changes[0].path, "$.actions[0]");
});

test("nothing live: everything is added", () => {
  const diff = D.definitionDiff(null, LIVE);
  assert.equal(diff.statusByPath.$, "added");
  assert.equal(diff.statusByPath["$.conditions"], "added");
  assert.equal(diff.statusByPath["$.conditions.conditions[1]"], "added");
  assert.equal(diff.statusByPath["$.actions[0]"], "added");
});

test("money conditions read in major units with the currency", () => {
  const text = D.describeCondition(
    { field: "event.amount", operator: "between", value: [100000, 1000000] },
    { currency: "INR", moneyPaths: ["event.amount"] },
  );
  assert.equal(text, "event.amount is between ₹ 1,000.00 and ₹ 10,000.00");
  assert.equal(D.describeCondition({ field: "event.amount", operator: "greater_than", value: 500 }, { currency: "INR" }), "event.amount is over 500");
});
