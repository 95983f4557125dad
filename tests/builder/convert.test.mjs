// Pure graph <-> rule JSON conversion (static/builder/convert.js), run by test_convert_js.py
// with `node --test`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

// The static files are browser ES modules without a package.json "type" next to them, so load
// the source as a module URL rather than by path.
// A module's own imports ("./units.js") are loaded the same way and substituted.
const asDataUrl = (name) => {
  let source = readFileSync(new URL(`../../static/builder/${name}`, import.meta.url), "utf8");
  source = source.replace(/from "\.\/([\w-]+\.js)"/g, (_, dep) => `from "${asDataUrl(dep)}"`);
  return `data:text/javascript;base64,${Buffer.from(source).toString("base64")}`;
};
const C = await import(asDataUrl("convert.js"));

const EXAMPLE = {
  name: "Premium referral reward",
  trigger: "subscription_started",
  priority: 10,
  stop_processing: false,
  conditions: {
    operator: "AND",
    conditions: [
      { field: "referrer.is_paid_user", operator: "equals", value: true },
      { field: "referred.subscription_plan", operator: "equals", value: "premium" },
    ],
  },
  actions: [
    {
      type: "credit_reward",
      params: { beneficiary: "referrer", amount: 50000, currency: "INR", reward_type: "voucher" },
    },
  ],
};

/** What the canvas holds after loading: the tree laid out, positions on every node. */
function load(definition) {
  const graph = C.ruleToGraph(definition);
  const positions = C.layoutTree(graph);
  return {
    nodes: graph.nodes.map((n) => ({ id: n.id, data: n.data, ...positions[n.id] })),
    edges: graph.edges,
  };
}

function roundTrip(definition) {
  return C.graphToRule(load(definition));
}

test("the SPEC example survives a round trip byte for byte", () => {
  const { definition, problems } = roundTrip(EXAMPLE);
  assert.deepEqual(problems, []);
  assert.equal(JSON.stringify(definition), JSON.stringify(EXAMPLE));
});

test("nested groups, every leaf shape, unknown keys and key order survive", () => {
  const rule = {
    trigger: "purchase",
    name: "Deep",
    conditions: {
      operator: "OR",
      conditions: [
        { operator: "NOT", conditions: [{ field: "event.country", operator: "in", value: ["US", "CA"] }] },
        {
          operator: "AND",
          note: "kept",
          conditions: [
            { field: "event.amount", operator: "between", value: [100, 5000] },
            { field: "referred.email", operator: "exists" },
            { field: "event.occurred_at", operator: "within_last_days", value: 7 },
            { operator: "OR", conditions: [{ field: "event.sku", operator: "starts_with", value: "PRO-" }] },
          ],
        },
      ],
    },
    actions: [
      { type: "percent_commission", params: { rate_bps: 500, of: "event.amount", cap: 10000 } },
      { type: "award_credits", params: { beneficiary: "referred", operation: "SIGNUP_CREDIT" } },
      { type: "credit_reward", params: { amount: 100, currency: "INR", reward_type: "cash" } },
    ],
    priority: 3,
  };
  const { definition, problems } = roundTrip(rule);
  assert.deepEqual(problems, []);
  assert.equal(JSON.stringify(definition), JSON.stringify(rule));
});

test("a rule without conditions, and odd values, round-trip unchanged", () => {
  for (const rule of [
    { name: "Always", trigger: "signup", actions: [] },
    { name: "Raw", trigger: "signup", conditions: { field: "event.x", operator: "equals", value: null }, actions: "oops" },
    { trigger: "signup", conditions: "not a condition", actions: [42] },
  ]) {
    assert.equal(JSON.stringify(roundTrip(rule).definition), JSON.stringify(rule));
  }
});

test("an empty group round-trips but is reported on its node", () => {
  const rule = { name: "E", trigger: "t", conditions: { operator: "AND", conditions: [] }, actions: [] };
  const { definition, problems, paths } = roundTrip(rule);
  assert.deepEqual(definition, rule);
  const messages = problems.map((p) => [p.id, p.message]);
  assert.deepEqual(messages, [
    [paths["$.conditions"], "This group has no conditions; connect some."],
    [paths.$, "Connect at least one action."],
  ]);
});

