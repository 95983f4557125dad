// Pure helpers of the authoring panels (static/builder/scenarios.js, results.js), run by
// test_diff_js.py with `node --test`.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

const dir = mkdtempSync(join(tmpdir(), "builder-authoring-"));
cpSync(new URL("../../static/builder/", import.meta.url), dir, { recursive: true });
writeFileSync(join(dir, "package.json"), '{"type": "module"}');
const S = await import(pathToFileURL(join(dir, "scenarios.js")).href);
const R = await import(pathToFileURL(join(dir, "results.js")).href);

test("money reads in major units with the currency", () => {
  assert.equal(S.money(150000, "INR"), "₹ 1,500.00");
  assert.equal(S.money(0, "INR"), "₹ 0.00");
  assert.equal(S.money(500, "JPY"), "¥ 500");
});

test("a scenario's expectation in words", () => {
  assert.equal(S.expectWords({ matched: false }, "INR"), "should not match (no reward)");
  assert.equal(S.expectWords({ matched: true }, "INR"), "should match");
  assert.equal(S.expectWords({ matched: true, rewards: [] }, "INR"), "should match, with no reward");
  assert.equal(
    S.expectWords({ matched: true, rewards: [{ beneficiary: "referrer", amount: 50000 }, { beneficiary: "referred", amount: 10000, currency: "INR" }] }, "INR"),
    "should match and pay ₹ 500.00 to the referrer and ₹ 100.00 to the referred",
  );
});

test("the rewards a test run would book: not skipped ones, not credit operations", () => {
  const response = {
    actions: [
      { type: "credit_reward", beneficiary: "referrer", amount: 50000, currency: "INR" },
      { type: "credit_reward", beneficiary: "referred", amount: 100, skipped: "no referred user" },
      { type: "award_credits", beneficiary: "referrer", operation: "add", amount: 5 },
      { type: "percent_commission", beneficiary: "parent", amount: 0, currency: "INR" },
    ],
  };
  assert.deepEqual(S.rewardsOf(response, "INR"), [{ beneficiary: "referrer", amount: 50000, currency: "INR" }]);
  assert.deepEqual(S.rewardsOf({}, "INR"), []);
});

test("a rule's outcome on an event, in words", () => {
  const event = (entry) => ({ results: entry ? [{ rule: 9 }, entry] : [] });
  assert.deepEqual(R.outcomeOf(event({ rule: 3, outcome: "matched", rewards: [1, 2] }), 3), { key: "matched", text: "matched, 2 rewards" });
  assert.deepEqual(R.outcomeOf(event({ rule: 3, outcome: "not_matched" }), 3), { key: "not_matched", text: "did not match" });
  assert.equal(R.outcomeOf(event({ rule: 3, outcome: "suppressed", suppressed_by: 9 }), 3).text, "skipped: rule 9 stopped the others");
  assert.equal(R.outcomeOf(event({ rule: 3, outcome: "skipped", reason: "expired" }), 3).text, "not active then (expired)");
  assert.equal(R.outcomeOf(event({ rule: 3, outcome: "skipped", reason: "not_yet_active" }), 3).text, "not active then (not started yet)");
  // Entries stored before outcomes were recorded have only "matched".
  assert.equal(R.outcomeOf(event({ rule: 3, matched: false }), 3).key, "not_matched");
  assert.equal(R.outcomeOf(event(null), 3).key, "none");
  assert.equal(R.outcomeOf({ results: "garbage" }, 3).key, "none");
});