test("children follow vertical position", () => {
  const graph = load(EXAMPLE);
  const [first, second] = graph.nodes.filter((n) => n.data.kind === "leaf");
  [first.y, second.y] = [second.y, first.y];
  const { definition } = C.graphToRule(graph);
  assert.deepEqual(
    definition.conditions.conditions.map((c) => c.field),
    ["referred.subscription_plan", "referrer.is_paid_user"],
  );
});

test("invalid graphs are reported on the nodes at fault", () => {
  const graph = load(EXAMPLE);
  const leaves = graph.nodes.filter((n) => n.data.kind === "leaf");
  const group = graph.nodes.find((n) => n.data.kind === "group");
  group.data = { kind: "group", group: { operator: "NOT" } };
  const loose = { id: "loose", data: { kind: "leaf", cond: { field: "event.a", operator: "exists" } }, x: 0, y: 900 };
  graph.nodes.push(loose);
  const { problems } = C.graphToRule(graph);
  const byNode = Object.fromEntries(problems.map((p) => [p.id, p.message]));
  assert.match(byNode[group.id], /NOT takes exactly one/);
  assert.match(byNode.loose, /Not connected/);
  assert.equal(byNode[leaves[0].id], undefined);

  const noTrigger = { nodes: graph.nodes.filter((n) => n.data.kind !== "trigger"), edges: [] };
  const result = C.graphToRule(noTrigger);
  assert.equal(result.problems[0].id, null);
  assert.match(result.problems[0].message, /needs a trigger/);
});

test("a second condition root under the trigger and an empty leaf are problems", () => {
  const graph = load(EXAMPLE);
  const trigger = graph.nodes.find((n) => n.data.kind === "trigger");
  graph.nodes.push({ id: "x", data: { kind: "leaf", cond: { field: "", operator: "" } }, x: 0, y: 5000 });
  graph.edges.push({ source: trigger.id, target: "x" });
  const messages = C.graphToRule(graph).problems.filter((p) => p.id === "x").map((p) => p.message);
  assert.equal(messages.length, 1);
  assert.match(messages[0], /one condition/);
});

test("server error paths map to the deepest node on the path", () => {
  const { paths } = roundTrip(EXAMPLE);
  const graph = C.ruleToGraph(EXAMPLE);
  const [trigger, group, leaf1, leaf2, action] = graph.nodes.map((n) => n.id);
  assert.equal(C.nodeForPath(paths, "$.conditions.conditions[1].value"), leaf2);
  assert.equal(C.nodeForPath(paths, "$.conditions.conditions[0]"), leaf1);
  assert.equal(C.nodeForPath(paths, "$.conditions.operator"), group);
  assert.equal(C.nodeForPath(paths, "$.actions[0].params.amount"), action);
  assert.equal(C.nodeForPath(paths, "$.trigger"), trigger);
  assert.equal(C.nodeForPath(paths, "$.conditions.conditions[10]"), group);
});

test("layout puts children right of their parent in stored order", () => {
  const graph = load(EXAMPLE);
  const [trigger, group, leaf1, leaf2, action] = graph.nodes;
  assert.ok(group.x > trigger.x && leaf1.x > group.x);
  assert.ok(leaf1.y < leaf2.y && leaf2.y < action.y);
  const ys = graph.nodes.map((n) => `${n.x},${n.y}`);
  assert.equal(new Set(ys).size, ys.length);
});

test("money is shown in major units and stored in minor units, exactly", () => {
  assert.equal(C.minorToMajor(50000, "INR"), "500.00");
  assert.equal(C.minorToMajor(5, "USD"), "0.05");
  assert.equal(C.minorToMajor(500, "JPY"), "500");
  assert.equal(C.majorToMinor("500", "INR"), 50000);
  assert.equal(C.majorToMinor("0.1", "INR"), 10);
  assert.equal(C.majorToMinor("19.99", "USD"), 1999);
  assert.equal(C.majorToMinor("1.005", "USD"), null);
  assert.equal(C.majorToMinor("1.5", "JPY"), null);
  assert.equal(C.majorToMinor("abc", "INR"), null);
});

test("line diff marks removed and added lines", () => {
  const diff = C.lineDiff("a\nb\nc", "a\nc\nd");
  assert.deepEqual(diff.map((d) => d.op + d.line), [" a", "-b", " c", "+d"]);
});

test("trace results colour leaves, derive groups and mark actions", () => {
  const graph = load(EXAMPLE);
  const { paths } = C.graphToRule(graph);
  const ids = graph.nodes.map((n) => n.id);
  const result = C.traceResults(graph, paths, {
    matched: false,
    trace: [{ path: "$.conditions.conditions[0]", actual: false, result: false }],
    actions: [],
  });
  assert.equal(result[ids[2]].result, "false");
  assert.equal(result[ids[2]].actual, false);
  assert.equal(result[ids[3]].result, "none");
  assert.equal(result[ids[1]].result, "false");
  assert.equal(result[ids[0]].result, "false");
  assert.equal(result[ids[4]].result, "none");
  const ok = C.traceResults(graph, paths, {
    matched: true,
    trace: [
      { path: "$.conditions.conditions[0]", actual: true, result: true },
      { path: "$.conditions.conditions[1]", actual: "premium", result: true },
    ],
    actions: [{ index: 0, skipped: null }],
  });
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => ok[ids[i]].result), ["true", "true", "true", "true", "true"]);
});

test("a leaf that short-circuiting skipped (result null) is not evaluated, not false", () => {
  const graph = load(EXAMPLE);
  const { paths } = C.graphToRule(graph);
  const ids = graph.nodes.map((n) => n.id);
  const result = C.traceResults(graph, paths, {
    matched: false,
    trace: [
      { path: "$.conditions.conditions[0]", actual: false, result: false },
      { path: "$.conditions.conditions[1]", actual: null, result: null },
    ],
    actions: [],
  });
  assert.equal(result[ids[2]].result, "false");
  assert.equal(result[ids[3]].result, "none");
  assert.equal(result[ids[3]].actual, null);
  assert.equal(result[ids[1]].result, "false");
});

test("canonical JSON ignores key order only", () => {
  assert.equal(C.canonical({ b: 1, a: [{ d: 1, c: 2 }] }), C.canonical({ a: [{ c: 2, d: 1 }], b: 1 }));
  assert.notEqual(C.canonical({ a: [1, 2] }), C.canonical({ a: [2, 1] }));
});

test("canvas text for values and actions", () => {
  assert.equal(C.describeValue({ field: "a", operator: "equals", value: "premium" }), '"premium"');
  assert.equal(C.describeValue({ field: "a", operator: "between", value: [1, 2] }), "1 and 2");
  assert.equal(C.describeValue({ field: "a", operator: "exists" }), "");
  assert.equal(C.describeValue({ field: "a", operator: "in", value: ["x", 2] }), '["x", 2]');
});

// The server's action catalog (GET rules/catalog's `actions`), handed over by
// test_convert_js.py; run alone, `node --test` skips the tests that need it.
const ACTIONS = process.env.RULE_ACTIONS ? JSON.parse(process.env.RULE_ACTIONS) : null;
const needsActions = { skip: ACTIONS ? false : "RULE_ACTIONS is not set (run by test_convert_js.py)" };

test("canvas text for actions, from the server's action catalog", needsActions, () => {
  assert.deepEqual(C.describeAction(EXAMPLE.actions[0], "INR", ACTIONS), {
    title: "credit reward",
    lines: ["to referrer", "₹ 500.00", "voucher"],
  });
  const commission = { type: "percent_commission", params: { of: "event.amount", rate_bps: 250, cap: 10000, reward_type: "cash" } };
  assert.deepEqual(C.describeAction(commission, "INR", ACTIONS).lines, ["to referrer", "2.5% of event.amount", "cap ₹ 100.00"]);
  const rateless = { type: "percent_commission", params: { beneficiary: "parent", reward_type: "cash" } };
  assert.deepEqual(C.describeAction(rateless, "INR", ACTIONS).lines, ["to parent", "program rate of ?", ""]);
  const credits = { type: "award_credits", params: { operation: "CREDIT_ADD" } };
  assert.deepEqual(C.describeAction(credits, "INR", ACTIONS).lines, ["to referrer", "CREDIT_ADD", ""]);
  assert.deepEqual(C.describeAction({ ...credits, params: { amount: 5 } }, "INR", ACTIONS).lines, ["to referrer", "?", "amount 5"]);
  // An action the catalog does not know shows its params as they are.
  assert.deepEqual(C.describeAction({ type: "mystery", params: { a: 1 } }, "INR", ACTIONS), { title: "mystery", lines: ['{"a":1}'] });
});
